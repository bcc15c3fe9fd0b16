//! What role-policy enforcement needs from storage: per-account restrictions and
//! reading back the audit log's policy and access entries.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::AccountId;
use crate::domain::time::Timestamp;
use crate::policy::{ResourceId, Restriction};

#[derive(Debug, Clone)]
pub enum AccessChange {
    /// Sets (or replaces) the restriction of `account` on `restriction.resource`.
    PutRestriction { account: AccountId, restriction: Restriction, at: Timestamp },
    /// Lifts the restriction of `account` on `resource`; `NotFound` if there is none.
    DeleteRestriction { account: AccountId, resource: ResourceId },
}

/// An audit log line as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: String,
}

#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Every restriction of `account`, lapsed ones included (the policy decides which are
    /// in force at the time of a decision), by resource.
    async fn list_restrictions(&self, account: &AccountId) -> Result<Vec<Restriction>, StoreError>;
    /// Audit log lines whose action starts with `action_prefix`, newest first.
    async fn list_audit(&self, action_prefix: &str, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
}
