//! Deprovisioning (R-11, R-12, D-7, D-8): the deadlines a departure sets, the steps of a
//! case and the order they run in, and what one register row means for an account.
//!
//! Pure rules: the caller passes the clock's reading and the stored state in, and gets
//! back what to do; `app::lifecycle` and `app::roster` carry it out.

use std::fmt;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};

use super::account::{AccountStatus, Role, Roles};
use super::roster::{Order, RosterRow, RosterStatus};
use super::time::Timestamp;

/// Why a person leaves (the register statuses that open a case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Departure {
    Graduated,
    Expelled,
    Dismissed,
}

impl Departure {
    pub fn of(status: RosterStatus) -> Option<Self> {
        match status {
            RosterStatus::Graduated => Some(Departure::Graduated),
            RosterStatus::Expelled => Some(Departure::Expelled),
            RosterStatus::Dismissed => Some(Departure::Dismissed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Departure::Graduated => "graduated",
            Departure::Expelled => "expelled",
            Departure::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Departure::Graduated, Departure::Expelled, Departure::Dismissed].into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The regulation's outer limit for both blocking and a graduate's erasure.
pub const REGULATION_LIMIT: Duration = Duration::from_secs(3 * 86_400);

/// The deadlines a deployment sets, within the regulation's limits (D-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// From the start of the effective date to the block deadline (D-7: 24 h).
    pub block_within: Duration,
    /// When a graduate's personal data are erased, after the start of the effective date
    /// (at most [`REGULATION_LIMIT`]; the erasure deadline is that limit).
    pub erase_graduates_after: Duration,
    /// Whether and when expelled students' and dismissed staff's data are erased; `None`
    /// keeps them (blocked) for a possible reinstatement.
    pub erase_others_after: Option<Duration>,
    /// The college's offset from UTC: an effective date starts at its local midnight.
    pub utc_offset: chrono::FixedOffset,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            block_within: Duration::from_secs(86_400),
            erase_graduates_after: Duration::from_secs(2 * 86_400),
            erase_others_after: None,
            utc_offset: chrono::FixedOffset::east_opt(3 * 3600).expect("+03:00 is a valid offset"),
        }
    }
}

impl LifecyclePolicy {
    /// The problem with a configured policy, if any (checked at start-up).
    pub fn check(&self) -> Result<(), String> {
        if self.block_within.is_zero() || self.block_within > REGULATION_LIMIT {
            return Err("block_within must be more than 0 and at most 3 days (R-12)".into());
        }
        if self.erase_graduates_after > REGULATION_LIMIT {
            return Err("erase_graduates_after must be at most 3 days (R-11)".into());
        }
        Ok(())
    }

    /// The instant an effective date starts: local midnight.
    pub fn start_of(&self, date: NaiveDate) -> Timestamp {
        let local = date.and_time(NaiveTime::MIN);
        let utc = local - chrono::Duration::seconds(i64::from(self.utc_offset.local_minus_utc()));
        Timestamp::from_millis(utc.and_utc().timestamp_millis())
    }

    /// The local calendar date at `t`.
    pub fn date_at(&self, t: Timestamp) -> NaiveDate {
        chrono::DateTime::from_timestamp_millis(t.as_millis())
            .map(|d| d.with_timezone(&self.utc_offset).date_naive())
            .unwrap_or_default()
    }

    /// The deadlines of a departure that takes effect on `effective`.
    pub fn deadlines(&self, reason: Departure, effective: NaiveDate) -> Deadlines {
        let starts = self.start_of(effective);
        let erase = match reason {
            Departure::Graduated => Some((self.erase_graduates_after, REGULATION_LIMIT)),
            Departure::Expelled | Departure::Dismissed => self.erase_others_after.map(|after| (after, after)),
        };
        Deadlines {
            starts_at: starts,
            block_by: starts.saturating_add(self.block_within),
            erase_at: erase.map(|(at, _)| starts.saturating_add(at)),
            erase_by: erase.map(|(at, by)| starts.saturating_add(by.max(at))),
        }
    }
}

/// When a case's steps may run and by when they must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Deadlines {
    /// Access ends from here (the effective date's local midnight).
    pub starts_at: Timestamp,
    pub block_by: Timestamp,
    /// Erasure runs from here, once every other step is done; `None`: no erasure.
    pub erase_at: Option<Timestamp>,
    pub erase_by: Option<Timestamp>,
}

