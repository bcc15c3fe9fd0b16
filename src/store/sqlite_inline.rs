//! The embedded store's hot reads, run inline on the calling thread.
//!
//! sqlx gives each SQLite connection a thread of its own and hands every statement to
//! it and every row back: two thread wake-ups for a point read that SQLite answers in a
//! few microseconds, and under load most of the server's CPU went to those hand-offs
//! (futex waits and context switches). The reads made on nearly every request (a
//! session with its account for forward-auth and pages, a token for UserInfo and
//! introspection, a client at the token endpoint) therefore use connections of their
//! own, opened on the same WAL database and kept in a small stack, and run on the
//! caller's thread. WAL readers do not wait for the writer, so a read blocks its thread
//! only for its own work; a busy database (a checkpoint's rare exclusive moment) is
//! waited for at most `BUSY`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use std::sync::LazyLock;

use super::cols::Cols as _;
use super::decode;
use crate::domain::journal::JournalEntry;
use crate::domain::lockout::LockRecord;
use crate::domain::oidc::{Client, ClientId};
use crate::domain::{AccountId, SessionTokenHash, Timestamp};
use crate::ports::access::{HostSession, SessionAccess};
use crate::ports::console::Announcement;
use crate::ports::oidc::TokenRecord;
use crate::ports::{AccountSecret, SessionRecord, StoreError};

/// Idle connections kept; more are opened when more threads read at once, and closed
/// after their read.
const KEEP: usize = 8;
/// The longest a read waits for a locked database.
const BUSY: Duration = Duration::from_secs(2);

