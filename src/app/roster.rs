//! Roster imports (R-6, R-11, R-12, D-9): the student register or an HR list compared
//! with the accounts, and every difference applied in one transaction: new people get
//! accounts and issued credentials (journaled), changes update profiles, departures open
//! deprovisioning cases, academic leave restricts the configured resources.
//!
//! Importing the same file twice changes nothing the second time: each person's last row
//! is kept with a digest of its content.

use std::collections::{HashMap, HashSet};

use sha2::Digest as _;

use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::{AccountId, Login};
use crate::domain::journal::{Channel, CredentialIssue, IssueKind};
use crate::domain::lifecycle::{Known, ProfileUpdate, RosterRecord, RowAction, decide_row};
use crate::domain::password::{Password, generate_issued};
use crate::domain::roster::{RosterRow, RowError};
use crate::policy::Restriction;
use crate::ports::lifecycle::{LifecycleChange, RegisteredAccount, RetiredLogins};
use crate::ports::{AccessChange, Change, Part, ProtectionChange};

use super::{Actor, App, AppError, IssuedCredential};

/// How far ahead an effective date may be, and how far back.
const MAX_AHEAD_DAYS: i64 = 366;
const MAX_BACK_DAYS: i64 = 10 * 366;
/// About how many changes of an import go to the store at a time (a new person makes
/// five): the most an import holds besides the rows and its report.
const PART: usize = 10_000;
/// Who restrictions set by academic leave are from.
const ROSTER: &str = "roster";

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// The file is the whole register: list people missing from it for review.
    pub full_snapshot: bool,
    /// Apply nothing if any row is bad.
    pub strict: bool,
    /// The file's name, for the audit log.
    pub source: String,
}

/// One row that changes something.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedRow {
    pub line: usize,
    pub external_id: String,
    /// The account's login (a new account's planned login).
    pub login: Option<String>,
    #[serde(flatten)]
    pub action: RowAction,
}

/// A person the register no longer lists (with `--full-snapshot`), for review.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Missing {
    pub login: String,
    pub external_id: String,
    pub status: AccountStatus,
}

/// What an import found and did.
#[derive(Debug, serde::Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub errors: Vec<RowError>,
    pub changes: Vec<PlannedRow>,
    pub unchanged: usize,
    pub missing: Vec<Missing>,
    /// Whether the changes were written (not a dry run, and not refused by `strict`).
    pub applied: bool,
    /// The credentials issued to new people: shown once, never stored.
    #[serde(skip)]
    pub issued: Vec<IssuedCredential>,
}

