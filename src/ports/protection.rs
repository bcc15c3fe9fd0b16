//! What guessing protection and compromise handling need from storage.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::AccountId;
use crate::domain::lockout::LockRecord;
use crate::domain::time::Timestamp;

/// A security event for the officers' queue: spraying, locks, compromise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecurityEvent {
    pub seq: i64,
    pub at: Timestamp,
    pub kind: &'static str,
    pub account_id: Option<AccountId>,
    pub network: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub enum ProtectionChange {
    /// Writes the lock record of `account` for `scope_key` ("" for the whole account).
    PutLock {
        account: AccountId,
        scope_key: String,
        record: LockRecord,
    },
    /// Removes every lock record of `account` (an administrator's unlock).
    ClearLocks {
        account: AccountId,
        at: Timestamp,
    },
    BlockNetwork {
        network: String,
        until: Timestamp,
        reason: String,
        at: Timestamp,
    },
    SetLockCode {
        account: AccountId,
        hash: String,
    },
    InsertSecurityEvent(SecurityEvent),
    /// Records (or refreshes) that the browser holding the token with this hash signed in
    /// to `account`.
    RememberDevice {
        token_hash: String,
        account: AccountId,
        at: Timestamp,
    },
    /// Forgets every known device of `account` (compromise, restoration).
    ForgetDevices {
        account: AccountId,
    },
    /// Queues a message; `id`, `attempts` and the outcome fields are ignored.
    QueueMail(OutboundMail),
    /// Leases a due message to this node until `until`; `NotFound` if another has it.
    ClaimMail {
        id: i64,
        now: Timestamp,
        until: Timestamp,
    },
    MailSent {
        id: i64,
        attempts: u32,
        at: Timestamp,
    },
    /// A failed attempt: tried again at `next_attempt_at`, or given up when `None`.
    MailFailed {
        id: i64,
        attempts: u32,
        next_attempt_at: Option<Timestamp>,
        error: String,
        at: Timestamp,
    },
}

/// A message in the outbound mail queue, with its outcome so far.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboundMail {
    pub id: i64,
    pub created_at: Timestamp,
    /// `lock` (to the person), `compromise` or `spraying` (to the security officers).
    pub kind: &'static str,
    /// The person's address; `None`: the security officers configured when it is sent.
    pub recipient: Option<String>,
    pub login: Option<String>,
    pub network: Option<String>,
    pub detail: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl OutboundMail {
    /// A new message, due at once.
    pub fn new(kind: &'static str, recipient: Option<String>, at: Timestamp) -> Self {
        Self {
            id: 0,
            created_at: at,
            kind,
            recipient,
            login: None,
            network: None,
            detail: String::new(),
            attempts: 0,
            next_attempt_at: at,
            sent_at: None,
            failed_at: None,
            last_error: None,
        }
    }
}

/// Sends one message over SMTP (or whatever the deployment configured).
#[async_trait]
pub trait MailSender: Send + Sync {
    /// `Err` carries a reason fit for the log: never a credential.
    async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), String>;
}

#[async_trait]
pub trait ProtectionStore: Send + Sync {
    async fn find_lock(&self, account: &AccountId, scope_key: &str) -> Result<LockRecord, StoreError>;
    /// Failed attempts on `account` at or after `since`, from `network` if given.
    async fn count_failures(
        &self,
        account: &AccountId,
        network: Option<&str>,
        since: Timestamp,
    ) -> Result<u32, StoreError>;
    async fn last_success(&self, account: &AccountId) -> Result<Option<Timestamp>, StoreError>;
    /// Distinct logins that failed from `network` at or after `since` (password spraying).
    async fn count_distinct_failed_logins(&self, network: &str, since: Timestamp) -> Result<u32, StoreError>;
    /// Until when `network` is blocked, if it is at `now`.
    async fn find_network_block(&self, network: &str, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;
    async fn find_lock_code_hash(&self, account: &AccountId) -> Result<Option<String>, StoreError>;
    async fn list_security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, StoreError>;
    /// When the browser holding the token with this hash last signed in to `account`, if
    /// it ever did at or after `since`.
    async fn find_known_device(
        &self,
        token_hash: &str,
        account: &AccountId,
        since: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError>;
    /// Queued messages due at `now`, oldest first.
    async fn list_due_mail(&self, now: Timestamp, limit: u32) -> Result<Vec<OutboundMail>, StoreError>;
    /// The newest messages with their outcome.
    async fn list_mail(&self, limit: u32) -> Result<Vec<OutboundMail>, StoreError>;
}