pub struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReads {
    /// Read connections to the database at `path`, which exists and is in WAL mode.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let reads = Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) };
        let first = reads.connect()?;
        reads.idle.lock().unwrap_or_else(|e| e.into_inner()).push(first);
        Ok(reads)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(unavailable)?;
        conn.busy_timeout(BUSY).map_err(unavailable)?;
        conn.pragma_update(None, "query_only", true).map_err(unavailable)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) and puts the connection back.
    fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T, Failure>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        out.map_err(Failure::into_store)
    }

    /// The one row of `sql` with `key` bound to `$1`, decoded. `names` keeps the
    /// statement's column names from its first run.
    fn one<T>(
        &self,
        sql: &str,
        names: &'static Names,
        key: &str,
        decode: impl FnOnce(&Indexed<'_, '_>) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, StoreError> {
        self.first(sql, names, [key], decode)
    }

    /// The first row of `sql` with `params` bound to `$1`, `$2`…, decoded.
    fn first<T>(
        &self,
        sql: &str,
        names: &'static Names,
        params: impl rusqlite::Params,
        decode: impl FnOnce(&Indexed<'_, '_>) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let names = names.get_or_init(|| stmt.column_names().into_iter().map(str::to_owned).collect());
            let mut rows = stmt.query(params)?;
            match rows.next()? {
                Some(row) => Ok(Some(decode(&Indexed { row, names })?)),
                None => Ok(None),
            }
        })
    }

    /// Every row of `sql` with `params` bound, decoded in order.
    fn all<T>(
        &self,
        sql: &str,
        names: &'static Names,
        params: impl rusqlite::Params,
        decode: impl Fn(&Indexed<'_, '_>) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let names = names.get_or_init(|| stmt.column_names().into_iter().map(str::to_owned).collect());
            let mut rows = stmt.query(params)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(decode(&Indexed { row, names })?);
            }
            Ok(out)
        })
    }

    pub fn find_session(&self, hash: &SessionTokenHash) -> Result<Option<SessionRecord>, StoreError> {
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!("SELECT {} FROM sessions WHERE hash = $1", decode::SESSION_COLUMNS));
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, hash.as_str(), |r| decode::session(r, &decode::SESSION_NAMES))
    }

    pub fn find_session_access(&self, hash: &SessionTokenHash) -> Result<Option<SessionAccess>, StoreError> {
        static NAMES: Names = Names::new();
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(decode::session_access_sql())?;
            let names = NAMES.get_or_init(|| stmt.column_names().into_iter().map(str::to_owned).collect());
            let mut rows = stmt.query([hash.as_str()])?;
            let Some(first) = rows.next()? else {
                return Ok(None);
            };
            let mut access = decode::session_access(&Indexed { row: first, names })?;
            while let Some(row) = rows.next()? {
                access.restrictions.extend(decode::joined_restriction(&Indexed { row, names })?);
            }
            Ok(Some(access))
        })
    }

    pub fn find_host_session(&self, token: &SessionTokenHash) -> Result<Option<HostSession>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("SELECT {} FROM host_sessions WHERE token_hash = $1", decode::HOST_SESSION_COLUMNS)
        });
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, token.as_str(), |r| decode::host_session(r))
    }

    pub fn find_client(&self, id: &ClientId) -> Result<Option<(Client, Option<String>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("SELECT {} FROM oidc_clients WHERE client_id = $1", decode::CLIENT_COLUMNS)
        });
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, id.as_str(), |r| decode::client(r))
    }

    pub fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("SELECT {} FROM oidc_tokens WHERE token_hash = $1", decode::TOKEN_COLUMNS)
        });
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, token_hash, |r| decode::token(r, &decode::TOKEN_NAMES))
    }

    pub fn find_token_with_account(
        &self,
        token_hash: &str,
    ) -> Result<Option<(TokenRecord, Option<crate::domain::Account>)>, StoreError> {
        static NAMES: Names = Names::new();
        self.one(decode::token_with_account_sql(), &NAMES, token_hash, |r| decode::token_with_account(r))
    }
    pub fn find_account(&self, id: &AccountId) -> Result<Option<crate::domain::Account>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {} FROM accounts WHERE id = $1", decode::ACCOUNT_COLUMNS));
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, id.as_str(), |r| decode::account(r))
    }

    pub fn find_code(&self, code_hash: &str) -> Result<Option<crate::ports::oidc::CodeRecord>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {} FROM oidc_codes WHERE code_hash = $1", decode::CODE_COLUMNS));
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, code_hash, |r| decode::code(r))
    }

    /// An account and its password hash, by login (every sign-in).
    pub fn find_account_secret(&self, login: &str) -> Result<Option<AccountSecret>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {}, password_hash FROM accounts WHERE login = $1", decode::ACCOUNT_COLUMNS)
        });
        static NAMES: Names = Names::new();
        self.one(&SQL, &NAMES, login, |r| {
            Ok(AccountSecret { account: decode::account(r)?, password_hash: r.opt_text("password_hash")? })
        })
    }

    pub fn find_lock(&self, account: &AccountId, scope_key: &str) -> Result<Option<LockRecord>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {} FROM account_locks WHERE account_id = $1 AND scope_key = $2", decode::LOCK_COLUMNS)
        });
        static NAMES: Names = Names::new();
        self.first(&SQL, &NAMES, (account.as_str(), scope_key), |r| decode::lock(r))
    }

    pub fn find_network_block(&self, network: &str, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        static NAMES: Names = Names::new();
        let sql = "SELECT blocked_until FROM network_blocks WHERE network = $1 AND blocked_until > $2";
        self.first(sql, &NAMES, (network, now.as_millis()), |r| Ok(Timestamp::from_millis(r.int("blocked_until")?)))
    }

    pub fn find_known_device(
        &self,
        token_hash: &str,
        account: &AccountId,
        since: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        static NAMES: Names = Names::new();
        let sql = "SELECT last_seen_at FROM known_devices WHERE token_hash = $1 AND account_id = $2 \
                   AND last_seen_at >= $3";
        self.first(sql, &NAMES, (token_hash, account.as_str(), since.as_millis()), |r| {
            Ok(Timestamp::from_millis(r.int("last_seen_at")?))
        })
    }

    pub fn count_distinct_failed_logins(&self, network: &str, since: Timestamp) -> Result<i64, StoreError> {
        static NAMES: Names = Names::new();
        let sql = "SELECT COUNT(DISTINCT login) AS n FROM sign_ins WHERE network = $1 AND at >= $2 \
                   AND outcome IN ('bad_password', 'unknown_login', 'locked')";
        Ok(self.first(sql, &NAMES, (network, since.as_millis()), |r| r.int("n"))?.unwrap_or(0))
    }

    pub fn list_journal(&self, subject: Option<&AccountId>, limit: u32) -> Result<Vec<JournalEntry>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {} FROM credential_journal WHERE ($1 IS NULL OR subject_id = $1) ORDER BY seq DESC LIMIT $2",
                decode::JOURNAL_COLUMNS
            )
        });
        static NAMES: Names = Names::new();
        self.all(&SQL, &NAMES, (subject.map(AccountId::as_str), i64::from(limit)), |r| decode::journal_entry(r))
    }

    pub fn current_announcements(&self, now: Timestamp) -> Result<Vec<Announcement>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {} FROM announcements WHERE ends_at > $1 AND starts_at <= $1 AND withdrawn_at IS NULL \
                 ORDER BY starts_at",
                decode::ANNOUNCEMENT_COLUMNS
            )
        });
        static NAMES: Names = Names::new();
        self.all(&SQL, &NAMES, [now.as_millis()], |r| decode::announcement(r))
    }
}

