//! The account directory: where a person's password is checked and where a lock must also
//! be set so that services binding to the directory directly see it.
//!
//! The embedded store is its own directory (`directory/embedded.rs`: nothing to write
//! back); an LDAP directory (`directory.kind = "ldap"`) is another adapter of this port.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::account::{Account, Roles};
use crate::domain::ids::Login;
use crate::domain::password::Password;
use crate::domain::time::Timestamp;

/// What can go wrong when asking the directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The directory has no entry for the login.
    #[error("no directory entry for {0}")]
    NotFound(String),
    /// The directory could not be reached or did not answer in time.
    #[error("the directory is unavailable: {0}")]
    Unavailable(String),
    /// The directory answered with something propusk cannot use.
    #[error("the directory refused the operation: {0}")]
    Refused(String),
}

/// The directory port.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// `"embedded"` for propusk's own store; otherwise the external directory's kind.
    fn kind(&self) -> &'static str;

    /// Whether locks and erasures must be written to a directory outside propusk's store.
    fn is_external(&self) -> bool {
        self.kind() != "embedded"
    }

    /// Sets (`true`) or clears the directory's own lock of the entry of `login`.
    async fn set_disabled(&self, login: &Login, disabled: bool) -> Result<(), DirectoryError>;

    /// Removes the entry of `login` (or archives it without personal attributes, as the
    /// directory's configuration says). An entry already gone is success.
    async fn erase(&self, login: &Login) -> Result<(), DirectoryError>;

    /// The directory as one propusk authenticates against and writes to; `None` for the
    /// embedded store, whose accounts and passwords are propusk's own.
    fn external(&self) -> Option<&dyn ExternalDirectory> {
        None
    }
}

/// A person as the directory describes them, mapped to propusk's terms by the adapter's
/// profile (attributes and groups to roles).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryEntry {
    /// The entry's distinguished name.
    pub dn: String,
    pub login: String,
    /// The configured name attribute; the login when the entry has none.
    pub full_name: String,
    pub email: Option<String>,
    /// Roles from the groups the entry is a member of (the configured group map).
    pub roles: Roles,
    pub study_group: Option<String>,
    pub department: Option<String>,
    pub external_id: Option<String>,
    /// The directory's own lock is set (ppolicy, userAccountControl, nsAccountLock).
    pub disabled: bool,
}

/// The directory's answer to a login and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    /// The password is right: the entry as the directory holds it now.
    Authenticated(DirectoryEntry),
    /// No entry for the login: answered like a wrong password (no enumeration).
    Unknown,
    /// One entry, and the password is wrong.
    WrongPassword(DirectoryEntry),
    /// The password was right, but it has expired under the directory's policy.
    PasswordExpired(DirectoryEntry),
    /// The directory itself refuses the entry (locked or disabled there).
    Disabled(DirectoryEntry),
}

/// A directory written by propusk: who signs in, the people it lists, their passwords.
/// The embedded store answers `Refused` ("not a directory of its own").
#[async_trait]
pub trait ExternalDirectory: Directory {
    /// Search-then-bind: finds the one entry of `login`, binds as it with `password`.
    /// Several entries for one login are `Refused`.
    async fn authenticate(&self, login: &Login, password: &Password) -> Result<BindOutcome, DirectoryError>;

    /// Every entry under the configured base and filter (for the scheduled sync).
    async fn list_entries(&self) -> Result<Vec<DirectoryEntry>, DirectoryError>;

    /// Sets the password of `login` (RFC 3062 Password Modify, or `unicodePwd` for AD).
    /// With `old`, as the person (bound with the old password); without, as the service.
    async fn set_password(&self, login: &Login, old: Option<&Password>, new: &Password) -> Result<(), DirectoryError>;

    /// Whether the directory answers now (for `/readyz`); the error says why not.
    async fn ping(&self) -> Result<(), DirectoryError>;
}

/// A write propusk owes the directory, queued in the transaction of the status change
/// that causes it and applied by a background worker until the directory confirms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryWrite {
    pub id: i64,
    pub created_at: Timestamp,
    pub login: String,
    /// `disable` or `enable`.
    pub action: &'static str,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub done_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// Rows about the directory: the profile a sync writes, the write-back queue.
#[derive(Debug, Clone)]
pub enum DirectoryChange {
    /// Writes the directory's view of an account that exists: profile and roles.
    UpdateProfile {
        account: Account,
    },
    /// Queues a write-back (`disable` or `enable`) of `login`, due at once.
    QueueWrite {
        login: Login,
        action: &'static str,
        at: Timestamp,
    },
    /// Leases a due write to this node until `until`; `NotFound` if another has it.
    ClaimWrite {
        id: i64,
        now: Timestamp,
        until: Timestamp,
    },
    WriteDone {
        id: i64,
        attempts: u32,
        at: Timestamp,
    },
    /// A failed attempt: tried again at `next_attempt_at`, or given up when `None`.
    WriteFailed {
        id: i64,
        attempts: u32,
        next_attempt_at: Option<Timestamp>,
        error: String,
        at: Timestamp,
    },
}

/// What the store keeps for the directory.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Queued writes due at `now`, oldest first.
    async fn list_due_directory_writes(&self, now: Timestamp, limit: u32) -> Result<Vec<DirectoryWrite>, StoreError>;
    /// The newest writes with their outcome.
    async fn list_directory_writes(&self, limit: u32) -> Result<Vec<DirectoryWrite>, StoreError>;
}