impl App {
    /// Imports register rows (already read from a file; row errors included).
    pub async fn import_roster(
        &self,
        actor: &Actor,
        rows: Vec<Result<RosterRow, RowError>>,
        opts: &ImportOptions,
    ) -> Result<ImportReport, AppError> {
        let now = self.clock.now();
        let today = self.lifecycle.policy.date_at(now);
        let total = rows.len();
        let mut errors = Vec::new();
        let mut good = Vec::new();
        for r in rows {
            match r.and_then(|row| check_dates(row, today)) {
                Ok(row) => good.push(row),
                Err(e) => errors.push(e),
            }
        }
        errors.sort_by_key(|e| e.line);
        let mut snapshot = self.store.roster_snapshot().await?;
        let mut taken: HashSet<String> = std::mem::take(&mut snapshot.logins).into_iter().collect();
        let retired = std::mem::take(&mut snapshot.retired_logins);
        let by_external: HashMap<&str, &RegisteredAccount> =
            snapshot.accounts.iter().filter_map(|a| a.account.external_id.as_deref().map(|e| (e, a))).collect();
        let orphans: HashMap<&str, &RosterRecord> =
            snapshot.orphan_records.iter().map(|r| (r.external_id.as_str(), r)).collect();
        let mut plan: Vec<(RosterRow, String, Option<&RegisteredAccount>, RowAction, Option<Login>)> = Vec::new();
        let mut unchanged = 0;
        let in_file: HashSet<String> = match opts.full_snapshot {
            true => good.iter().map(|r| r.external_id.clone()).collect(),
            false => HashSet::new(),
        };
        for row in good {
            let digest = row_digest(&row);
            let known = by_external.get(row.external_id.as_str()).copied();
            let erased = orphans.contains_key(super::external_id_hash(&row.external_id).as_str());
            let action = decide_row(&row, &digest, known.map(known_of).as_ref(), erased);
            let record_same = known.and_then(|k| k.record.as_ref()).map(|r| r.digest == digest).unwrap_or(false)
                || orphans.get(row.external_id.as_str()).is_some_and(|r| r.digest == digest);
            if record_same || action == RowAction::AlreadyErased {
                unchanged += 1;
                continue;
            }
            let login = match (&action, known) {
                (RowAction::Create { .. }, _) => match self.new_login(&row.full_name, &mut taken, &retired) {
                    Some(l) => Some(l),
                    None => {
                        errors.push(RowError {
                            line: row.line,
                            field: Some("full_name"),
                            problem: "no login can be made from this name".into(),
                        });
                        continue;
                    }
                },
                (_, Some(k)) => Some(k.account.login.clone()),
                (_, None) => None,
            };
            plan.push((row, digest, known, action, login));
        }
        errors.sort_by_key(|e| e.line);
        let missing = if opts.full_snapshot { missing_people(&snapshot.accounts, &in_file) } else { Vec::new() };
        let changes: Vec<PlannedRow> = plan
            .iter()
            .filter(|p| p.3 != RowAction::Unchanged)
            .map(|(row, _, _, action, login)| PlannedRow {
                line: row.line,
                external_id: row.external_id.clone(),
                login: login.as_ref().map(|l| l.as_str().to_owned()),
                action: action.clone(),
            })
            .collect();
        let unchanged = unchanged + plan.len() - changes.len();
        let mut report =
            ImportReport { rows: total, errors, changes, unchanged, missing, applied: false, issued: Vec::new() };
        if opts.dry_run || (opts.strict && !report.errors.is_empty()) {
            return Ok(report);
        }
        let creating = plan.iter().filter(|p| matches!(p.3, RowAction::Create { .. })).count();
        let passwords: Vec<Password> = (0..creating).map(|_| generate_issued(&mut rand::rngs::OsRng)).collect();
        let mut hashes = self.hasher.hash_issued(passwords.clone()).await?.into_iter();
        let mut passwords = passwords.into_iter();
        // The writes go to the store in parts of about `PART` changes, one transaction
        // for them all: for 50,000 people the whole list would be a few hundred
        // megabytes. The next part is made while the store writes the last one.
        let (parts, received) = tokio::sync::mpsc::channel(1);
        let written = self.store.commit_parts(received);
        let report_ref = &mut report;
        let produced = async move {
            let report = report_ref;
            // `None`: the store stopped taking parts (its own error says why).
            let send = |writes: &mut Vec<Change>| {
                let mut part = std::mem::replace(writes, Vec::with_capacity(PART + 8));
                part.sort_by_key(write_rank);
                let parts = &parts;
                async move { parts.send(Part::Changes(part)).await.map_err(|_| None::<AppError>) }
            };
            let mut writes: Vec<Change> = Vec::with_capacity(PART + 8);
            for (row, digest, known, action, login) in plan {
                let record = RosterRecord {
                    external_id: row.external_id.clone(),
                    status: row.status,
                    effective: row.effective,
                    order: row.order.clone(),
                    digest,
                };
                let account = match (&action, known) {
                    (RowAction::Create { roles, study_group, department }, _) => {
                        let (Some(password), Some(hash), Some(login)) = (passwords.next(), hashes.next(), login) else {
                            return Err(Some(AppError::Internal(
                                "issued passwords and new accounts differ in number".into(),
                            )));
                        };
                        let account = Account {
                            id: AccountId::generate(now.as_millis(), &mut rand::rngs::OsRng),
                            login,
                            full_name: row.full_name.clone(),
                            email: row.email.clone(),
                            roles: roles.clone(),
                            study_group: study_group.clone(),
                            department: department.clone(),
                            external_id: Some(row.external_id.clone()),
                            status: AccountStatus::Active,
                            password_must_change: true,
                            password_expires_at: Some(now.saturating_add(self.settings.issued_password_ttl.0)),
                            created_at: now,
                            updated_at: now,
                        };
                        let issued = self.issued_changes(actor, &account, hash, password, &row, &mut writes);
                        report.issued.push(issued);
                        Some(account)
                    }
                    (_, Some(k)) => Some(k.account.clone()),
                    (_, None) => None,
                };
                if let Some(a) = &account {
                    self.row_changes(actor, a, &row, &action, &mut writes).await.map_err(Some)?;
                }
                writes.push(Change::Lifecycle(LifecycleChange::PutRosterRecord {
                    record,
                    account: account.map(|a| a.id),
                    at: now,
                }));
                if writes.len() >= PART {
                    send(&mut writes).await?;
                }
            }
            let detail = format!(
                "source={} rows={} changes={} created={} errors={}",
                opts.source.chars().take(200).collect::<String>(),
                report.rows,
                report.changes.len(),
                report.issued.len(),
                report.errors.len()
            );
            writes.push(Change::InsertAudit(self.audit(
                &actor.name,
                "roster.import",
                None,
                actor.ip.as_deref(),
                detail,
            )));
            send(&mut writes).await?;
            parts.send(Part::End).await.map_err(|_| None)
        };
        match tokio::join!(written, produced) {
            (_, Err(Some(e))) => return Err(e),
            (Err(e), _) => return Err(e.into()),
            (Ok(()), Err(None)) => return Err(AppError::Internal("the store took an import without its end".into())),
            (Ok(()), Ok(())) => {}
        }
        report.applied = true;
        Ok(report)
    }