/// The phase a step belongs to: everything of the block phase comes first, erasure last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Block,
    /// Services told to delete the person, before propusk erases its own data.
    Forget,
    Erase,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Status `blocked`, sessions ended, tokens revoked, back-channel logouts queued.
    Block,
    /// The directory's own lock (when accounts live in an external directory).
    Directory,
    /// An outbound call to a resource with an API (webhook or SCIM).
    Connector,
    /// A task for an administrator, for a resource without an API (D-8).
    Manual,
    /// The personal data removed from propusk (and the directory entry).
    Erase,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Block => "block",
            StepKind::Directory => "directory",
            StepKind::Connector => "connector",
            StepKind::Manual => "manual",
            StepKind::Erase => "erase",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StepKind::Block, StepKind::Directory, StepKind::Connector, StepKind::Manual, StepKind::Erase]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Whether a step still has to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Done,
    /// The case was withdrawn (a reinstatement) before the step ran.
    Cancelled,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Done => "done",
            StepState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StepState::Pending, StepState::Done, StepState::Cancelled].into_iter().find(|k| k.as_str() == s)
    }
}

/// A step as planned when its case opens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedStep {
    /// Unique within its case: `block`, `directory`, `erase`, `<resource>` or
    /// `<resource>:forget`.
    pub name: String,
    pub kind: StepKind,
    pub phase: Phase,
    pub resource: Option<String>,
    pub not_before: Timestamp,
    pub due_at: Timestamp,
}

/// A resource that must act when a person leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingResource {
    pub id: String,
    /// An outbound call (`true`) or a manual task (`false`).
    pub automatic: bool,
    /// Whether the resource is also told to delete the person before erasure.
    pub forget: bool,
    /// For a manual task: how long after the start it is due (D-8: the block deadline
    /// when not set).
    pub within: Option<Duration>,
}

/// The steps of a case, in the order they may run.
pub fn plan_steps(d: &Deadlines, external_directory: bool, resources: &[LeavingResource]) -> Vec<PlannedStep> {
    let step = |name: String, kind, phase, resource: Option<&str>, not_before, due_at| PlannedStep {
        name,
        kind,
        phase,
        resource: resource.map(str::to_owned),
        not_before,
        due_at,
    };
    let mut steps = vec![step("block".into(), StepKind::Block, Phase::Block, None, d.starts_at, d.block_by)];
    if external_directory {
        steps.push(step("directory".into(), StepKind::Directory, Phase::Block, None, d.starts_at, d.block_by));
    }
    for r in resources {
        let (kind, due) = if r.automatic {
            (StepKind::Connector, d.block_by)
        } else {
            (StepKind::Manual, r.within.map_or(d.block_by, |w| d.starts_at.saturating_add(w)))
        };
        steps.push(step(r.id.clone(), kind, Phase::Block, Some(&r.id), d.starts_at, due));
    }
    if let (Some(at), Some(by)) = (d.erase_at, d.erase_by) {
        for r in resources.iter().filter(|r| r.automatic && r.forget) {
            steps.push(step(format!("{}:forget", r.id), StepKind::Connector, Phase::Forget, Some(&r.id), at, by));
        }
        steps.push(step("erase".into(), StepKind::Erase, Phase::Erase, None, at, by));
    }
    steps
}

/// Whether a step of `phase` may run, given the phases of the case's pending steps: a
/// phase waits until every earlier phase is done.
pub fn phase_open(phase: Phase, pending: impl IntoIterator<Item = Phase>) -> bool {
    pending.into_iter().all(|p| p >= phase)
}

/// The pause before the next attempt of an outbound step that failed `attempts` times:
/// 1, 2, 4 … minutes, at most an hour.
pub fn retry_after(attempts: u32) -> Duration {
    Duration::from_secs(60u64.saturating_mul(1 << attempts.saturating_sub(1).min(6)).min(3600))
}

/// After this many failed attempts a step raises an alert (it keeps being retried).
pub const ALERT_AFTER_ATTEMPTS: u32 = 5;

/// What the register last said about a person, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRecord {
    pub external_id: String,
    pub status: RosterStatus,
    pub effective: NaiveDate,
    pub order: Option<Order>,
    /// The digest of the row's content: the same digest means the same row.
    pub digest: String,
}

/// What propusk holds about the person of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub status: AccountStatus,
    pub roles: Roles,
    pub full_name: String,
    pub email: Option<String>,
    pub study_group: Option<String>,
    pub department: Option<String>,
    pub record: Option<RosterRecord>,
    /// The departure of the account's open case, if one is open.
    pub open_case: Option<Departure>,
}