/// A statement's column names, in order, learnt from its first run.
type Names = std::sync::OnceLock<Vec<String>>;

/// A row whose columns are found by name in its statement's [`Names`]: SQLite's own
/// lookup by name measures each column name's C string on every call.
pub(crate) struct Indexed<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    names: &'a [String],
}

impl Indexed<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> Result<T, sqlx::Error> {
        let i = self.names.iter().position(|n| n == col).ok_or_else(|| sqlx::Error::ColumnNotFound(col.to_owned()))?;
        self.row.get(i).map_err(|e| sqlx::Error::ColumnDecode { index: col.to_owned(), source: Box::new(e) })
    }
}

impl super::cols::Cols for Indexed<'_, '_> {
    fn text(&self, col: &str) -> Result<String, sqlx::Error> {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        self.get(col)
    }
    fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        self.get(col)
    }
    fn flag(&self, col: &str) -> Result<bool, sqlx::Error> {
        self.get(col)
    }
}

/// A read that failed in SQLite or in decoding what it returned.
enum Failure {
    Sqlite(rusqlite::Error),
    Decode(sqlx::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Decode(e)
    }
}

impl Failure {
    fn into_store(self) -> StoreError {
        match self {
            Self::Sqlite(e) => unavailable(e),
            Self::Decode(e) => super::map_err(e),
        }
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("the database cannot be read: {e}"))
}

#[cfg(test)]
mod tests {
    use rusqlite::OptionalExtension as _;

    use super::*;

    /// A read against a database that is not there fails cleanly, as `Unavailable`.
    #[test]
    fn a_missing_database_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = InlineReads::open(&dir.path().join("no/such/dir/db.sqlite")).err().expect("no database");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    /// A read connection refuses to write, whatever it is asked.
    #[test]
    fn the_connections_only_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let setup = Connection::open(&path).expect("create");
        setup.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);").expect("schema");
        let reads = InlineReads::open(&path).expect("open");
        let err = reads.with(|c| c.execute("INSERT INTO t VALUES (1)", []).map_err(Failure::from)).err();
        assert!(matches!(err, Some(StoreError::Unavailable(_))), "{err:?}");
        let n: i64 = reads.with(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)).expect("count");
        assert_eq!(n, 0);
        let found = reads.with(|c| Ok(c.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0)).optional()?));
        assert_eq!(found.expect("read"), None);
    }
}
