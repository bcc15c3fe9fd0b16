//! The traits `app` needs from the outside world, and their errors.
//!
//! `store/` implements [`Store`] for SQLite and PostgreSQL; `hash.rs` implements
//! [`PasswordHasher`] on a bounded thread pool; [`SystemClock`] reads the real clock.
//! Nothing here names sqlx, ldap3 or any other adapter's types.
//!
//! Writes go through [`Store::commit`]: a use case collects every row it changes as a
//! list of [`Change`]s and the store applies them in one transaction, so a change is
//! either wholly there or not at all.

pub mod access;
pub mod audit;
pub mod console;
pub mod directory;
pub mod lifecycle;
pub mod metrics;
pub mod oidc;
pub mod protection;
pub mod rules;
pub mod second_factor;

use std::time::Duration;

use async_trait::async_trait;

pub use access::{AccessChange, AccessStore, AuditRecord};
pub use directory::{DirectoryChange, DirectoryStore};
pub use oidc::{LogoutSender, OidcChange, OidcStore, TokenSigner};
pub use protection::{ProtectionChange, ProtectionStore, SecurityEvent};
pub use second_factor::{SecondFactorChange, SecondFactorStore};

use crate::domain::account::{Account, AccountStatus, Role, Roles};
use crate::domain::ids::{AccountId, Login, SessionTokenHash};
use crate::domain::journal::{AuditEvent, CredentialIssue, JournalEntry};
use crate::domain::password::Password;
use crate::domain::session::{EndReason, SessionTimes, SignInOutcome};
use crate::domain::time::Timestamp;

/// What can go wrong in a store. `NotFound` and `Conflict` are answers about the data;
/// `Unavailable` means the store could not be asked at all.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

/// An account with its password hash, for the use cases that check passwords.
#[derive(Debug, Clone)]
pub struct AccountSecret {
    pub account: Account,
    pub password_hash: Option<String>,
}

/// A session as stored: the hash of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub hash: SessionTokenHash,
    pub account_id: AccountId,
    pub times: SessionTimes,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<Timestamp>,
    /// When the session passed the second factor (D-5); `None` without one.
    pub second_factor_at: Option<Timestamp>,
}

/// One sign-in attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignInRecord {
    pub at: Timestamp,
    pub account_id: Option<AccountId>,
    /// The login as typed, kept only when it has the shape of a login.
    pub login: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The address's network (/24, /64), for spraying detection and per-network locks.
    pub network: Option<String>,
    pub outcome: SignInOutcome,
}

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub role: Option<Role>,
    pub status: Option<AccountStatus>,
    pub study_group: Option<String>,
    /// A case-insensitive part of the login or the full name.
    pub text: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// One piece of a change handed over in parts ([`Store::commit_parts`]).
#[derive(Debug)]
pub enum Part {
    /// The next changes, in the order they are to be applied.
    Changes(Vec<Change>),
    /// Every part was sent: commit.
    End,
}

/// One row-level change. A use case passes all of its changes to [`Store::commit`] at once.
#[derive(Debug, Clone)]
pub enum Change {
    InsertAccount {
        account: Account,
        password_hash: String,
    },
    UpdateRoles {
        id: AccountId,
        roles: Roles,
        at: Timestamp,
    },
    UpdateStatus {
        id: AccountId,
        status: AccountStatus,
        at: Timestamp,
    },
    SetPassword {
        id: AccountId,
        hash: String,
        must_change: bool,
        expires_at: Option<Timestamp>,
        at: Timestamp,
    },
    InsertCredentialIssue(CredentialIssue),
    /// The person signed in with their issued password: the journal's mark of receipt.
    MarkCredentialsReceived {
        subject: AccountId,
        at: Timestamp,
    },
    InsertSession(SessionRecord),
    TouchSession {
        hash: SessionTokenHash,
        at: Timestamp,
    },
    /// Ends one live session of `account`; `NotFound` if there is none.
    EndSession {
        hash: SessionTokenHash,
        account: AccountId,
        at: Timestamp,
        reason: EndReason,
    },
    /// Ends every live session of `account` but `except`.
    EndSessionsOf {
        account: AccountId,
        except: Option<SessionTokenHash>,
        at: Timestamp,
        reason: EndReason,
    },
    InsertSignIn(SignInRecord),
    InsertAudit(AuditEvent),
    /// Removes the entries of a chained log up to `through_index` (its place in the
    /// chain) and keeps the last one removed as the chain's anchor (D-10 retention).
    PruneChain {
        log: crate::domain::chain::ChainLog,
        through_index: i64,
    },
    Oidc(OidcChange),
    Protection(ProtectionChange),
    Access(AccessChange),
    Lifecycle(lifecycle::LifecycleChange),
    Directory(DirectoryChange),
    Console(console::ConsoleChange),
    Rules(rules::RulesChange),
    SecondFactor(SecondFactorChange),
}

