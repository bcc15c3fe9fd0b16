//! The embedded SQLite backend: one file under `./data` by default, WAL mode, full sync,
//! foreign keys on. Created and migrated on open.
//!
//! SQLite lets one connection write at a time, so every change goes to a single writer
//! task that owns the one write connection; reads use a pool of their own. The writer
//! takes every change waiting when it becomes free and commits them together (group
//! commit): each change runs inside its own savepoint, so one that fails is rolled back
//! alone and reported to its caller alone, and the batch costs one `fsync` instead of one
//! per change. Nothing waits on SQLite's busy lock inside the server.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

mod grants;

use super::map_err;
use super::sqlite_inline::InlineReads;
use crate::metrics::Tally;
use crate::ports::{Change, Part, StoreError};

/// The most changes one group commit takes; the rest wait for the next one.
const MAX_BATCH: usize = 128;

pub struct SqliteStore {
    /// Connections for reads (and the only connection of an in-memory database).
    pool: SqlitePool,
    writer: mpsc::Sender<Job>,
    /// The most changes one group commit has taken so far.
    largest_batch: Arc<AtomicUsize>,
    /// The hot reads, inline (a file only: an in-memory database is one connection's).
    inline: Option<InlineReads>,
}

/// What the writer is handed.
enum Job {
    Write(WriteJob),
    /// A change handed over in parts (`Store::commit_parts`): a transaction of its own.
    Parts {
        parts: mpsc::Receiver<Part>,
        done: oneshot::Sender<(Result<(), StoreError>, Tally)>,
    },
}

/// A change waiting for the writer, and where its outcome goes.
struct WriteJob {
    changes: Vec<Change>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl SqliteStore {
    /// An embedded database has no clock of its own: the one machine that opens it
    /// keeps the time.
    async fn server_clock(&self) -> Result<Option<crate::domain::Timestamp>, StoreError> {
        Ok(None)
    }

    /// Opens the database at `path` (`:memory:` for a private in-memory one).
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        Self::open_with(path, |o| o).await
    }

    /// Like [`open`](Self::open), with extra connection options (for tests: limits).
    ///
    /// Starts the writer task on the current tokio runtime; it ends when the store is dropped.
    pub async fn open_with(
        path: &str,
        tune: impl FnOnce(SqliteConnectOptions) -> SqliteConnectOptions,
    ) -> Result<Self, StoreError> {
        let in_memory = path == ":memory:";
        if !in_memory {
            if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let opts = tune(opts);
        // An in-memory database exists per connection, so readers and the writer share
        // exactly one; a file gets one write connection, kept open, and a read pool.
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.clone())
            .await
            .map_err(map_err)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&write_pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        seal_chains(&write_pool).await?;
        let pool = if in_memory {
            write_pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(0)
                .idle_timeout(Some(Duration::from_secs(600)))
                .max_lifetime(Some(Duration::from_secs(3600)))
                .connect_with(opts)
                .await
                .map_err(map_err)?
        };
        let inline = if in_memory { None } else { Some(InlineReads::open(Path::new(path))?) };
        let grants = if in_memory { None } else { Some(grants::GrantWriter::open(Path::new(path))?) };
        let (writer, jobs) = mpsc::channel(4 * MAX_BATCH);
        let largest_batch = Arc::new(AtomicUsize::new(0));
        spawn_writer(Writer { pool: write_pool, grants }, jobs, largest_batch.clone())?;
        Ok(Self { pool, writer, largest_batch, inline })
    }

    /// The inline reads of `sqlite_inline.rs`, used by the shared queries when present.
    fn inline(&self) -> Option<&InlineReads> {
        self.inline.as_ref()
    }