    /// An account's insert, its lock code and its journal entry; returns the credential
    /// to hand over.
    fn issued_changes(
        &self,
        actor: &Actor,
        account: &Account,
        hash: String,
        password: Password,
        row: &RosterRow,
        writes: &mut Vec<Change>,
    ) -> IssuedCredential {
        let lock_code = super::protection::generate_lock_code();
        let issue = CredentialIssue {
            subject: account.id.clone(),
            subject_login: account.login.clone(),
            issued_by: actor.name.clone(),
            issued_at: account.created_at,
            kind: IssueKind::Initial,
            channel: Channel::Slip,
            expires_at: account.password_expires_at.unwrap_or(account.created_at),
        };
        writes.push(Change::InsertAccount { account: account.clone(), password_hash: hash });
        writes.push(Change::Protection(ProtectionChange::SetLockCode {
            account: account.id.clone(),
            hash: super::protection::lock_code_hash(&lock_code),
        }));
        writes.push(Change::InsertCredentialIssue(issue.clone()));
        writes.push(Change::InsertAudit(self.audit(
            &actor.name,
            "account.create",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!("roles={} source=roster line={}", account.roles.to_csv(), row.line),
        )));
        IssuedCredential { account: account.clone(), password, lock_code, issue }
    }

    /// The writes of one row on an existing (or just created) account.
    async fn row_changes(
        &self,
        actor: &Actor,
        account: &Account,
        row: &RosterRow,
        action: &RowAction,
        writes: &mut Vec<Change>,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let order = row.order.as_ref().map_or_else(|| "-".to_owned(), |o| format!("{} of {}", o.number, o.date));
        let update = match action {
            RowAction::Update(u) => Some(u),
            RowAction::Depart { update, .. } | RowAction::Leave { update } | RowAction::Reinstate { update, .. } => {
                update.as_ref()
            }
            _ => None,
        };
        if let Some(u) = update {
            self.update_changes(actor, account, u, row, writes);
        }
        match action {
            RowAction::Depart { reason, .. } => {
                writes.extend(self.open_case_changes(account, *reason, row.order.clone(), row.effective, &actor.name));
            }
            RowAction::Leave { .. } => {
                for resource in &self.lifecycle.leave_restricts {
                    let restriction = Restriction {
                        resource: resource.clone(),
                        reason: format!("academic leave from {} (order {order})", row.effective),
                        until: None,
                        set_by: ROSTER.into(),
                    };
                    writes.push(Change::Access(AccessChange::PutRestriction {
                        account: account.id.clone(),
                        restriction,
                        at: now,
                    }));
                }
                writes.push(Change::InsertAudit(self.audit(
                    &actor.name,
                    "account.academic_leave",
                    Some(account.login.as_str()),
                    actor.ip.as_deref(),
                    format!("from={} order={order}", row.effective),
                )));
            }
            RowAction::Reinstate { withdraw_case, activate, .. } => {
                for r in self.store.list_restrictions(&account.id).await? {
                    if r.set_by == ROSTER {
                        writes.push(Change::Access(AccessChange::DeleteRestriction {
                            account: account.id.clone(),
                            resource: r.resource,
                        }));
                    }
                }
                if *withdraw_case {
                    if let Some(case) = self
                        .store
                        .list_cases(crate::ports::lifecycle::CaseFilter::Open)
                        .await?
                        .into_iter()
                        .find(|c| c.case.account_id == account.id)
                    {
                        writes.push(Change::Lifecycle(LifecycleChange::WithdrawCase {
                            case: case.case.id,
                            at: now,
                            note: format!("reinstated: {} from {} (order {order})", row.status, row.effective),
                        }));
                    }
                }
                if *activate || (*withdraw_case && account.status == AccountStatus::Blocked) {
                    writes.push(Change::UpdateStatus {
                        id: account.id.clone(),
                        status: AccountStatus::Active,
                        at: now,
                    });
                }
                writes.push(Change::InsertAudit(self.audit(
                    &actor.name,
                    "account.reinstate",
                    Some(account.login.as_str()),
                    actor.ip.as_deref(),
                    format!("status={} from={} order={order}", row.status, row.effective),
                )));
            }
            _ => {}
        }
        Ok(())
    }

