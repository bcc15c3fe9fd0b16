//! The PostgreSQL backend, for more than one node or more than one machine's worth of
//! users. Migrated on connect; the migrator's advisory lock keeps nodes that start at
//! once from migrating twice.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::map_err;
use crate::ports::StoreError;

pub struct PostgresStore {
    pool: sqlx::PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        seal_chains(&pool).await?;
        Ok(Self { pool })
    }

    /// Every read goes through the pool: the inline reads are the embedded store's.
    fn inline(&self) -> Option<&super::sqlite_inline::InlineReads> {
        None
    }

    /// The server's own clock (`clock_timestamp()`, not the transaction's start), in
    /// UTC milliseconds: the time every node takes (`clock.rs`).
    async fn server_clock(&self) -> Result<Option<crate::domain::Timestamp>, StoreError> {
        let ms: i64 = sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(Some(crate::domain::Timestamp::from_millis(ms)))
    }

    /// Runs one change as one transaction; PostgreSQL's row locks let many run at once.
    async fn write(&self, changes: Vec<crate::ports::Change>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // On error the transaction is dropped, which rolls it back.
        apply_all(&mut tx, changes).await?;
        tx.commit().await.map_err(map_err)
    }

    /// Runs a change handed over in parts as one transaction.
    async fn write_parts(
        &self,
        mut parts: tokio::sync::mpsc::Receiver<crate::ports::Part>,
    ) -> (Result<(), StoreError>, crate::metrics::Tally) {
        let mut tally = crate::metrics::Tally::default();
        let outcome = async {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            apply_parts(&mut tx, &mut parts, &mut tally).await?;
            tx.commit().await.map_err(map_err)
        }
        .await;
        (outcome, tally)
    }
}

sql_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_oidc_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_protection_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_access_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_lifecycle_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_directory_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_chain_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_console_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_rules_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_second_factor_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_metrics_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