    /// Hands one change to the writer and waits for its outcome.
    async fn write(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable("the store's writer has stopped".into());
        let (done, outcome) = oneshot::channel();
        self.writer.send(Job::Write(WriteJob { changes, done })).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Hands a change in parts to the writer and waits for its outcome.
    async fn write_parts(&self, parts: mpsc::Receiver<Part>) -> (Result<(), StoreError>, Tally) {
        let stopped = || (Err(StoreError::Unavailable("the store's writer has stopped".into())), Tally::default());
        let (done, outcome) = oneshot::channel();
        if self.writer.send(Job::Parts { parts, done }).await.is_err() {
            return stopped();
        }
        outcome.await.unwrap_or_else(|_| stopped())
    }

    /// The most changes one group commit has taken since the store was opened.
    pub fn largest_batch(&self) -> usize {
        self.largest_batch.load(Ordering::Relaxed)
    }
}

/// The writer task: one group commit per wake-up, until every sender is gone.
/// Runs the writer on a thread of its own with its own single-threaded runtime. Each
/// statement of a batch is answered by sqlx's connection thread, and the writer must
/// take the answer at once to send the next: on the server's runtime it waited behind
/// every request queued there, and under load the whole store waited with it.
fn spawn_writer(writer: Writer, jobs: mpsc::Receiver<Job>, largest: Arc<AtomicUsize>) -> Result<(), StoreError> {
    let cannot = |e: std::io::Error| StoreError::Unavailable(format!("cannot start the store's writer: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(cannot)?;
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || runtime.block_on(run_writer(writer, jobs, largest)))
        .map_err(cannot)?;
    Ok(())
}

/// The writer's connections: sqlx's, and (for a database in a file) the token grants' own.
struct Writer {
    pool: SqlitePool,
    grants: Option<grants::GrantWriter>,
}

async fn run_writer(mut writer: Writer, mut jobs: mpsc::Receiver<Job>, largest: Arc<AtomicUsize>) {
    let mut taken = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut taken, MAX_BATCH).await > 0 {
        // The writes before a change in parts commit together, then it alone, in the
        // order they were handed over.
        let mut batch = Vec::with_capacity(taken.len());
        for job in taken.drain(..) {
            match job {
                Job::Write(w) => batch.push(w),
                Job::Parts { parts, done } => {
                    if !batch.is_empty() {
                        largest.fetch_max(batch.len(), Ordering::Relaxed);
                        write_batch(&mut writer, std::mem::take(&mut batch)).await;
                    }
                    let _ = done.send(write_in_parts(&writer.pool, parts).await);
                }
            }
        }
        if !batch.is_empty() {
            largest.fetch_max(batch.len(), Ordering::Relaxed);
            write_batch(&mut writer, batch).await;
        }
    }
    writer.pool.close().await;
}

/// One transaction over every part of a change, committed at its end and rolled back
/// on any failure.
async fn write_in_parts(pool: &SqlitePool, mut parts: mpsc::Receiver<Part>) -> (Result<(), StoreError>, Tally) {
    let mut tally = Tally::default();
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return (Err(map_err(e)), tally),
    };
    if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE").await {
        return (Err(e), tally);
    }
    let outcome = match apply_parts(&mut conn, &mut parts, &mut tally).await {
        Ok(()) => exec(&mut conn, "COMMIT").await.inspect_err(|e| {
            tracing::error!(error = %e, "the store could not commit a change in parts");
        }),
        Err(e) => Err(e),
    };
    if outcome.is_err() {
        let _ = exec(&mut conn, "ROLLBACK").await;
    }
    (outcome, tally)
}

