//! The tamper-evident journals (R-22, D-10) on SQLite and PostgreSQL: entries appended
//! through the use cases form one chain that checks; an entry changed, removed, moved or
//! slipped in directly in the database is found with its `seq` and the kind of break; the
//! deprovisioning erasure leaves the chain checking; two nodes appending at once make one
//! line; the retention prune leaves an anchor; and the `propusk audit` commands.

#[path = "common/lifecycle_kit.rs"]
mod kit;
#[path = "common/store_db.rs"]
#[macro_use]
mod store_db;
mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use kit::{Services, TestClock};
use propusk::app::{Actor, App, ChainReport};
use propusk::domain::Timestamp;
use propusk::domain::account::{NewAccount, Role, Roles};
use propusk::domain::chain::{BreakKind, ChainLog};
use propusk::domain::ids::Login;
use propusk::domain::journal::{AuditEvent, Channel};
use propusk::domain::lifecycle::Departure;
use propusk::ports::audit::AuditQuery;
use propusk::ports::lifecycle::{ErasureRecord, LifecycleChange};
use propusk::ports::{Change, Clock as _, Store};
use sqlx::Connection as _;
use store_db::Db;

const T0: i64 = 1_800_000_000_000;

/// A connection under the store, for what an intruder with database access would do.
enum Raw {
    Lite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl Raw {
    async fn connect(url: &str) -> Raw {
        if url.starts_with("postgres") {
            Raw::Pg(sqlx::PgConnection::connect(url).await.expect("pg"))
        } else {
            Raw::Lite(sqlx::SqliteConnection::connect(url).await.expect("sqlite"))
        }
    }

    async fn exec(&mut self, sql: &str) {
        let done = match self {
            Raw::Lite(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
            Raw::Pg(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
        };
        let n = done.unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(n > 0 || sql.starts_with("CREATE") || sql.starts_with("DROP"), "{sql} changed nothing");
    }

    async fn ints(&mut self, sql: &str) -> Vec<i64> {
        match self {
            Raw::Lite(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            Raw::Pg(c) => sqlx::query_scalar(sql).fetch_all(c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn text(&mut self, sql: &str) -> String {
        match self {
            Raw::Lite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Raw::Pg(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Gives rows `a` and `b` each other's content (everything but `seq`).
    async fn swap(&mut self, a: i64, b: i64) {
        let cols = "at, actor, action, subject, ip, outcome, detail, chain_index, chain_hash, actor_salt, \
                    actor_digest, subject_salt, subject_digest";
        self.exec(&format!("CREATE TEMP TABLE swap_rows AS SELECT * FROM audit_log WHERE seq IN ({a}, {b})")).await;
        self.exec(&format!("UPDATE audit_log SET chain_index = -chain_index WHERE seq IN ({a}, {b})")).await;
        for (to, from) in [(a, b), (b, a)] {
            self.exec(&format!(
                "UPDATE audit_log SET ({cols}) = (SELECT {cols} FROM swap_rows WHERE seq = {from}) WHERE seq = {to}"
            ))
            .await;
        }
        self.exec("DROP TABLE swap_rows").await;
    }
}

struct Kit {
    app: App,
    clock: Arc<TestClock>,
    _services: Services,
    policies: tempfile::TempDir,
}

async fn kit(store: Arc<dyn Store>) -> Kit {
    let services = Services::start().await;
    let policies = kit::policies(&services, false);
    let clock = Arc::new(TestClock(AtomicI64::new(T0)));
    let app = kit::app(store, clock.clone(), policies.path(), "node-a").await;
    Kit { app, clock, _services: services, policies }
}

fn admin() -> Actor {
    Actor { name: "os:registrar".into(), ip: Some("10.0.0.5".into()) }
}

async fn add(app: &App, login: &str) {
    let new = NewAccount {
        login: login.into(),
        full_name: "Сидоров Семён Семёнович".into(),
        email: None,
        roles: vec![Role::Student],
        study_group: Some("ИС-21".into()),
        department: None,
        external_id: None,
    };
    app.add_user(&admin(), new, Channel::InPerson).await.expect("add user");
}

async fn verify(app: &App, log: ChainLog) -> ChainReport {
    app.verify_chain(log).await.expect("verify")
}

/// The first break as (seq, kind), and the entries found intact before it.
async fn broken(app: &App, log: ChainLog) -> (i64, BreakKind, u64) {
    let r = verify(app, log).await;
    let b = r.first_break.clone().unwrap_or_else(|| panic!("the {log:?} chain was not found broken: {r:?}"));
    assert!(!r.intact);
    (b.seq, b.kind, r.entries_checked)
}

async fn assert_intact(app: &App, entries: u64) {
    let r = verify(app, ChainLog::Audit).await;
    assert!(r.intact, "{r:?}");
    assert_eq!(r.entries_checked, entries, "{r:?}");
}

async fn tampering_is_found_where_it_happens(db: &Db) {
    let k = kit(db.store.clone()).await;
    for n in 0..3 {
        add(&k.app, &format!("user{n}")).await;
    }
    k.app.suspend(&admin(), "user0", "приказ 12-к").await.expect("suspend");
    k.app.suspend(&admin(), "user1", "приказ 13-к").await.expect("suspend");
    k.app.activate(&admin(), "user0", "восстановлен").await.expect("activate");
    let reports = k.app.verify_journals().await.expect("verify");
    assert!(reports.iter().all(|r| r.intact), "{reports:?}");
    assert_eq!(reports.iter().map(|r| r.entries_checked).collect::<Vec<_>>(), [6, 3]);

    let mut raw = Raw::connect(&db.url()).await;
    let seqs = raw.ints("SELECT seq FROM audit_log ORDER BY chain_index").await;
    assert_eq!(seqs.len(), 6);

    // A detail edited.
    raw.exec(&format!("UPDATE audit_log SET detail = detail || ' (amended)' WHERE seq = {}", seqs[3])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (seqs[3], BreakKind::Changed, 3));
    raw.exec(&format!("UPDATE audit_log SET detail = REPLACE(detail, ' (amended)', '') WHERE seq = {}", seqs[3])).await;
    assert_intact(&k.app, 6).await;

    // Another actor named.
    raw.exec(&format!("UPDATE audit_log SET actor = 'os:intruder' WHERE seq = {}", seqs[4])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (seqs[4], BreakKind::Changed, 4));
    raw.exec(&format!("UPDATE audit_log SET actor = 'os:registrar' WHERE seq = {}", seqs[4])).await;
    assert_intact(&k.app, 6).await;

    // Two neighbours swap their content: the later entry now stands first.
    raw.swap(seqs[1], seqs[2]).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (seqs[1], BreakKind::Reordered, 2));
    raw.swap(seqs[1], seqs[2]).await;
    assert_intact(&k.app, 6).await;

    // A journal line's login edited.
    let jseqs = raw.ints("SELECT seq FROM credential_journal ORDER BY chain_index").await;
    let login = raw.text(&format!("SELECT subject_login FROM credential_journal WHERE seq = {}", jseqs[1])).await;
    raw.exec(&format!("UPDATE credential_journal SET subject_login = 'petrov.pp' WHERE seq = {}", jseqs[1])).await;
    assert_eq!(broken(&k.app, ChainLog::Journal).await, (jseqs[1], BreakKind::Changed, 1));
    raw.exec(&format!("UPDATE credential_journal SET subject_login = '{login}' WHERE seq = {}", jseqs[1])).await;
    // The mark of receipt is outside the chain (it is audited on its own).
    raw.exec(&format!("UPDATE credential_journal SET received_at = {T0} WHERE seq = {}", jseqs[1])).await;
    assert!(verify(&k.app, ChainLog::Journal).await.intact);

    // An entry slipped in without a link.
    raw.exec(&format!(
        "INSERT INTO audit_log (at, actor, action, outcome, detail) VALUES ({T0}, 'admin', 'account.create', \
         'success', 'forged')"
    ))
    .await;
    let forged = raw.ints("SELECT seq FROM audit_log WHERE chain_index IS NULL").await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (forged[0], BreakKind::Unchained, 6));
    raw.exec("DELETE FROM audit_log WHERE chain_index IS NULL").await;
    assert_intact(&k.app, 6).await;

    // An entry removed: the break shows at the next one.
    raw.exec(&format!("DELETE FROM audit_log WHERE seq = {}", seqs[4])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (seqs[5], BreakKind::Missing, 4));
    // The last one removed as well: the head still names it.
    raw.exec(&format!("DELETE FROM audit_log WHERE seq = {}", seqs[5])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (seqs[3], BreakKind::Missing, 4));
    drop(k);
}

async fn an_erasure_keeps_the_chain_checking(db: &Db) {
    let k = kit(db.store.clone()).await;
    add(&k.app, "sidorov.ss").await;
    add(&k.app, "user1").await;
    k.app.suspend(&admin(), "sidorov.ss", "заявление sidorov.ss от 01.12").await.expect("suspend");
    // The person acting, on themselves and on someone else.
    let own = AuditEvent {
        at: k.clock.now(),
        actor: "sidorov.ss".into(),
        action: "password.change",
        subject: Some("sidorov.ss".into()),
        ip: Some("10.1.1.1".into()),
        outcome: "success",
        detail: "sidorov.ss changed the password (sidorov.ss)".into(),
    };
    let other = AuditEvent { subject: Some("user1".into()), detail: "looked at the profile".into(), ..own.clone() };
    db.store.commit(vec![Change::InsertAudit(own), Change::InsertAudit(other)]).await.expect("audit");
    assert_intact(&k.app, 5).await;

    let account = db.store.find_account_secret(&Login::parse("sidorov.ss").expect("login")).await.expect("read");
    let account = account.expect("account").account;
    let pseudonym = "erased-00112233aabbccdd".to_owned();
    let now = k.clock.now();
    k.clock.advance(Duration::from_secs(60));
    let erased_at = k.clock.now();
    db.store
        .commit(vec![
            Change::Lifecycle(LifecycleChange::EraseAccount {
                id: account.id.clone(),
                login: account.login.clone(),
                pseudonym: pseudonym.clone(),
                external_id_hash: None,
                at: erased_at,
            }),
            Change::Lifecycle(LifecycleChange::InsertErasure(ErasureRecord {
                pseudonym: pseudonym.clone(),
                categories: "login, name".into(),
                reason: Departure::Graduated,
                order: None,
                case_id: "case-1".into(),
                erased_at,
                erased_by: "scheduler@node-a".into(),
                keep_until: erased_at.saturating_add(Duration::from_secs(3 * 365 * 86_400)),
            })),
            Change::InsertAudit(AuditEvent {
                at: erased_at,
                actor: "system".into(),
                action: "lifecycle.erase",
                subject: Some(pseudonym.clone()),
                ip: None,
                outcome: "success",
                detail: format!("personal data erased; pseudonym {pseudonym}"),
            }),
        ])
        .await
        .expect("erase");
    assert!(now < erased_at);

    let mut raw = Raw::connect(&db.url()).await;
    let left = raw
        .ints(
            "SELECT seq FROM audit_log WHERE actor LIKE '%sidorov%' OR subject LIKE '%sidorov%' \
             OR detail LIKE '%sidorov%'",
        )
        .await;
    assert!(left.is_empty(), "the login is still in entries {left:?}");
    let reports = k.app.verify_journals().await.expect("verify");
    assert!(reports.iter().all(|r| r.intact), "the erasure broke a chain: {reports:?}");
    assert_eq!(reports.iter().map(|r| r.entries_checked).collect::<Vec<_>>(), [6, 2]);
    let login = raw
        .text(&format!("SELECT subject_login FROM credential_journal WHERE subject_id = '{}'", account.id.as_str()))
        .await;
    assert_eq!(login, pseudonym);

    // Whatever the erasure did not rewrite is still covered, in the erased entries too.
    let seqs = raw.ints(&format!("SELECT seq FROM audit_log WHERE subject = '{pseudonym}' ORDER BY seq")).await;
    raw.exec(&format!("UPDATE audit_log SET outcome = 'failure' WHERE seq = {}", seqs[1])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await.0, seqs[1]);
    raw.exec(&format!("UPDATE audit_log SET outcome = 'success' WHERE seq = {}", seqs[1])).await;
    let detail = raw.text(&format!("SELECT detail FROM audit_log WHERE seq = {}", seqs[1])).await;
    assert!(detail.contains(&pseudonym), "{detail}");
    raw.exec(&format!("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = {}", seqs[1])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await.0, seqs[1]);
    raw.exec(&format!("UPDATE audit_log SET detail = '{detail}' WHERE seq = {}", seqs[1])).await;
    assert_intact(&k.app, 6).await;
    // The other person's entry, whose actor was rewritten, still covers its subject.
    let other = raw.ints("SELECT seq FROM audit_log WHERE subject = 'user1' AND action = 'password.change'").await;
    raw.exec(&format!("UPDATE audit_log SET subject = 'user0' WHERE seq = {}", other[0])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (other[0], BreakKind::Changed, 4));
    // A pseudonym of no erasure record does not excuse a rewritten field.
    let jseq = raw.ints("SELECT seq FROM credential_journal ORDER BY seq").await;
    raw.exec(&format!(
        "UPDATE credential_journal SET subject_login = 'erased-ffffffffffffffff', login_salt = NULL WHERE seq = {}",
        jseq[1]
    ))
    .await;
    assert_eq!(broken(&k.app, ChainLog::Journal).await, (jseq[1], BreakKind::Changed, 1));
    drop(k);
}

/// 2 × 200 audited changes (every fifth also a journal line) from parallel tasks on two
/// nodes over one database make one chain.
async fn two_nodes_appending_at_once_make_one_line(db: &Db) {
    let k = kit(db.store.clone()).await;
    let second = kit::app(db.reopen().await, k.clock.clone(), k.policies.path(), "node-b").await;
    for n in 0..4 {
        add(&k.app, &format!("user{n}")).await;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (node, app) in [&k.app, &second].into_iter().enumerate() {
        for worker in 0..8 {
            let app = app.clone();
            tasks.spawn(async move {
                for i in 0..25 {
                    let login = format!("user{}", (worker + i) % 4);
                    if i % 5 == 0 {
                        app.reset_password(&admin(), &login, Channel::Slip).await.map(drop)?;
                    } else {
                        let role = if (node + i) % 2 == 0 { Role::Teacher } else { Role::Student };
                        app.set_roles(&admin(), &login, Roles::new([role])).await.map(drop)?;
                    }
                }
                Ok::<(), propusk::app::AppError>(())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("audited change");
    }
    let reports = k.app.verify_journals().await.expect("verify");
    assert!(reports.iter().all(|r| r.intact), "{reports:?}");
    // 4 accounts created, then 400 changes; 80 of them reissued a password.
    assert_eq!(reports.iter().map(|r| r.entries_checked).collect::<Vec<_>>(), [404, 84]);
    assert_eq!(reports[0].head.last_index, 404);
    let also = second.verify_journals().await.expect("verify on the other node");
    assert_eq!(also, reports);
    drop(k);
}

async fn the_retention_prune_leaves_an_anchor(db: &Db) {
    let k = kit(db.store.clone()).await;
    add(&k.app, "user0").await;
    add(&k.app, "user1").await;
    k.app.suspend(&admin(), "user0", "приказ 1").await.expect("suspend");
    k.clock.advance(Duration::from_secs(400 * 86_400));
    k.app.activate(&admin(), "user0", "приказ 2").await.expect("activate");
    k.app.set_roles(&admin(), "user1", Roles::new([Role::Teacher])).await.expect("roles");
    let mut raw = Raw::connect(&db.url()).await;
    let seqs = raw.ints("SELECT seq FROM audit_log ORDER BY chain_index").await;

    let year = Duration::from_secs(365 * 86_400);
    let r = k.app.prune_audit(&Actor::system(), year).await.expect("prune");
    assert_eq!((r.removed, r.through_seq), (3, Some(seqs[2])));
    // What is left (two entries and the prune's own) checks from the anchor.
    let v = verify(&k.app, ChainLog::Audit).await;
    assert!(v.intact, "{v:?}");
    assert_eq!((v.entries_checked, v.head.anchor.seq, v.head.anchor.index), (3, seqs[2], 3));
    let q = AuditQuery { action: Some("audit.prune".into()), limit: 10, ..AuditQuery::default() };
    let pruned = k.app.list_audit_entries(&q).await.expect("list").entries;
    assert_eq!(pruned.len(), 1);
    assert!(pruned[0].detail.contains(&format!("through seq {}", seqs[2])), "{}", pruned[0].detail);
    // Nothing more is due; the journal is kept whole.
    assert_eq!(k.app.prune_audit(&Actor::system(), year).await.expect("prune").removed, 0);
    let j = verify(&k.app, ChainLog::Journal).await;
    assert!(j.intact && j.entries_checked == 2, "{j:?}");
    // The anchor is no excuse for a missing first entry.
    raw.exec(&format!("DELETE FROM audit_log WHERE seq = {}", seqs[3])).await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await, (seqs[4], BreakKind::Missing, 0));
    drop(k);
}

/// Listing with filters and pages, as the console reads it.
async fn the_console_reads_a_period_with_filters_and_pages(db: &Db) {
    let k = kit(db.store.clone()).await;
    for n in 0..5 {
        add(&k.app, &format!("user{n}")).await;
        k.clock.advance(Duration::from_secs(3600));
    }
    k.app.suspend(&admin(), "user3", "приказ").await.expect("suspend");
    let base = AuditQuery { action: Some("account.".into()), limit: 2, ..AuditQuery::default() };
    let mut seen = Vec::new();
    let mut q = base.clone();
    loop {
        let page = k.app.list_audit_entries(&q).await.expect("page");
        seen.extend(page.entries.iter().map(|e| e.subject.clone().unwrap_or_default()));
        match page.next {
            Some(next) => q.after_seq = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["user0", "user1", "user2", "user3", "user4", "user3"]);
    let newest = AuditQuery { newest_first: true, limit: 1, ..base.clone() };
    let page = k.app.list_audit_entries(&newest).await.expect("newest");
    assert_eq!(page.entries[0].action, "account.suspend");
    let period = AuditQuery {
        from: Some(Timestamp::from_millis(T0 + 3_600_000)),
        to: Some(Timestamp::from_millis(T0 + 3 * 3_600_000)),
        subject: Some("user2".into()),
        outcome: Some("success".into()),
        actor: Some("os:registrar".into()),
        limit: 50,
        ..AuditQuery::default()
    };
    let page = k.app.list_audit_entries(&period).await.expect("period");
    assert_eq!(page.entries.len(), 1);
    assert_eq!((page.entries[0].ip.as_deref(), page.next), (Some("10.0.0.5"), None));
    let journal =
        propusk::ports::audit::JournalQuery { subject_login: Some("user4".into()), limit: 10, ..Default::default() };
    let lines = k.app.list_journal_entries(&journal).await.expect("journal").entries;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].issued_by, "os:registrar");
    drop(k);
}

/// Entries written before migration 0010 (no link) are chained, in `seq` order, when a
/// store opens the database.
async fn entries_older_than_the_chain_are_sealed_when_the_store_opens(db: &Db) {
    let k = kit(db.store.clone()).await;
    add(&k.app, "user0").await;
    let mut raw = Raw::connect(&db.url()).await;
    let id = raw.text("SELECT subject_id FROM credential_journal").await;
    for n in 0..3 {
        raw.exec(&format!(
            "INSERT INTO audit_log (at, actor, action, subject, ip, outcome, detail) \
             VALUES ({T0}, 'admin', 'account.suspend', 'user0', NULL, 'success', 'old entry {n} of user0')"
        ))
        .await;
    }
    raw.exec(&format!(
        "INSERT INTO credential_journal (subject_id, subject_login, issued_by, issued_at, kind, channel, expires_at) \
         VALUES ('{id}', 'user0', 'admin', {T0}, 'reset', 'slip', {T0})"
    ))
    .await;
    assert_eq!(broken(&k.app, ChainLog::Audit).await.1, BreakKind::Unchained);
    let reopened = db.reopen().await;
    let app = kit::app(reopened, k.clock.clone(), k.policies.path(), "node-b").await;
    let reports = app.verify_journals().await.expect("verify");
    assert!(reports.iter().all(|r| r.intact), "{reports:?}");
    assert_eq!(reports.iter().map(|r| r.entries_checked).collect::<Vec<_>>(), [4, 2]);
    assert!(raw.ints("SELECT seq FROM audit_log WHERE chain_index IS NULL OR subject_salt IS NULL").await.is_empty());
    // Sealed entries are covered like any other.
    let last = raw.ints("SELECT seq FROM audit_log ORDER BY chain_index DESC").await[0];
    raw.exec(&format!("UPDATE audit_log SET detail = 'changed' WHERE seq = {last}")).await;
    assert_eq!(broken(&app, ChainLog::Audit).await, (last, BreakKind::Changed, 3));
    drop(k);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
                let db = crate::store_db::Db::sqlite().await;
                super::$name(&db).await;
                db.finish().await;
            } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
                let db = crate::store_db::Db::postgres().await;
                super::$name(&db).await;
                db.finish().await;
            } )*
        }
    };
}

on_both!(
    tampering_is_found_where_it_happens,
    an_erasure_keeps_the_chain_checking,
    two_nodes_appending_at_once_make_one_line,
    the_retention_prune_leaves_an_anchor,
    the_console_reads_a_period_with_filters_and_pages,
    entries_older_than_the_chain_are_sealed_when_the_store_opens,
);

/// Through the binary: `audit verify` exit codes before and after an edit made directly in
/// the SQLite file, and `audit export` in CSV (header row, RFC 4180 quoting, a formula
/// defused) and JSON.
#[test]
fn the_audit_commands_verify_and_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("data/p.db").display());
    let mut env: Vec<(String, String)> =
        common::FAST_HASH.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.push(("PROPUSK_STORE_URL".into(), url.clone()));
    env.push(("PROPUSK_POLICIES_DIR".into(), common::shipped_policies().display().to_string()));
    let cli = |args: &[&str]| common::cli_in(dir.path(), &env, args);
    let ok = |o: &std::process::Output| assert!(o.status.success(), "{}", common::stderr(o));
    ok(&cli(&["user", "add", "ivanov.ii", "--name", "Иванов Иван", "--role", "student"]));
    ok(&cli(&["user", "suspend", "ivanov.ii", "--reason", "приказ 12-к, п. 3"]));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = propusk::store::open(&url).await.expect("store");
        let note = AuditEvent {
            at: propusk::ports::Clock::now(&propusk::ports::SystemClock),
            actor: "os:registrar".into(),
            action: "account.note",
            subject: Some("ivanov.ii".into()),
            ip: None,
            outcome: "success",
            detail: "=HYPERLINK(\"http://evil.example\")".into(),
        };
        store.commit(vec![Change::InsertAudit(note)]).await.expect("note");
    });

    let out = cli(&["audit", "verify"]);
    ok(&out);
    let text = common::stdout(&out);
    assert!(text.contains("audit log: intact, 3 entries checked"), "{text}");
    assert!(text.contains("credential journal: intact, 1 entries checked"), "{text}");

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out = cli(&["audit", "export", "--from", &today, "--to", &today, "--format", "csv"]);
    ok(&out);
    let csv = common::stdout(&out);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "seq,at,actor,action,subject,ip,outcome,detail", "{csv}");
    assert_eq!(lines.len(), 5, "a header, three entries and the end: {csv:?}");
    assert!(
        lines[2].ends_with(",account.suspend,ivanov.ii,,success,\"from=active reason=приказ 12-к, п. 3\""),
        "{csv}"
    );
    assert!(lines[3].ends_with(",\"'=HYPERLINK(\"\"http://evil.example\"\")\""), "{csv}");
    let out = cli(&["audit", "export", "--from", &today, "--to", &today, "--log", "journal", "--format", "json"]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v.as_array().map(|a| a.len()), Some(1), "{v}");
    assert_eq!(v[0]["subject_login"], "ivanov.ii");
    // The export itself is audited.
    let out = cli(&["audit", "verify", "--json"]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["entries_checked"], 5, "three entries and two exports: {v}");

    let bad = cli(&["audit", "export", "--from", "2026-13-01", "--to", &today]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(common::stderr(&bad).contains("--from \"2026-13-01\": expected a date YYYY-MM-DD"));
    let bad = cli(&["audit", "export", "--from", &today, "--to", &today, "--format", "xlsx"]);
    assert_eq!(bad.status.code(), Some(2));

    let seq = rt.block_on(async {
        let mut raw = Raw::connect(&url).await;
        let seq = raw.ints("SELECT seq FROM audit_log WHERE action = 'account.suspend'").await[0];
        raw.exec(&format!("UPDATE audit_log SET detail = 'from=active reason=нет' WHERE seq = {seq}")).await;
        seq
    });
    let out = cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(6), "{}", common::stdout(&out));
    let text = common::stdout(&out);
    assert!(text.contains(&format!("audit log: BROKEN at seq {seq} (changed)")), "{text}");
    assert!(text.contains("credential journal: intact"), "{text}");
    let out = cli(&["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(6));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (v[0]["first_break"]["seq"].as_i64(), v[0]["first_break"]["kind"].as_str()),
        (Some(seq), Some("changed"))
    );
}
