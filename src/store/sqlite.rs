//! The embedded SQLite backend: one file under `./data` by default, WAL mode, full sync,
//! foreign keys on. Created and migrated on open.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::map_err;
use crate::ports::StoreError;

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

impl SqliteStore {
    /// Opens the database at `path` (`:memory:` for a private in-memory one).
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        Self::open_with(path, |o| o).await
    }

    /// Like [`open`](Self::open), with extra connection options (for tests: limits).
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
        // An in-memory database exists per connection, so it gets exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
            .max_lifetime(if in_memory { None } else { Some(Duration::from_secs(3600)) })
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_oidc_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_protection_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
sql_access_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Account, AccountStatus, Role, Roles};
    use crate::domain::ids::{AccountId, Login};
    use crate::domain::journal::AuditEvent;
    use crate::domain::time::Timestamp;
    use crate::ports::{AccountFilter, Change, Store as _};

    #[tokio::test]
    async fn a_full_store_refuses_the_whole_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("full.db");
        let store = SqliteStore::open_with(path.to_str().expect("utf-8"), |o| o.pragma("max_page_count", "64"))
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
