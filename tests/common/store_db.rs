//! A fresh store for each conformance test: the embedded SQLite backend in a temporary
//! directory, or a new database on the machine's PostgreSQL (dropped afterwards), found at
//! `PROPUSK_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

#![allow(dead_code, unused_macros)]

use std::sync::Arc;

use propusk::ports::Store;
use sqlx::Connection as _;

pub struct Db {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Db {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let store = propusk::store::open(&url).await.expect("open sqlite");
        Db { store, _dir: Some(dir), pg_name: None }
    }

    pub async fn postgres() -> Self {
        let base = pg_base();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let name = format!("propusk_t_{now}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("PostgreSQL must be reachable for the store suite (set PROPUSK_TEST_PG to its base URL)");
        // Databases left by a test that panicked an hour or more ago.
        let stale: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'propusk\\_t\\_%'")
                .fetch_all(&mut admin)
                .await
                .expect("list databases");
        for old in stale {
            let born = old.split('_').nth(2).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
            if born + 3600 < now {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create db");
        let store = propusk::store::open(&format!("{base}/{name}")).await.expect("open postgres");
        Db { store, _dir: None, pg_name: Some(name) }
    }

    /// The database's URL, for a test that reaches under the store (or a second process).
    pub fn url(&self) -> String {
        match (&self.pg_name, &self._dir) {
            (Some(name), _) => format!("{}/{name}", pg_base()),
            (None, Some(dir)) => format!("sqlite:{}", dir.path().join("t.db").display()),
            (None, None) => unreachable!("a store is SQLite or PostgreSQL"),
        }
    }

    /// A second store on the same database, as another node would open it.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        let url = match (&self.pg_name, &self._dir) {
            (Some(name), _) => format!("{}/{name}", pg_base()),
            (None, Some(dir)) => format!("sqlite:{}", dir.path().join("t.db").display()),
            (None, None) => unreachable!("a store is SQLite or PostgreSQL"),
        };
        propusk::store::open(&url).await.expect("reopen")
    }

    pub async fn finish(self) {
        let Db { store, pg_name, .. } = self;
        drop(store);
        if let Some(name) = pg_name {
            let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base())).await.expect("admin");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .expect("drop db");
        }
    }
}

fn pg_base() -> String {
    std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs each named scenario once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() {
                let db = $crate::store_db::Db::sqlite().await;
                super::$name(db.store.clone()).await;
                db.finish().await;
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() {
                let db = $crate::store_db::Db::postgres().await;
                super::$name(db.store.clone()).await;
                db.finish().await;
            } )*
        }
    };
}
