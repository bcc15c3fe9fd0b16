//! The storage adapters: all SQL lives here, one module per backend.
//!
//! The queries are written once, in [`sql`], in the SQL that SQLite and PostgreSQL share
//! (`$n` placeholders, integer times, `RETURNING`), and instantiated for each backend's
//! concrete sqlx types by a macro; what differs (connection options, migrations, error
//! codes) stays in `sqlite.rs` and `postgres.rs`. No business rule is decided here.

#[macro_use]
mod sql_bulk_block;
#[macro_use]
mod sql_bulk;
#[macro_use]
mod sql;
#[macro_use]
mod sql_oidc;
#[macro_use]
mod sql_protection;
#[macro_use]
mod sql_access;
#[macro_use]
mod sql_lifecycle;
#[macro_use]
mod sql_directory;
#[macro_use]
mod sql_chain;
#[macro_use]
mod sql_chain_read;
#[macro_use]
mod sql_console;
#[macro_use]
mod sql_rules;
#[macro_use]
mod sql_second_factor;
#[macro_use]
mod sql_metrics;
pub mod backup;
mod cols;
pub(crate) mod decode;
mod erase;
mod postgres;
mod sqlite;
mod sqlite_inline;

use std::sync::Arc;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::ports::{Store, StoreError};

/// Opens (creating and migrating as needed) the store named by `url`:
/// `sqlite:PATH` (the directory is created) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok(Arc::new(SqliteStore::open(path.trim_start_matches("//")).await?))
    } else {
        Err(StoreError::Unavailable(format!(
            "store.url must start with sqlite: or postgres://, got {:?}",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

/// Maps a driver error: unique violations become `Conflict`, undecodable rows `Corrupt`,
/// everything else (a lost connection, a full disk) `Unavailable`.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let msg = db.message();
            if msg.contains("login") {
                StoreError::Conflict("an account with this login")
            } else if msg.contains("external_id") {
                StoreError::Conflict("an account with this external id")
            } else {
                StoreError::Conflict("a record with the same key")
            }
        }
        sqlx::Error::Database(db) if disk_full(db.as_ref()) => {
            StoreError::Unavailable(format!("the disk holding the database is full: {}", db.message()))
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// SQLite's `SQLITE_FULL` (13, the low byte of its extended code) or PostgreSQL's
/// `disk_full` (53100): nothing was written, and the operator must free space.
fn disk_full(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        code.parse::<i32>().is_ok_and(|n| n & 0xff == 13)
    } else {
        db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() && code == "53100"
    }
}

/// The lower-case text that account search matches against (SQLite's LOWER() only
/// knows ASCII, so the key is computed here for both backends).
fn search_key(login: &str, full_name: &str) -> String {
    format!("{login} {}", full_name.to_lowercase())
}

/// How a retired login is kept (`retired_logins`): its SHA-256, hex.
fn login_hash(login: &str) -> String {
    crate::ports::lifecycle::retired_login_hash(login)
}

/// The `WHERE` clause of an account filter with only the conditions it sets (so that an
/// index on a set column is used), and its values in `$n` order. Text is matched on the
/// lower-cased `search_key` (see ARCHITECTURE.md).
pub(crate) fn account_filter(f: &crate::ports::AccountFilter) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    let mut add = |sql: &str, value: String| {
        binds.push(value);
        conditions.push(sql.replace('?', &format!("${}", binds.len())));
    };
    if let Some(r) = f.role {
        add("(',' || roles || ',') LIKE ?", format!("%,{r},%"));
    }
    if let Some(s) = f.status {
        add("status = ?", s.as_str().to_owned());
    }
    if let Some(g) = &f.study_group {
        add("study_group = ?", g.clone());
    }
    if let Some(t) = &f.text {
        let escaped = t.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        add("search_key LIKE ? ESCAPE '\\'", format!("%{escaped}%"));
    }
    let clause = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    (clause, binds)
}
