//! What the administrators' console needs from storage: marks of slips handed over
//! the "I cannot sign in" queue, announcements, inspectors'
//! accounts (D-11) and the aggregates of the reports.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::AccountId;
use crate::domain::journal::JournalEntry;
use crate::domain::time::Timestamp;

#[derive(Debug, Clone)]
pub enum ConsoleChange {
    /// Marks journal line `journal_seq` as handed over; `NotFound("unmarked slip")` when
    /// there is no such line or it was marked already, so a mark is made once.
    MarkHandedOver {
        journal_seq: i64,
        at: Timestamp,
        by: String,
    },
    InsertRequest(AccessRequest),
    /// Moves a request on; `NotFound("request")` unless it is still in `from`, so two
    /// administrators acting on one request at once cannot both succeed.
    UpdateRequest {
        id: String,
        from: RequestStatus,
        to: RequestStatus,
        assignee: Option<String>,
        outcome: Option<String>,
        at: Timestamp,
    },
    InsertAnnouncement(Announcement),
    /// Ends an announcement now; `NotFound("announcement")` if it is unknown or ended.
    WithdrawAnnouncement {
        id: String,
        at: Timestamp,
    },
    InsertInspector(InspectorRecord),
    /// Records that an inspector's account ended; `NotFound("inspector")` if it had.
    ExpireInspector {
        account: AccountId,
        at: Timestamp,
    },
}

/// A request's state in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    New,
    InProgress,
    Done,
    Rejected,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] =
        [RequestStatus::New, RequestStatus::InProgress, RequestStatus::Done, RequestStatus::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::New => "new",
            RequestStatus::InProgress => "in_progress",
            RequestStatus::Done => "done",
            RequestStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::New | RequestStatus::InProgress)
    }
}

/// An "I cannot sign in" request, as typed by the person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessRequest {
    pub id: String,
    pub created_at: Timestamp,
    pub login: String,
    pub full_name: String,
    pub contact: String,
    pub message: String,
    pub ip: Option<String>,
    pub status: RequestStatus,
    pub assignee: Option<String>,
    pub outcome: Option<String>,
    pub updated_at: Timestamp,
}

/// What an announcement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnouncementKind {
    Notice,
    Maintenance,
    /// D-4: a notice everyone must acknowledge on the sign-in form before signing in.
    SignInNotice,
}

impl AnnouncementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnnouncementKind::Notice => "notice",
            AnnouncementKind::Maintenance => "maintenance",
            AnnouncementKind::SignInNotice => "sign_in_notice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AnnouncementKind::Notice, AnnouncementKind::Maintenance, AnnouncementKind::SignInNotice]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An announcement or a maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Announcement {
    pub id: String,
    pub kind: AnnouncementKind,
    pub text_ru: String,
    pub text_en: String,
    /// Role ids it is for; empty means everyone, the sign-in page included.
    pub audience: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub created_at: Timestamp,
    pub withdrawn_at: Option<Timestamp>,
}

/// An inspector's account and its end (D-11).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InspectorRecord {
    pub account: AccountId,
    pub purpose: String,
    pub expires_at: Timestamp,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expired_at: Option<Timestamp>,
}

/// A journal line with the person it was issued to and its mark of hand-over.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlipRecord {
    #[serde(flatten)]
    pub entry: JournalEntry,
    pub full_name: String,
    pub study_group: Option<String>,
    pub handed_over_at: Option<Timestamp>,
    pub handed_over_by: Option<String>,
}

/// The credentials one administrator issued in one go (one import's commit).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlipBatch {
    pub issued_by: String,
    pub issued_at: Timestamp,
    pub count: i64,
    pub handed_over: i64,
    pub received: i64,
}

/// How many accounts hold one combination of roles in one status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleStatusCount {
    /// Comma-separated role ids, as stored.
    pub roles: String,
    pub status: AccountStatus,
    pub count: i64,
}

/// A count for one day (days since 1970-01-01 UTC) and one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayCount {
    pub day: i64,
    pub key: String,
    pub count: i64,
}

#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// The credentials issued in one batch, in journal order.
    async fn slip_batch(&self, issued_by: &str, issued_at: Timestamp) -> Result<Vec<SlipRecord>, StoreError>;
    /// The latest batches of slips (channel `slip`), newest first.
    async fn slip_batches(&self, limit: u32) -> Result<Vec<SlipBatch>, StoreError>;
    async fn find_request(&self, id: &str) -> Result<Option<AccessRequest>, StoreError>;
    /// Requests, oldest first; only open ones unless `all`.
    async fn list_requests(&self, all: bool, limit: u32) -> Result<Vec<AccessRequest>, StoreError>;
    /// Announcements in force at `now` (not withdrawn).
    async fn current_announcements(&self, now: Timestamp) -> Result<Vec<Announcement>, StoreError>;
    /// Announcements not ended before `since`, newest first.
    async fn list_announcements(&self, since: Timestamp, limit: u32) -> Result<Vec<Announcement>, StoreError>;
    async fn list_inspectors(&self) -> Result<Vec<(InspectorRecord, Account)>, StoreError>;
    /// Inspectors' accounts whose end has come and that are not yet recorded as ended.
    async fn due_inspectors(&self, now: Timestamp) -> Result<Vec<InspectorRecord>, StoreError>;
    async fn count_by_roles_and_status(&self) -> Result<Vec<RoleStatusCount>, StoreError>;
    /// Sign-in attempts per day and outcome since `since`.
    async fn sign_ins_per_day(&self, since: Timestamp) -> Result<Vec<DayCount>, StoreError>;
    /// Sign-ins to each connected service per day (authorization codes redeemed, by client).
    async fn resource_sign_ins_per_day(&self, since: Timestamp) -> Result<Vec<DayCount>, StoreError>;
    /// Security events (locks, compromise reports, spraying, unlocks, restores) per day and kind.
    async fn security_events_per_day(&self, since: Timestamp) -> Result<Vec<DayCount>, StoreError>;
    /// Accounts in login order after `after_login`, at most `limit`: keyset paging for exports.
    async fn accounts_after(&self, after_login: &str, limit: u32) -> Result<Vec<Account>, StoreError>;
    /// Every restriction of every account, by account (for lists over all accounts: a
    /// college has few restrictions, far fewer than accounts).
    async fn all_restrictions(
        &self,
    ) -> Result<std::collections::HashMap<AccountId, Vec<crate::policy::Restriction>>, StoreError>;
    /// Audit log lines about `subject` or by it as actor, newest first.
    async fn audit_about(&self, login: &str, limit: u32) -> Result<Vec<super::AuditRecord>, StoreError>;
    /// How many accounts match the console's filter (for paging).
    async fn count_accounts(&self, filter: &super::AccountFilter) -> Result<i64, StoreError>;
}