/// Commits `batch` as one transaction and answers every job: first all at once, the
/// chained logs' entries of every job appended together at the end (a few statements
/// for the whole batch instead of three per entry); if any change of it fails, that is
/// rolled back and the batch is written again job by job ([`write_jobs`]). A batch that
/// erases an account goes job by job from the start, so that an entry appended before
/// the erasure is rewritten by it.
async fn write_batch(writer: &mut Writer, batch: Vec<WriteJob>) {
    let pool = &writer.pool;
    if let Some(grants) = writer.grants.as_mut().filter(|_| batch.iter().all(|j| is_token_grant(&j.changes))) {
        let all = grants_in_stages(batch.iter().flat_map(|j| j.changes.iter().cloned()).collect());
        match grants.write(all) {
            Ok(()) => {
                for job in batch {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(_) => write_jobs(pool, batch).await,
        }
        return;
    }
    if batch.len() == 1 || batch.iter().any(|j| j.changes.iter().any(erases)) {
        return write_jobs(pool, batch).await;
    }
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(batch, &map_err(e)),
    };
    if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE").await {
        return fail_all(batch, &e);
    }
    match apply_together(&mut conn, &batch).await {
        Ok(()) => {
            let ended = exec(&mut conn, "COMMIT").await;
            if let Err(e) = &ended {
                let _ = exec(&mut conn, "ROLLBACK").await;
                tracing::error!(error = %e, changes = batch.len(), "the store could not commit");
            }
            for job in batch {
                let _ = job.done.send(ended.as_ref().map(|_| ()).map_err(same_error));
            }
        }
        Err(_) => {
            let _ = exec(&mut conn, "ROLLBACK").await;
            drop(conn);
            write_jobs(pool, batch).await;
        }
    }
}

/// Every job's changes in job order as one run, so that like changes of different jobs
/// share a multi-row statement (`sql_bulk.rs`: a chunk never holds one key twice, so the
/// outcome is that of applying them one by one) and the chained logs' entries of every
/// job are appended together at the end (`chain_last`); the first failure ends it (the
/// caller rolls back).
async fn apply_together(conn: &mut SqliteConnection, batch: &[WriteJob]) -> Result<(), StoreError> {
    let all: Vec<Change> = batch.iter().flat_map(|j| j.changes.iter().cloned()).collect();
    let all = if batch.iter().all(|j| is_token_grant(&j.changes)) { grants_in_stages(all) } else { all };
    apply_all(conn, all).await
}

/// The stage of a change in a batch of token grants: codes used and refresh tokens
/// rotated (0), then the new tokens inserted (1), then the audit entries (2).
fn grant_stage(c: &Change) -> Option<u8> {
    use crate::ports::oidc::OidcChange;
    match c {
        Change::Oidc(OidcChange::UseCode { .. } | OidcChange::RotateRefresh { .. }) => Some(0),
        Change::Oidc(OidcChange::InsertToken(_)) => Some(1),
        Change::InsertAudit(_) => Some(2),
        _ => None,
    }
}

/// A job of the token endpoint: only stage changes, in stage order.
fn is_token_grant(changes: &[Change]) -> bool {
    changes.iter().all(|c| grant_stage(c).is_some()) && changes.is_sorted_by_key(grant_stage)
}

/// A batch made only of token grants ([`is_token_grant`]), reordered stage by stage, each
/// stage in job order, so that the batch's uses are one multi-row update and its new
/// tokens one multi-row insert. The outcome is that of the jobs one after another: each
/// job's own changes keep their order, and a change moved before another job's touches
/// other rows (a code or refresh token is used by its hash; new tokens are random and
/// unknown to every other job). Any other change in the batch, a revocation or an
/// account's end above all, keeps the batch in job order.
fn grants_in_stages(mut all: Vec<Change>) -> Vec<Change> {
    all.sort_by_key(grant_stage);
    all
}

fn erases(c: &Change) -> bool {
    matches!(c, Change::Lifecycle(crate::ports::lifecycle::LifecycleChange::EraseAccount { .. }))
}

