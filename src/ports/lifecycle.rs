//! What roster imports and deprovisioning need from storage and from the outside world:
//! register records, cases and their steps, erasure records (R-11, R-12, D-7 – D-9), and
//! the outbound calls that tell a connected service a person has left.

use async_trait::async_trait;
use chrono::NaiveDate;
use sha2::Digest as _;

use super::StoreError;
use crate::domain::account::Account;
use crate::domain::ids::{AccountId, Login};
use crate::domain::lifecycle::{Departure, Phase, PlannedStep, RosterRecord, StepKind, StepState};
use crate::domain::roster::Order;
use crate::domain::time::Timestamp;
use crate::policy::Deprovision;

#[derive(Debug, Clone)]
pub enum LifecycleChange {
    /// Writes what the register says of one person (replacing the earlier record).
    PutRosterRecord {
        record: RosterRecord,
        account: Option<AccountId>,
        at: Timestamp,
    },
    /// Sets the profile fields the register owns; `NotFound` if there is no such account.
    UpdateProfile {
        id: AccountId,
        login: Login,
        full_name: String,
        email: Option<String>,
        study_group: Option<String>,
        department: Option<String>,
        at: Timestamp,
    },
    /// Opens a case with its steps; `Conflict` if the account already has an open one.
    OpenCase {
        case: CaseRecord,
        steps: Vec<PlannedStep>,
    },
    /// Leases a pending step to `owner` until `until`; `NotFound` if it is done or leased.
    ClaimStep {
        case: String,
        step: String,
        owner: String,
        until: Timestamp,
        now: Timestamp,
    },
    /// Marks a pending step done with its evidence; `NotFound` if it is no longer pending
    /// (another node did it first), which rolls back everything committed with it.
    CompleteStep {
        case: String,
        step: String,
        at: Timestamp,
        by: String,
        evidence: String,
    },
    /// Records a failed attempt and when to try again; the lease is released.
    FailStep {
        case: String,
        step: String,
        next_attempt_at: Timestamp,
        error: String,
        alerted: bool,
    },
    /// Withdraws a case: its pending steps are cancelled and it is closed.
    WithdrawCase {
        case: String,
        at: Timestamp,
        note: String,
    },
    /// Closes a case whose steps are all done or cancelled; `NotFound` otherwise.
    CloseCase {
        case: String,
        at: Timestamp,
    },
    /// Removes the personal data of an account (R-11, D-7): name, email, external id,
    /// group and department go; the login becomes `pseudonym` everywhere it is written
    /// (journal, audit log, sign-in log, cases); the original login is retired by hash.
    EraseAccount {
        id: AccountId,
        login: Login,
        pseudonym: String,
        external_id_hash: Option<String>,
        at: Timestamp,
    },
    InsertErasure(ErasureRecord),
    /// Forgets erasure records kept past their time (D-7: 3 years).
    PurgeErasures {
        before: Timestamp,
    },
}

/// A case as opened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub account_id: AccountId,
    /// The login when opened; the pseudonym after erasure.
    pub subject: String,
    pub reason: Departure,
    pub order: Option<Order>,
    pub effective: NaiveDate,
    pub block_by: Timestamp,
    pub erase_by: Option<Timestamp>,
    pub opened_at: Timestamp,
    pub opened_by: String,
}

/// A case with its steps, as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: CaseRecord,
    pub closed_at: Option<Timestamp>,
    pub withdrawn: bool,
    pub steps: Vec<StepView>,
}

/// A step as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepView {
    pub name: String,
    pub kind: StepKind,
    pub phase: Phase,
    pub resource: Option<String>,
    pub not_before: Timestamp,
    pub due_at: Timestamp,
    pub state: StepState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub alerted: bool,
    pub done_at: Option<Timestamp>,
    pub done_by: Option<String>,
    pub evidence: Option<String>,
}

/// One erased person's record (D-7): no personal data, kept 3 years.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErasureRecord {
    pub pseudonym: String,
    pub categories: String,
    pub reason: Departure,
    pub order: Option<Order>,
    pub case_id: String,
    pub erased_at: Timestamp,
    pub erased_by: String,
    pub keep_until: Timestamp,
}

/// An account with an external id, what the register last said of it and its open case.
#[derive(Debug, Clone)]
pub struct RegisteredAccount {
    pub account: Account,
    pub record: Option<RosterRecord>,
    pub open_case: Option<Departure>,
}

/// What an import compares a register file with, read at once.
#[derive(Debug, Clone, Default)]
pub struct RosterSnapshot {
    pub accounts: Vec<RegisteredAccount>,
    /// Records of people without an account (departed before registration, or erased:
    /// then `external_id` is `sha256:` and the hash of the number).
    pub orphan_records: Vec<RosterRecord>,
    /// Every login in use, lower case.
    pub logins: Vec<String>,
    /// The logins erasures retired, read once for the whole import.
    pub retired_logins: RetiredLogins,
}

/// Logins that erasures retired (invariant 19): kept only as SHA-256, never given again.
#[derive(Debug, Clone, Default)]
pub struct RetiredLogins(std::collections::HashSet<[u8; 32]>);

impl RetiredLogins {
    /// From the stored hex digests (`retired_logins.login_hash`); one that is not a
    /// digest matches no login.
    pub fn from_hashes(hashes: impl IntoIterator<Item = String>) -> Self {
        let digest = |h: String| hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
        Self(hashes.into_iter().filter_map(digest).collect())
    }

    pub fn contains(&self, login: &str) -> bool {
        self.0.contains(&<[u8; 32]>::from(sha2::Sha256::digest(login.as_bytes())))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a retired login is kept: the hex of its SHA-256.
pub fn retired_login_hash(login: &str) -> String {
    hex::encode(sha2::Sha256::digest(login.as_bytes()))
}

/// Which cases to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFilter {
    Open,
    /// Open cases none of whose steps is pending: the ones to close.
    Finished,
    All,
}

/// A resource's deprovisioning call: what to tell it about whom.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeprovisionEvent {
    /// `account.deprovisioned` (block phase) or `account.forget` (before erasure).
    pub event: &'static str,
    pub case_id: String,
    pub login: String,
    pub external_id: Option<String>,
    pub reason: Departure,
    pub order_number: Option<String>,
    pub effective: NaiveDate,
    pub at: Timestamp,
}

#[async_trait]
pub trait LifecycleStore: Send + Sync {
    async fn roster_snapshot(&self) -> Result<RosterSnapshot, StoreError>;
    async fn list_cases(&self, filter: CaseFilter) -> Result<Vec<CaseView>, StoreError>;
    async fn find_case(&self, id: &str) -> Result<Option<CaseView>, StoreError>;
    /// Cases with a pending step that may run at `now` (not before its time, not leased,
    /// its next attempt due), oldest first.
    async fn list_due_cases(&self, now: Timestamp, limit: u32) -> Result<Vec<CaseView>, StoreError>;
    async fn list_erasures(&self) -> Result<Vec<ErasureRecord>, StoreError>;
    /// Whether `login` was retired by an erasure (it is never given again).
    async fn login_retired(&self, login: &str) -> Result<bool, StoreError>;
}

/// Calls a resource's deprovisioning API (webhook or SCIM). `Ok` carries the evidence
/// (what the service answered), `Err` why the call failed (it will be retried).
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    async fn call(&self, target: &Deprovision, event: &DeprovisionEvent) -> Result<String, String>;
}
