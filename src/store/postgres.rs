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
        Ok(Self { pool })
    }
}

sql_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_oidc_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_protection_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
sql_access_store!(PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