/// The roles the register decides; any other role an account holds (an administrator's)
/// is kept as it is.
pub const REGISTER_ROLES: [Role; 3] = [Role::Student, Role::Teacher, Role::Staff];

/// One row's effect on an account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RowAction {
    /// Same row as last time, or nothing to change.
    Unchanged,
    /// A new person: an account with issued credentials.
    Create { roles: Roles, study_group: Option<String>, department: Option<String> },
    /// A departing person the college never registered: only the record is kept.
    RecordOnly,
    /// Profile fields that differ from the register.
    Update(ProfileUpdate),
    /// A departure: the case opens (the profile may change too).
    Depart { reason: Departure, update: Option<ProfileUpdate> },
    /// Academic leave begins: the configured resources are restricted.
    Leave { update: Option<ProfileUpdate> },
    /// Back from leave or a withdrawn departure: restrictions lifted, the open case
    /// withdrawn, a blocked account activated.
    Reinstate { update: Option<ProfileUpdate>, withdraw_case: bool, activate: bool },
    /// The register says the person departed long ago and propusk erased them.
    AlreadyErased,
}

/// The profile fields a row changes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProfileUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Roles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_group: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Option<String>>,
}

impl ProfileUpdate {
    pub fn is_empty(&self) -> bool {
        *self == ProfileUpdate::default()
    }
}

/// The study group (students) or department (others) a row names.
pub fn units_of(row: &RosterRow) -> (Option<String>, Option<String>) {
    match row.role {
        Role::Student => (row.unit.clone(), None),
        _ => (None, row.unit.clone()),
    }
}

/// Decides what `row` does, given what propusk holds (`None`: nobody with its external
/// id) and whether the person was erased earlier.
pub fn decide_row(row: &RosterRow, digest: &str, known: Option<&Known>, erased_before: bool) -> RowAction {
    let departure = Departure::of(row.status);
    let Some(k) = known else {
        return match (departure, erased_before) {
            (Some(_), true) => RowAction::AlreadyErased,
            (Some(_), false) => RowAction::RecordOnly,
            (None, _) => {
                let (study_group, department) = units_of(row);
                RowAction::Create { roles: Roles::new([row.role]), study_group, department }
            }
        };
    };
    if k.record.as_ref().is_some_and(|r| r.digest == digest) {
        return RowAction::Unchanged;
    }
    let update = profile_update(row, k);
    let was = k.record.as_ref().map(|r| r.status);
    let blocked = k.status == AccountStatus::Blocked;
    match departure {
        Some(reason) => {
            // A case is already open or done for a departure: only the profile changes.
            if k.open_case.is_some() || blocked {
                return update.map_or(RowAction::Unchanged, RowAction::Update);
            }
            RowAction::Depart { reason, update }
        }
        None if row.status == RosterStatus::AcademicLeave => {
            if was == Some(RosterStatus::AcademicLeave) {
                update.map_or(RowAction::Unchanged, RowAction::Update)
            } else {
                RowAction::Leave { update }
            }
        }
        None => {
            let back_from_leave = was == Some(RosterStatus::AcademicLeave);
            let departed = k.open_case.is_some() || (blocked && was.is_some_and(|s| s.is_departure()));
            if back_from_leave || departed {
                RowAction::Reinstate { update, withdraw_case: k.open_case.is_some(), activate: blocked && departed }
            } else {
                update.map_or(RowAction::Unchanged, RowAction::Update)
            }
        }
    }
}

fn profile_update(row: &RosterRow, k: &Known) -> Option<ProfileUpdate> {
    let (study_group, department) = units_of(row);
    let roles = Roles::new(k.roles.iter().filter(|r| !REGISTER_ROLES.contains(r)).chain([row.role]));
    let differs = |new: &Option<String>, old: &Option<String>| (new != old).then(|| new.clone());
    let update = ProfileUpdate {
        full_name: (row.full_name != k.full_name).then(|| row.full_name.clone()),
        email: match &row.email {
            // An empty email in the register does not erase one the person has.
            None => None,
            some => differs(some, &k.email),
        },
        roles: (roles != k.roles).then_some(roles),
        study_group: differs(&study_group, &k.study_group),
        department: differs(&department, &k.department),
    };
    (!update.is_empty()).then_some(update)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
