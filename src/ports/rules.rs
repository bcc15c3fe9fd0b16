//! What the rules acknowledgement needs from storage: the published versions of the
//! rules of the environment and each person's acceptances.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::AccountId;
use crate::domain::time::Timestamp;

/// One published version of the rules. The Russian text is the binding one; its SHA-256
/// is the version's digest. An English translation may be attached later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleVersion {
    /// 1, 2, …: a newer version has a larger number.
    pub number: i64,
    /// SHA-256 of `text_ru`, hex.
    pub digest: String,
    pub text_ru: String,
    pub text_en: Option<String>,
    pub published_at: Timestamp,
    pub published_by: String,
}

/// A person accepted version `version` of the rules.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Acceptance {
    pub account: AccountId,
    pub version: i64,
    pub at: Timestamp,
    pub ip: Option<String>,
}

/// Where a person stands: the newest version and the newest one they accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RulesStanding {
    pub current: Option<i64>,
    pub accepted: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum RulesChange {
    /// Stores a new version; `Conflict` if its number is taken (published meanwhile).
    Publish(RuleVersion),
    /// Attaches (or replaces) the English translation of version `number`; `NotFound`
    /// if there is no such version.
    Translate { number: i64, text_en: String },
    /// Records an acceptance; `Conflict` if the person accepted that version before.
    Accept(Acceptance),
}

#[async_trait]
pub trait RulesStore: Send + Sync {
    /// The newest version, if any was published.
    async fn find_current_rules(&self) -> Result<Option<RuleVersion>, StoreError>;
    /// Every version, newest first.
    async fn list_rule_versions(&self) -> Result<Vec<RuleVersion>, StoreError>;
    /// The acceptances of `account`, newest version first.
    async fn list_acceptances(&self, account: &AccountId) -> Result<Vec<Acceptance>, StoreError>;
    /// The newest version and the newest one `account` accepted, in one read (asked on
    /// every forward-auth request and every authorization).
    async fn rules_standing(&self, account: &AccountId) -> Result<RulesStanding, StoreError>;
}