    fn update_changes(&self, actor: &Actor, a: &Account, u: &ProfileUpdate, row: &RosterRow, writes: &mut Vec<Change>) {
        let now = self.clock.now();
        if u.full_name.is_some() || u.email.is_some() || u.study_group.is_some() || u.department.is_some() {
            writes.push(Change::Lifecycle(LifecycleChange::UpdateProfile {
                id: a.id.clone(),
                login: a.login.clone(),
                full_name: u.full_name.clone().unwrap_or_else(|| a.full_name.clone()),
                email: u.email.clone().unwrap_or_else(|| a.email.clone()),
                study_group: u.study_group.clone().unwrap_or_else(|| a.study_group.clone()),
                department: u.department.clone().unwrap_or_else(|| a.department.clone()),
                at: now,
            }));
        }
        if let Some(roles) = &u.roles {
            writes.push(Change::UpdateRoles { id: a.id.clone(), roles: roles.clone(), at: now });
        }
        let fields: Vec<&str> = [
            u.full_name.as_ref().map(|_| "full_name"),
            u.email.as_ref().map(|_| "email"),
            u.roles.as_ref().map(|_| "roles"),
            u.study_group.as_ref().map(|_| "study_group"),
            u.department.as_ref().map(|_| "department"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let roles = u.roles.as_ref().map(|r| format!(" roles={}", r.to_csv())).unwrap_or_default();
        writes.push(Change::InsertAudit(self.audit(
            &actor.name,
            "account.update",
            Some(a.login.as_str()),
            actor.ip.as_deref(),
            format!("source=roster line={} fields={}{roles}", row.line, fields.join(",")),
        )));
    }

    /// The first login the pattern makes from `full_name` that nobody holds or held.
    fn new_login(&self, full_name: &str, taken: &mut HashSet<String>, retired: &RetiredLogins) -> Option<Login> {
        let candidates = crate::domain::translit::login_candidates(
            full_name,
            &self.lifecycle.login_pattern,
            self.lifecycle.transliteration,
        );
        for candidate in candidates.take(1000) {
            if taken.contains(candidate.as_str()) || retired.contains(candidate.as_str()) {
                continue;
            }
            taken.insert(candidate.as_str().to_owned());
            return Some(candidate);
        }
        None
    }
}

/// The order an import's writes are applied in, by kind, so that the store writes each
/// kind with a few multi-row statements (`store/sql_bulk.rs`): new accounts, their lock
/// codes, profiles, roles, everything else (cases, restrictions, statuses), register
/// records, then the audit and journal entries (the order `chain_last` wants, so the
/// store keeps the list as it is). The sort is stable, so each person's
/// writes of one kind, and the chained entries, keep their order; no write depends on
/// another person's, and a person's depend only on their account existing (first).
fn write_rank(c: &Change) -> u8 {
    match c {
        Change::InsertAccount { .. } => 0,
        Change::Protection(ProtectionChange::SetLockCode { .. }) => 1,
        Change::Lifecycle(LifecycleChange::UpdateProfile { .. }) => 2,
        Change::UpdateRoles { .. } => 3,
        Change::Lifecycle(LifecycleChange::PutRosterRecord { .. }) => 5,
        Change::InsertAudit(_) => 6,
        Change::InsertCredentialIssue(_) => 7,
        _ => 4,
    }
}

fn known_of(r: &RegisteredAccount) -> Known {
    Known {
        status: r.account.status,
        roles: r.account.roles.clone(),
        full_name: r.account.full_name.clone(),
        email: r.account.email.clone(),
        study_group: r.account.study_group.clone(),
        department: r.account.department.clone(),
        record: r.record.clone(),
        open_case: r.open_case,
    }
}

/// Dates a register cannot mean: an effective date more than a year ahead or ten years
/// back, an order dated in the future.
fn check_dates(row: RosterRow, today: chrono::NaiveDate) -> Result<RosterRow, RowError> {
    let days = (row.effective - today).num_days();
    let bad = |field, problem: String| Err(RowError { line: row.line, field: Some(field), problem });
    if days > MAX_AHEAD_DAYS {
        return bad("effective", format!("{} is more than a year ahead", row.effective));
    }
    if -days > MAX_BACK_DAYS {
        return bad("effective", format!("{} is more than ten years back", row.effective));
    }
    if let Some(o) = &row.order {
        if o.date > today {
            return bad("order_date", format!("the order is dated {} , in the future", o.date));
        }
        if (today - o.date).num_days() > MAX_BACK_DAYS {
            return bad("order_date", format!("{} is more than ten years back", o.date));
        }
    }
    Ok(row)
}

/// The digest of what a row says (its line number aside).
fn row_digest(row: &RosterRow) -> String {
    let order = row.order.as_ref().map(|o| format!("{}\u{1f}{}", o.number, o.date)).unwrap_or_default();
    let text = [
        row.external_id.as_str(),
        row.full_name.as_str(),
        row.role.as_str(),
        row.unit.as_deref().unwrap_or(""),
        row.email.as_deref().unwrap_or(""),
        row.status.as_str(),
        &row.effective.to_string(),
        &order,
    ]
    .join("\u{1e}");
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Active accounts from the register that the file does not list.
fn missing_people(accounts: &[RegisteredAccount], in_file: &HashSet<String>) -> Vec<Missing> {
    let mut missing: Vec<Missing> = accounts
        .iter()
        .filter(|a| a.account.status != AccountStatus::Blocked && a.open_case.is_none())
        .filter_map(|a| {
            let e = a.account.external_id.as_ref()?;
            (!in_file.contains(e)).then(|| Missing {
                login: a.account.login.as_str().to_owned(),
                external_id: e.clone(),
                status: a.account.status,
            })
        })
        .collect();
    missing.sort_by(|a, b| a.login.cmp(&b.login));
    missing
}

/// What the register and the accounts disagree on (`propusk report reconcile`).
#[derive(Debug, serde::Serialize)]
pub struct Reconciliation {
    /// Usable accounts whose register record is missing or says the person left.
    pub active_without_record: Vec<Missing>,
    /// Register records of people still studying or employed who have no account.
    pub records_without_account: Vec<String>,
    /// Manual tasks past their due date.
    pub overdue_tasks: Vec<super::ManualTask>,
}

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.active_without_record.is_empty()
            && self.records_without_account.is_empty()
            && self.overdue_tasks.is_empty()
    }
}

impl App {
    pub async fn reconcile(&self) -> Result<Reconciliation, AppError> {
        let snapshot = self.store.roster_snapshot().await?;
        let mut active_without_record: Vec<Missing> = snapshot
            .accounts
            .iter()
            .filter(|a| a.account.status != AccountStatus::Blocked)
            .filter(|a| a.record.as_ref().is_none_or(|r| r.status.is_departure()))
            .map(|a| Missing {
                login: a.account.login.as_str().to_owned(),
                external_id: a.account.external_id.clone().unwrap_or_default(),
                status: a.account.status,
            })
            .collect();
        active_without_record.sort_by(|a, b| a.login.cmp(&b.login));
        let mut records_without_account: Vec<String> = snapshot
            .orphan_records
            .iter()
            .filter(|r| !r.status.is_departure() && !r.external_id.starts_with("sha256:"))
            .map(|r| r.external_id.clone())
            .collect();
        records_without_account.sort();
        let overdue_tasks = self.manual_tasks().await?.into_iter().filter(|t| t.overdue).collect();
        Ok(Reconciliation { active_without_record, records_without_account, overdue_tasks })
    }
}