/// Commits `batch` as one transaction, each change in its own savepoint, and answers
/// every job. A change that fails is rolled back to its savepoint and reported to its own
/// caller; the others still commit. When the transaction itself fails (the disk is full,
/// an I/O error made SQLite roll it back), every change of the batch is reported failed.
async fn write_jobs(pool: &SqlitePool, batch: Vec<WriteJob>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(batch, &map_err(e)),
    };
    if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE").await {
        return fail_all(batch, &e);
    }
    let alone = batch.len() == 1;
    let mut answered = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        let outcome = if alone {
            apply_all(&mut conn, job.changes).await
        } else {
            match in_savepoint(&mut conn, job.changes).await {
                Ok(outcome) => outcome,
                Err(broken) => {
                    // The transaction is gone: nothing of this batch was written.
                    let _ = exec(&mut conn, "ROLLBACK").await;
                    let rest = answered.into_iter().map(|(done, _)| done).chain(std::iter::once(job.done));
                    for done in rest.chain(jobs.map(|j| j.done)) {
                        let _ = done.send(Err(same_error(&broken)));
                    }
                    return;
                }
            }
        };
        answered.push((job.done, outcome));
    }
    let anything = answered.iter().any(|(_, outcome)| outcome.is_ok());
    let ended = if anything { exec(&mut conn, "COMMIT").await } else { exec(&mut conn, "ROLLBACK").await };
    if let (Err(e), true) = (&ended, anything) {
        let _ = exec(&mut conn, "ROLLBACK").await;
        tracing::error!(error = %e, changes = answered.len(), "the store could not commit");
    }
    for (done, outcome) in answered {
        let outcome = match (&ended, outcome) {
            (Err(e), Ok(())) if anything => Err(same_error(e)),
            (_, outcome) => outcome,
        };
        let _ = done.send(outcome);
    }
}

/// Applies one job's changes inside a savepoint. The outer error means the transaction
/// could not be kept; the inner one is the job's own failure, already rolled back.
async fn in_savepoint(conn: &mut SqliteConnection, changes: Vec<Change>) -> Result<Result<(), StoreError>, StoreError> {
    exec(conn, "SAVEPOINT change").await?;
    let outcome = apply_all(conn, changes).await;
    if outcome.is_err() {
        exec(conn, "ROLLBACK TO change").await?;
    }
    exec(conn, "RELEASE change").await?;
    Ok(outcome)
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), StoreError> {
    sqlx::query(sql).execute(conn).await.map(drop).map_err(map_err)
}

fn fail_all(batch: Vec<WriteJob>, e: &StoreError) {
    for job in batch {
        let _ = job.done.send(Err(same_error(e)));
    }
}

