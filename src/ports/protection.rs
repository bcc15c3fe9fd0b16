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
}
