//! The SQLite side of backup and restore (R-15, D-12): a consistent copy of a live
//! database, the checks of a copy, and what a restore must know about the database it
//! would replace. The archive around the copy (manifest, digests, master key) is
//! `cli/backup.rs`'s; PostgreSQL is backed up with its own tools (`deploy/backup.md`).
//!
//! The copy is `VACUUM INTO` on a connection of its own: it reads the whole database in
//! one read transaction, so it is the state of one moment, and in WAL mode the server's
//! writer goes on committing meanwhile (a reader never blocks the writer).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, SqliteConnection};

use super::map_err;
use crate::ports::StoreError;

/// What a database holds, for the manifest and the restore's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contents {
    /// The newest migration applied (`_sqlx_migrations`); 0 for a database never migrated.
    pub schema_version: i64,
    pub accounts: i64,
    pub audit_entries: i64,
    pub journal_entries: i64,
}

/// The database a restore would replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// No database file there.
    Absent,
    /// A database without a single account (never used, or only just created).
    Empty,
    /// A database with accounts: replacing it needs the operator's `--force`.
    HasData(Contents),
}

/// The newest SQLite migration this binary knows.
pub fn latest_schema_version() -> i64 {
    sqlx::migrate!("migrations/sqlite").iter().map(|m| m.version).max().unwrap_or(0)
}

async fn connect(path: &Path, busy: Duration) -> Result<SqliteConnection, StoreError> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))
        .map_err(map_err)?
        .create_if_missing(false)
        .busy_timeout(busy);
    SqliteConnection::connect_with(&opts).await.map_err(map_err)
}

/// Writes a consistent copy of the live database `db` to `into` (which must not exist)
/// and returns what the copy holds, after checking the copy's integrity.
pub async fn sqlite_snapshot(db: &Path, into: &Path) -> Result<Contents, StoreError> {
    if !db.is_file() {
        return Err(StoreError::Unavailable(format!("there is no database at {}", db.display())));
    }
    let mut conn = connect(db, Duration::from_secs(30)).await?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(into.display().to_string())
        .execute(&mut conn)
        .await
        .map(drop)
        .map_err(map_err);
    let _ = conn.close().await;
    copied?;
    sqlite_check(into).await
}

/// Checks a database file that nothing else has open (a copy): SQLite's integrity
/// check, then what it holds. A damaged file is `Corrupt`.
pub async fn sqlite_check(db: &Path) -> Result<Contents, StoreError> {
    let mut conn = connect(db, Duration::from_secs(5)).await?;
    let outcome = check_on(&mut conn).await;
    let _ = conn.close().await;
    outcome
}

async fn check_on(conn: &mut SqliteConnection) -> Result<Contents, StoreError> {
    let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::Corrupt(format!("the database cannot be read: {e}")))?;
    if verdict != ["ok"] {
        return Err(StoreError::Corrupt(format!("the database is damaged: {}", verdict.join("; "))));
    }
    contents(conn).await
}

async fn contents(conn: &mut SqliteConnection) -> Result<Contents, StoreError> {
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let has = |t: &str| tables.iter().any(|n| n == t);
    Ok(Contents {
        schema_version: scalar(
            conn,
            has("_sqlx_migrations"),
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .await?,
        accounts: scalar(conn, has("accounts"), "SELECT COUNT(*) FROM accounts").await?,
        audit_entries: scalar(conn, has("audit_log"), "SELECT COUNT(*) FROM audit_log").await?,
        journal_entries: scalar(conn, has("credential_journal"), "SELECT COUNT(*) FROM credential_journal").await?,
    })
}

/// One number, or 0 when its table is not there.
async fn scalar(conn: &mut SqliteConnection, present: bool, sql: &'static str) -> Result<i64, StoreError> {
    if !present {
        return Ok(0);
    }
    sqlx::query_scalar::<_, i64>(sql).fetch_one(conn).await.map_err(map_err)
}

/// What is at `db` now (only read).
pub async fn sqlite_target(db: &Path) -> Result<Target, StoreError> {
    if !db.exists() {
        return Ok(Target::Absent);
    }
    let mut conn = connect(db, Duration::from_secs(5)).await?;
    let outcome = contents(&mut conn).await;
    let _ = conn.close().await;
    let c = outcome?;
    Ok(if c.accounts == 0 { Target::Empty } else { Target::HasData(c) })
}

/// Makes sure nothing else has `db` open, just before a restore replaces it: the
/// database is switched out of WAL mode (its log folded in), which SQLite allows only
/// with every other connection closed, so a server still running on it makes this
/// `Unavailable` ("in use") and a restore never pulls a file from under one.
pub async fn sqlite_claim(db: &Path) -> Result<(), StoreError> {
    let mut conn = connect(db, Duration::from_millis(500)).await?;
    let mode: Result<String, StoreError> = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| in_use(db, &e.to_string()));
    let _ = conn.close().await;
    match mode? {
        m if m.eq_ignore_ascii_case("delete") => Ok(()),
        m => Err(in_use(db, &format!("its journal mode stayed {m}"))),
    }
}

fn in_use(db: &Path, why: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "the database {} is in use (stop propusk on this machine before restoring): {why}",
        db.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    /// A copy taken from a live store holds its rows and passes the check; a copy with a
    /// byte changed in a table's page is `Corrupt`; a store left open is in use.
    #[tokio::test]
    async fn a_snapshot_of_a_live_store_is_whole_and_damage_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("live.db");
        let store = SqliteStore::open(db.to_str().expect("utf-8")).await.expect("open");
        let copy = dir.path().join("copy.db");
        let c = sqlite_snapshot(&db, &copy).await.expect("snapshot");
        assert_eq!(c.schema_version, latest_schema_version());
        assert_eq!(c.accounts, 0);
        assert!(sqlite_snapshot(&db, &copy).await.is_err(), "an existing file is never overwritten");

        assert_eq!(sqlite_target(&db).await.expect("target"), Target::Empty);
        assert!(matches!(sqlite_claim(&db).await, Err(StoreError::Unavailable(m)) if m.contains("in use")));
        drop(store);
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlite_claim(&db).await.expect("nothing else has it open");
        assert_eq!(sqlite_target(&dir.path().join("none.db")).await.expect("target"), Target::Absent);

        let mut bytes = std::fs::read(&copy).expect("read");
        let page = 4096;
        assert!(bytes.len() > 3 * page);
        for b in &mut bytes[2 * page + 8..2 * page + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&copy, &bytes).expect("write");
        assert!(matches!(sqlite_check(&copy).await, Err(StoreError::Corrupt(_))));
    }
}
