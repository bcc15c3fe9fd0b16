//! What the tamper-evident journals need from storage (R-22, D-10): the chain's head and
//! its entries in chain order, page by page, for checking; the search the console and
//! exports read; and where a retention prune may cut. Appending is `Change::InsertAudit`
//! and `Change::InsertCredentialIssue`; the store links each entry inside the change's
//! transaction with `domain::chain`.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::chain::{ChainLog, Head, StoredAudit, StoredJournal};
use crate::domain::journal::{Channel, IssueKind};
use crate::domain::time::Timestamp;

/// Which audit entries to read, oldest first unless `newest_first`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// From this instant (inclusive).
    pub from: Option<Timestamp>,
    /// Up to this instant (exclusive).
    pub to: Option<Timestamp>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    /// Actions starting with this (`account.` finds every account action).
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// Continue after this `seq` (in the listing's order): the cursor of the last page.
    pub after_seq: Option<i64>,
    pub newest_first: bool,
    pub limit: u32,
}

/// Which journal entries to read, oldest first unless `newest_first`.
#[derive(Debug, Clone, Default)]
pub struct JournalQuery {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Who issued (an administrator's login, `system`, `os:<user>`).
    pub issued_by: Option<String>,
    /// To whom: the subject's login as written in the journal.
    pub subject_login: Option<String>,
    pub kind: Option<IssueKind>,
    pub channel: Option<Channel>,
    pub after_seq: Option<i64>,
    pub newest_first: bool,
    pub limit: u32,
}

/// An audit log entry as read back, with its address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub outcome: String,
    pub detail: String,
}

/// A credential journal entry as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalLine {
    pub seq: i64,
    pub subject_id: String,
    pub subject_login: String,
    pub issued_by: String,
    pub issued_at: Timestamp,
    pub kind: String,
    pub channel: String,
    pub expires_at: Timestamp,
    pub received_at: Option<Timestamp>,
}

/// Where a retention prune would cut: every entry up to `through_index` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunePoint {
    pub through_index: i64,
    /// The `seq` of the last entry that would go.
    pub through_seq: i64,
    pub entries: i64,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The head of `log`'s chain: its last entry and the anchor a prune left.
    async fn chain_head(&self, log: ChainLog) -> Result<Head, StoreError>;
    /// Audit entries with `after < chain index <= through`, in chain order.
    async fn list_audit_links(&self, after: i64, through: i64, limit: u32) -> Result<Vec<StoredAudit>, StoreError>;
    /// Journal entries with `after < chain index <= through`, in chain order.
    async fn list_journal_links(&self, after: i64, through: i64, limit: u32) -> Result<Vec<StoredJournal>, StoreError>;
    /// The lowest `seq` of an entry of `log` without a place in the chain.
    async fn first_unchained(&self, log: ChainLog) -> Result<Option<i64>, StoreError>;
    /// Where a prune of the entries written before `before` would cut: a prefix of the
    /// chain, up to the entry before the first one that is not older; `None` if nothing.
    async fn find_prune_point(&self, log: ChainLog, before: Timestamp) -> Result<Option<PrunePoint>, StoreError>;
    async fn search_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
    async fn search_journal(&self, q: &JournalQuery) -> Result<Vec<JournalLine>, StoreError>;
}