/// The storage port.
#[async_trait]
pub trait Store:
    audit::AuditStore
    + OidcStore
    + ProtectionStore
    + AccessStore
    + lifecycle::LifecycleStore
    + DirectoryStore
    + console::ConsoleStore
    + rules::RulesStore
    + SecondFactorStore
    + metrics::MetricsStore
    + Send
    + Sync
    + 'static
{
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The database server's clock when the store is shared by several nodes
    /// (PostgreSQL), so that they all take their time from it (`clock.rs`); `None` for
    /// the embedded store, which only this machine reads.
    async fn database_time(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Applies every change in one transaction; on any error none is applied.
    async fn commit(&self, changes: Vec<Change>) -> Result<(), StoreError>;

    /// Like [`commit`](Self::commit) for a change too large to hold at once (a register
    /// import): the changes arrive in parts, each applied as it comes, all in one
    /// transaction that commits on [`Part::End`]. If `parts` closes before `End`, or any
    /// part fails, nothing of any part is kept. Other writes wait until it ends.
    async fn commit_parts(&self, parts: tokio::sync::mpsc::Receiver<Part>) -> Result<(), StoreError>;

    async fn find_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    async fn find_account_secret(&self, login: &Login) -> Result<Option<AccountSecret>, StoreError>;
    async fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>, StoreError>;
    async fn count_accounts_with_role(&self, role: Role) -> Result<i64, StoreError>;

    async fn find_session(&self, hash: &SessionTokenHash) -> Result<Option<SessionRecord>, StoreError>;
    /// Sessions of `account` not yet ended (some may have timed out since).
    async fn list_live_sessions(&self, account: &AccountId) -> Result<Vec<SessionRecord>, StoreError>;

    /// The newest sign-in attempts on `account`, newest first.
    async fn list_sign_ins(&self, account: &AccountId, limit: u32) -> Result<Vec<SignInRecord>, StoreError>;

    /// Credential journal entries, newest first; of one account if `subject` is given.
    async fn list_journal(&self, subject: Option<&AccountId>, limit: u32) -> Result<Vec<JournalEntry>, StoreError>;
}

/// What can go wrong while hashing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are already waiting: the caller should answer "try again shortly".
    #[error("the password hashing queue is full")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Password hashing, done off the async runtime on a bounded pool.
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: Password) -> Result<String, HashError>;
    /// Hashes passwords that propusk generated (about 79 random bits, valid for 72 hours
    /// until first use), many at once, as for a roster import. Guessing such a secret is
    /// out of reach whatever the hash costs, so an adapter may use lighter parameters.
    async fn hash_issued(&self, passwords: Vec<Password>) -> Result<Vec<String>, HashError> {
        let mut out = Vec::with_capacity(passwords.len());
        for p in passwords {
            out.push(self.hash(p).await?);
        }
        Ok(out)
    }
    /// `Ok(false)` for a wrong password or a hash that cannot be parsed.
    async fn verify(&self, hash: String, password: Password) -> Result<bool, HashError>;
    /// As [`verify`](Self::verify), for a sign-in from a device that signed in to this
    /// account before: it goes before every other waiting verification.
    async fn verify_known(&self, hash: String, password: Password) -> Result<bool, HashError> {
        self.verify(hash, password).await
    }
    /// Spends the time of one verification without a real hash, so that an unknown login
    /// answers in the same time as a wrong password.
    async fn verify_dummy(&self, password: Password) -> Result<(), HashError>;
    /// Whether an attempt from a network with recent failures may spend a hash now: such
    /// attempts share a small budget, so guessing cannot take the hashing capacity that
    /// everyone else needs.
    fn admit_suspect(&self) -> bool;
    /// Whether hashes are waiting for a worker (the budget above matters only then).
    fn busy(&self) -> bool;
}

/// The source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis();
        Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}
