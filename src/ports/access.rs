//! What role-policy enforcement needs from storage: per-account restrictions,
//! forward-auth's handoff codes and host sessions (a session carried to another host),
//! and reading back the audit log's policy and access entries.

use async_trait::async_trait;

use super::{SessionRecord, StoreError};
use crate::domain::account::Account;
use crate::domain::ids::{AccountId, SessionTokenHash};
use crate::domain::time::Timestamp;
use crate::policy::{ResourceId, Restriction};

#[derive(Debug, Clone)]
pub enum AccessChange {
    /// Sets (or replaces) the restriction of `account` on `restriction.resource`.
    PutRestriction { account: AccountId, restriction: Restriction, at: Timestamp },
    /// Lifts the restriction of `account` on `resource`; `NotFound` if there is none.
    DeleteRestriction { account: AccountId, resource: ResourceId },
    /// Stores a handoff code, and forgets codes that lapsed before `code.created_at`.
    InsertHandoff(Handoff),
    /// Marks a handoff code used; `NotFound("handoff code")` if it is unknown or was
    /// already used, so that of two redemptions at once only one commits.
    UseHandoff { code: SessionTokenHash, at: Timestamp },
    /// Stores a host session, and forgets host sessions that lapsed before it was made.
    InsertHostSession(HostSession),
    /// Ends the host sessions opened with `code` (a replayed code revokes what it gave).
    DeleteHostSessionsOf { code: SessionTokenHash },
}

/// A one-time code that carries a session from propusk's host to one protected host
/// (forward-auth across hosts). Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub code: SessionTokenHash,
    /// The session it carries.
    pub session: SessionTokenHash,
    /// The only host that may redeem it (lower case, no port).
    pub host: String,
    /// Where the person goes once the host has its cookie: a catalogue address.
    pub return_to: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// A session on one protected host, opened by redeeming a handoff code: forward-auth
/// accepts its cookie on that host only, and only while `session` lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSession {
    /// The hash of the host cookie's token.
    pub token: SessionTokenHash,
    pub session: SessionTokenHash,
    pub host: String,
    /// The code that opened it.
    pub code: SessionTokenHash,
    pub created_at: Timestamp,
    /// The session's absolute end: the host session never outlives it.
    pub expires_at: Timestamp,
}

/// What forward-auth needs about a session, read at once: the session, its account and
/// the account's restrictions (lapsed ones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAccess {
    pub session: SessionRecord,
    pub account: Account,
    pub restrictions: Vec<Restriction>,
    /// Where the account stands with the rules, read in the same query.
    pub rules: super::rules::RulesStanding,
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
    /// The session with this hash with its account and the account's restrictions, in
    /// one read (forward-auth asks this on every proxied request); `None` if there is no
    /// such session.
    async fn find_session_access(&self, session: &SessionTokenHash) -> Result<Option<SessionAccess>, StoreError>;
    /// The handoff code with this hash, used or not, lapsed or not.
    async fn find_handoff(&self, code: &SessionTokenHash) -> Result<Option<Handoff>, StoreError>;
    /// The host session whose cookie token has this hash.
    async fn find_host_session(&self, token: &SessionTokenHash) -> Result<Option<HostSession>, StoreError>;
}