/// A copy of `e` for another caller of the same failed batch.
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound(what) => StoreError::NotFound(what),
        StoreError::Conflict(what) => StoreError::Conflict(what),
        StoreError::Unavailable(msg) => StoreError::Unavailable(msg.clone()),
        StoreError::Corrupt(msg) => StoreError::Corrupt(msg.clone()),
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_oidc_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_protection_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_access_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_lifecycle_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_directory_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_chain_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_console_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_rules_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_second_factor_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_metrics_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Account, AccountStatus, Role, Roles};
    use crate::domain::ids::{AccountId, Login};
    use crate::domain::journal::AuditEvent;
    use crate::domain::time::Timestamp;
    use crate::ports::{AccessStore as _, AccountFilter, Change, Store as _};

    fn account(login: &str, t: Timestamp) -> Account {
        Account {
            id: AccountId::generate(t.as_millis(), &mut rand::rngs::OsRng),
            login: Login::parse(login).expect("login"),
            full_name: "Иванов Иван".into(),
            email: None,
            roles: Roles::new([Role::Student]),
            study_group: None,
            department: None,
            external_id: None,
            status: AccountStatus::Active,
            password_must_change: false,
            password_expires_at: None,
            created_at: t,
            updated_at: t,
        }
    }

    /// Changes sent together share one transaction, yet each succeeds or fails alone:
    /// a failing change is rolled back to its savepoint, with nothing of it written.
    #[tokio::test]
    async fn one_group_commit_keeps_each_change_whole_and_separate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("group.db");
        let store = std::sync::Arc::new(SqliteStore::open(path.to_str().expect("utf-8")).await.expect("open"));
        let t = Timestamp::from_millis(1_800_000_000_000);
        // A write transaction from outside holds the database, and a first commit alone
        // keeps the writer waiting for it while the 30 below are queued: the writer then
        // takes them as one batch. Every third one reuses a login and must fail after its
        // audit entry was already applied inside the batch.
        let outside = rusqlite::Connection::open(&path).expect("outside connection");
        outside.execute_batch("BEGIN IMMEDIATE").expect("hold the write lock");
        let first = {
            let store = store.clone();
            let hold = AuditEvent {
                at: t,
                actor: "test".into(),
                action: "test.hold",
                subject: None,
                ip: None,
                outcome: "success",
                detail: String::new(),
            };
            tokio::spawn(async move { store.commit(vec![Change::InsertAudit(hold)]).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let commits = (0..30).map(|i| {
            let login = if i % 3 == 2 { format!("user{:02}", i - 1) } else { format!("user{i:02}") };
            let audit = AuditEvent {
                at: t,
                actor: "test".into(),
                action: "account.create",
                subject: Some(format!("attempt{i:02}")),
                ip: None,
                outcome: "success",
                detail: String::new(),
            };
            let changes = vec![
                Change::InsertAudit(audit),
                Change::InsertAccount { account: account(&login, t), password_hash: "h".into() },
            ];
            let store = store.clone();
            tokio::spawn(async move { store.commit(changes).await })
        });
        let tasks = commits.collect::<Vec<_>>();
        tokio::time::sleep(Duration::from_millis(300)).await;
        outside.execute_batch("ROLLBACK").expect("release the write lock");
        first.await.expect("first task").expect("first commit");
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("commit task"));
        }
        assert_eq!(store.largest_batch(), 30, "the commits were grouped");
        for (i, outcome) in outcomes.iter().enumerate() {
            if i % 3 == 2 {
                assert!(matches!(outcome, Err(StoreError::Conflict(_))), "{i}: {outcome:?}");
            } else {
                assert!(outcome.is_ok(), "{i}: {outcome:?}");
            }
        }
        let all = AccountFilter { limit: 100, ..AccountFilter::default() };
        assert_eq!(store.list_accounts(&all).await.expect("list").len(), 20);
        let audit = store.list_audit("account.create", 100).await.expect("audit");
        let subjects: Vec<String> = audit.into_iter().filter_map(|e| e.subject).collect();
        assert_eq!(subjects.len(), 20, "the failed changes left no audit entry: {subjects:?}");
        assert!(subjects.iter().all(|s| s.trim_start_matches("attempt").parse::<u32>().expect("n") % 3 != 2));

        // What was committed is on disk: a new store on the same file reads it back.
        drop(store);
        tokio::task::yield_now().await;
        let reopened = SqliteStore::open(path.to_str().expect("utf-8")).await.expect("reopen");
        assert_eq!(reopened.list_accounts(&all).await.expect("list").len(), 20);
    }

    #[tokio::test]
    async fn a_full_store_refuses_the_whole_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("full.db");
        let store = SqliteStore::open_with(path.to_str().expect("utf-8"), |o| o.pragma("max_page_count", "128"))
            .await
            .expect("open");
        let t = Timestamp::from_millis(1_800_000_000_000);
        let mut inserted = 0;
        let err = loop {
            let login = format!("user{inserted:05}");
            let account = Account {
                id: AccountId::generate(t.as_millis(), &mut rand::rngs::OsRng),
                login: Login::parse(&login).expect("login"),
                full_name: "Ы".repeat(1_000),
                email: None,
                roles: Roles::new([Role::Student]),
                study_group: None,
                department: None,
                external_id: None,
                status: AccountStatus::Active,
                password_must_change: false,
                password_expires_at: None,
                created_at: t,
                updated_at: t,
            };
            let audit = AuditEvent {
                at: t,
                actor: "test".into(),
                action: "account.create",
                subject: Some(login),
                ip: None,
                outcome: "success",
                detail: "x".repeat(2_000),
            };
            match store
                .commit(vec![Change::InsertAudit(audit), Change::InsertAccount { account, password_hash: "h".into() }])
                .await
            {
                Ok(()) => inserted += 1,
                Err(e) => break e,
            }
            assert!(inserted < 1_000, "the page limit was not enforced");
        };
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        let all = AccountFilter { limit: 10_000, ..AccountFilter::default() };
        assert_eq!(store.list_accounts(&all).await.expect("list").len(), inserted, "no half-written change");
        store.ping().await.expect("still answers reads");
    }
}
