//! Deprovisioning cases and their scheduler (R-11, R-12, D-7, D-8): opening a case with
//! its deadlines and steps, running the steps that are due (each one a transaction, so a
//! crash leaves a step before or after, never half), manual tasks, and the compliance
//! report.
//!
//! Several nodes may run the scheduler at once: a step that calls out is leased in the
//! store first, and completing any step is guarded by its state, so no step is done twice.

use std::time::Duration;

use chrono::NaiveDate;
use futures::StreamExt as _;
use sha2::Digest as _;

use crate::domain::account::{Account, AccountStatus};
use crate::domain::journal::AuditEvent;
use crate::domain::lifecycle::{
    ALERT_AFTER_ATTEMPTS, Departure, LeavingResource, LifecyclePolicy, Phase, StepKind, StepState, phase_open,
    plan_steps, retry_after,
};
use crate::domain::roster::Order;
use crate::domain::session::EndReason;
use crate::domain::time::Timestamp;
use crate::policy::{ResourceId, Subject};
use crate::ports::lifecycle::{
    CaseFilter, CaseRecord, CaseView, DeprovisionEvent, ErasureRecord, LifecycleChange, StepView,
};
use crate::ports::{Change, OidcChange, ProtectionChange, SecurityEvent, StoreError};

use super::{Actor, App, AppError};

/// How long an erasure record is kept (D-7).
pub const KEEP_ERASURE_RECORDS: Duration = Duration::from_secs(3 * 365 * 86_400);
/// How long a scheduler holds a step it is calling out for.
const LEASE: Duration = Duration::from_secs(5 * 60);
/// Steps run at once by one scheduler pass.
const PARALLEL_STEPS: usize = 16;
/// Block steps committed together (see `App::block_together`).
const BLOCKS_TOGETHER: usize = 200;
/// What an erasure removes (the erasure record lists it).
const ERASED_CATEGORIES: &str =
    "full name, email, login, register number, study group, department, password, known devices, queued mail";

/// What the lifecycle needs to know of a deployment.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    pub policy: LifecyclePolicy,
    /// The resources academic leave restricts (default: the LMS; library and mail stay).
    pub leave_restricts: Vec<ResourceId>,
    /// This node's name on the leases it takes.
    pub node: String,
    /// How roster imports make logins from names (`{last}.{f}{m}`).
    pub login_pattern: crate::domain::translit::LoginPattern,
    /// ГОСТ 7.79-2000 system B or ICAO.
    pub transliteration: crate::domain::translit::Scheme,
    /// The column mapping of register files for imports over HTTP.
    pub roster_mapping_file: Option<std::path::PathBuf>,
    /// The OpenID Connect clients whose service tokens may import over HTTP.
    pub import_clients: Vec<String>,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            policy: LifecyclePolicy::default(),
            leave_restricts: vec![ResourceId::parse("moodle").expect("a valid id")],
            node: format!("node-{}", std::process::id()),
            login_pattern: crate::domain::translit::LoginPattern::default(),
            transliteration: crate::domain::translit::Scheme::GostB,
            roster_mapping_file: None,
            import_clients: Vec::new(),
        }
    }
}

/// What one scheduler run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    pub steps_done: usize,
    pub steps_failed: usize,
    /// Steps another node took or finished first.
    pub steps_skipped: usize,
    pub cases_closed: usize,
}

/// One case in the compliance report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseReport {
    #[serde(flatten)]
    pub case: CaseView,
    /// Steps open past their deadline, or done after it.
    pub violations: Vec<String>,
}

/// The deprovisioning compliance report: cases with violations first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComplianceReport {
    pub at: Timestamp,
    pub open_cases: usize,
    pub violations: usize,
    pub cases: Vec<CaseReport>,
}

/// A manual task (D-8) for an administrator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManualTask {
    pub case_id: String,
    pub step: String,
    pub subject: String,
    pub resource: Option<String>,
    pub task_ru: String,
    pub task_en: String,
    pub due_at: Timestamp,
    pub overdue: bool,
}

enum Outcome {
    Done,
    Failed,
    Skipped,
}

impl App {
    /// The changes that open a departure case for `account`, with its steps: one per
    /// resource with a deprovisioning part that the person's roles reach.
    pub(crate) fn open_case_changes(
        &self,
        account: &Account,
        reason: Departure,
        order: Option<Order>,
        effective: NaiveDate,
        by: &str,
    ) -> Vec<Change> {
        let now = self.clock.now();
        let deadlines = self.lifecycle.policy.deadlines(reason, effective);
        let policies = self.policies();
        // What the roles reach, whatever the account's status or restrictions are now.
        let reachable = Subject::new(&Account { status: AccountStatus::Active, ..account.clone() }, &[]);
        let resources: Vec<LeavingResource> = policies
            .catalogue()
            .iter()
            .filter_map(|r| {
                let d = r.deprovision.as_ref()?;
                policies.decide(&reachable, &r.id, now).allowed.then(|| LeavingResource {
                    id: r.id.to_string(),
                    automatic: d.automatic(),
                    forget: d.forget(),
                    within: match d {
                        crate::policy::Deprovision::Manual { within, .. } => *within,
                        _ => None,
                    },
                })
            })
            .collect();
        let steps = plan_steps(&deadlines, self.directory.is_external(), &resources);
        let case = CaseRecord {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            subject: account.login.as_str().to_owned(),
            reason,
            order: order.clone(),
            effective,
            block_by: deadlines.block_by,
            erase_by: deadlines.erase_by,
            opened_at: now,
            opened_by: by.to_owned(),
        };
        let detail = format!(
            "case={} reason={reason} order={} effective={effective} block_by={} erase_by={} steps={}",
            case.id,
            order.as_ref().map_or_else(|| "-".to_owned(), |o| format!("{} of {}", o.number, o.date)),
            deadlines.block_by.to_human(),
            deadlines.erase_by.map_or_else(|| "-".to_owned(), Timestamp::to_human),
            steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(","),
        );
        let audit = self.audit(by, "lifecycle.case_open", Some(account.login.as_str()), None, detail);
        vec![Change::Lifecycle(LifecycleChange::OpenCase { case, steps }), Change::InsertAudit(audit)]
    }

    /// Runs every step that is due now, then closes the cases that are finished. Returns
    /// what was done; a step that fails is retried by a later run.
    pub async fn run_lifecycle(&self) -> Result<RunReport, AppError> {
        let mut report = RunReport::default();
        // A pass may make later steps runnable (the block phase done, erasure due): a few
        // passes finish what is due now.
        for _ in 0..4 {
            let now = self.clock.now();
            let cases = self.store.list_due_cases(now, 50_000).await?;
            // Steps name their case by its place in `cases`: no case is copied per step.
            let runnable: Vec<(usize, StepView)> = cases
                .iter()
                .enumerate()
                .flat_map(|(i, c)| runnable_steps(c, now).into_iter().map(move |s| (i, s)))
                .collect();
            if runnable.is_empty() {
                break;
            }
            let cases = &cases;
            let (blocks, others): (Vec<_>, Vec<_>) = runnable.into_iter().partition(|(_, s)| s.kind == StepKind::Block);
            let mut outcomes: Vec<Result<Outcome, AppError>> = futures::stream::iter(others)
                .map(|(i, step)| async move { self.run_step(&cases[i], &step).await })
                .buffer_unordered(PARALLEL_STEPS)
                .collect()
                .await;
            for chunk in blocks.chunks(BLOCKS_TOGETHER) {
                outcomes.extend(self.block_together(cases, chunk).await);
            }
            let mut progress = false;
            for o in outcomes {
                match o? {
                    Outcome::Done => {
                        report.steps_done += 1;
                        progress = true;
                    }
                    Outcome::Failed => report.steps_failed += 1,
                    Outcome::Skipped => report.steps_skipped += 1,
                }
            }
            if !progress {
                break;
            }
        }
        report.cases_closed = self.close_finished_cases().await?;
        let purge = Change::Lifecycle(LifecycleChange::PurgeErasures { before: self.clock.now() });
        self.store.commit(vec![purge]).await?;
        Ok(report)
    }

    async fn close_finished_cases(&self) -> Result<usize, AppError> {
        let mut closed = 0;
        for c in self.store.list_cases(CaseFilter::Finished).await? {
            let now = self.clock.now();
            let audit = self.audit(
                "system",
                "lifecycle.case_close",
                Some(&c.case.subject),
                None,
                format!("case={}", c.case.id),
            );
            let change = Change::Lifecycle(LifecycleChange::CloseCase { case: c.case.id.clone(), at: now });
            match self.store.commit(vec![change, Change::InsertAudit(audit)]).await {
                Ok(()) => closed += 1,
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(closed)
    }

    async fn run_step(&self, case: &CaseView, step: &StepView) -> Result<Outcome, AppError> {
        let result = match step.kind {
            StepKind::Block => self.step_block(case, step).await,
            StepKind::Erase => self.step_erase(case, step).await,
            StepKind::Directory | StepKind::Connector => self.step_outbound(case, step).await,
            StepKind::Manual => return Ok(Outcome::Skipped),
        };
        match result {
            Ok(()) => Ok(Outcome::Done),
            // Another node took or finished it first.
            Err(AppError::NotFound(_)) => Ok(Outcome::Skipped),
            Err(AppError::Unavailable(why)) => Err(AppError::Unavailable(why)),
            Err(e) => {
                self.fail_step(case, step, &e.to_string()).await?;
                Ok(Outcome::Failed)
            }
        }
    }

    fn complete(&self, case: &CaseView, step: &StepView, evidence: String) -> Change {
        Change::Lifecycle(LifecycleChange::CompleteStep {
            case: case.case.id.clone(),
            step: step.name.clone(),
            at: self.clock.now(),
            by: format!("scheduler@{}", self.lifecycle.node),
            evidence,
        })
    }

    /// The block steps of `chunk` (cases by their place in `cases`) committed in one
    /// transaction: on a register's graduation day thousands are due at once, and one
    /// commit per step waited on the store's log each time (and, on PostgreSQL, on the
    /// audit chain's head, which each of them appends to). Should anything of it fail, a
    /// step's account gone or another node ahead on one of them, nothing of it is kept
    /// and each step runs alone, as [`run_step`](Self::run_step) does, with its own outcome.
    async fn block_together(&self, cases: &[CaseView], chunk: &[(usize, StepView)]) -> Vec<Result<Outcome, AppError>> {
        let prepared: Vec<Result<Vec<Change>, AppError>> = futures::stream::iter(chunk.to_vec())
            .map(|(i, step)| async move { self.block_changes(&cases[i], &step).await })
            .buffered(PARALLEL_STEPS)
            .collect()
            .await;
        if chunk.len() > 1 {
            if let Ok(changes) = prepared.into_iter().collect::<Result<Vec<Vec<Change>>, _>>() {
                // Kind by kind, so that the store writes each kind of the chunk with one
                // statement; each step's changes keep their order (the sort is stable and
                // follows `block_changes`), and no step touches another's rows.
                let mut changes: Vec<Change> = changes.into_iter().flatten().collect();
                changes.sort_by_key(block_rank);
                if self.store.commit(changes).await.is_ok() {
                    return chunk.iter().map(|_| Ok(Outcome::Done)).collect();
                }
            }
        }
        futures::stream::iter(chunk.to_vec())
            .map(|(i, step)| async move { self.run_step(&cases[i], &step).await })
            .buffered(PARALLEL_STEPS)
            .collect()
            .await
    }

    /// Status `blocked`, every session ended (back-channel logouts queued), every token
    /// revoked: one transaction with the step's completion.
    async fn step_block(&self, case: &CaseView, step: &StepView) -> Result<(), AppError> {
        let changes = self.block_changes(case, step).await?;
        self.store.commit(changes).await?;
        Ok(())
    }

    /// The changes of a block step, its completion included.
    async fn block_changes(&self, case: &CaseView, step: &StepView) -> Result<Vec<Change>, AppError> {
        let now = self.clock.now();
        let account =
            self.store.find_account(&case.case.account_id).await?.ok_or(AppError::Invalid("account gone".into()))?;
        let mut changes =
            vec![Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Blocked, at: now }];
        let (ended, sessions) = self.end_sessions_counted(&account.id, None, EndReason::AccountDisabled, now).await?;
        changes.extend(ended);
        changes.push(Change::Oidc(OidcChange::RevokeAccountTokens { account_id: account.id.clone(), at: now }));
        let evidence = format!("status blocked (was {}), {sessions} session(s) ended, tokens revoked", account.status);
        changes.push(Change::InsertAudit(self.step_audit(case, step, &evidence)));
        changes.push(self.complete(case, step, evidence));
        Ok(changes)
    }

    /// Removes the person's data; the erasure record and the audit entries keep a
    /// pseudonym only.
    async fn step_erase(&self, case: &CaseView, step: &StepView) -> Result<(), AppError> {
        let now = self.clock.now();
        let account =
            self.store.find_account(&case.case.account_id).await?.ok_or(AppError::Invalid("account gone".into()))?;
        if self.directory.is_external() {
            self.directory.erase(&account.login).await.map_err(|e| AppError::Invalid(e.to_string()))?;
        }
        let pseudonym = format!("erased-{}", hex::encode(rand::random::<[u8; 8]>()));
        let external_id_hash = account.external_id.as_deref().map(external_id_hash);
        let mut changes =
            vec![Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Blocked, at: now }];
        changes.extend(self.end_sessions_changes(&account.id, None, EndReason::AccountDisabled, now).await?);
        changes.push(Change::Protection(ProtectionChange::ClearLocks { account: account.id.clone(), at: now }));
        changes.push(Change::Lifecycle(LifecycleChange::EraseAccount {
            id: account.id.clone(),
            login: account.login.clone(),
            pseudonym: pseudonym.clone(),
            external_id_hash,
            at: now,
        }));
        changes.push(Change::Lifecycle(LifecycleChange::InsertErasure(ErasureRecord {
            pseudonym: pseudonym.clone(),
            categories: ERASED_CATEGORIES.to_owned(),
            reason: case.case.reason,
            order: case.case.order.clone(),
            case_id: case.case.id.clone(),
            erased_at: now,
            erased_by: format!("scheduler@{}", self.lifecycle.node),
            keep_until: now.saturating_add(KEEP_ERASURE_RECORDS),
        })));
        let evidence = format!("personal data erased; pseudonym {pseudonym}");
        let mut audit = self.step_audit(case, step, &evidence);
        audit.subject = Some(pseudonym);
        changes.push(Change::InsertAudit(audit));
        changes.push(self.complete(case, step, evidence));
        self.store.commit(changes).await?;
        Ok(())
    }

    /// A call to the directory or a resource's API: leased first, so that no other node
    /// makes the same call, then completed with what the other side answered.
    async fn step_outbound(&self, case: &CaseView, step: &StepView) -> Result<(), AppError> {
        let now = self.clock.now();
        self.store
            .commit(vec![Change::Lifecycle(LifecycleChange::ClaimStep {
                case: case.case.id.clone(),
                step: step.name.clone(),
                owner: self.lifecycle.node.clone(),
                until: now.saturating_add(LEASE),
                now,
            })])
            .await?;
        let account =
            self.store.find_account(&case.case.account_id).await?.ok_or(AppError::Invalid("account gone".into()))?;
        let evidence = match step.kind {
            StepKind::Directory => {
                self.directory
                    .set_disabled(&account.login, true)
                    .await
                    .map_err(|e| AppError::Invalid(e.to_string()))?;
                format!("{} directory lock set", self.directory.kind())
            }
            _ => {
                let resource = step.resource.as_deref().unwrap_or_default();
                let id = ResourceId::parse(resource).map_err(|e| AppError::Invalid(e.to_string()))?;
                let policies = self.policies();
                let target = policies.resource(&id).and_then(|r| r.deprovision.clone()).ok_or_else(|| {
                    AppError::Invalid(format!("resource {resource} has no deprovision in the catalogue"))
                })?;
                let event = DeprovisionEvent {
                    event: if step.phase == Phase::Forget { "account.forget" } else { "account.deprovisioned" },
                    case_id: case.case.id.clone(),
                    login: account.login.as_str().to_owned(),
                    external_id: account.external_id.clone(),
                    reason: case.case.reason,
                    order_number: case.case.order.as_ref().map(|o| o.number.clone()),
                    effective: case.case.effective,
                    at: now,
                };
                self.connector.call(&target, &event).await.map_err(AppError::Invalid)?
            }
        };
        let evidence: String = evidence.chars().take(500).collect();
        let audit = self.step_audit(case, step, &evidence);
        self.store.commit(vec![Change::InsertAudit(audit), self.complete(case, step, evidence)]).await?;
        Ok(())
    }

    /// Records a failed attempt; at the fifth the security officers' queue gets an alert
    /// (the step keeps being retried: it never passes silently).
    async fn fail_step(&self, case: &CaseView, step: &StepView, error: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        let attempts = step.attempts + 1;
        let alert = attempts >= ALERT_AFTER_ATTEMPTS && !step.alerted;
        let error: String = error.chars().take(500).collect();
        tracing::warn!(case = %case.case.id, step = %step.name, attempts, error = %error, "a deprovisioning step failed");
        let mut changes = vec![Change::Lifecycle(LifecycleChange::FailStep {
            case: case.case.id.clone(),
            step: step.name.clone(),
            next_attempt_at: now.saturating_add(retry_after(attempts)),
            error: error.clone(),
            alerted: alert,
        })];
        if alert {
            tracing::error!(case = %case.case.id, step = %step.name, "a deprovisioning step keeps failing");
            changes.push(Change::Protection(ProtectionChange::InsertSecurityEvent(SecurityEvent {
                seq: 0,
                at: now,
                kind: "deprovisioning_step_failing",
                account_id: Some(case.case.account_id.clone()),
                network: None,
                detail: format!("case {} step {} failed {attempts} times: {error}", case.case.id, step.name),
            })));
        }
        match self.store.commit(changes).await {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn step_audit(&self, case: &CaseView, step: &StepView, evidence: &str) -> AuditEvent {
        self.audit(
            &format!("scheduler@{}", self.lifecycle.node),
            "lifecycle.step",
            Some(&case.case.subject),
            None,
            format!("case={} step={} {evidence}", case.case.id, step.name),
        )
    }

    /// Marks a manual task (D-8) done: who did it and what they noted.
    pub async fn complete_task(&self, actor: &Actor, case_id: &str, step: &str, note: &str) -> Result<(), AppError> {
        let note = note.split_whitespace().collect::<Vec<_>>().join(" ");
        if note.is_empty() || note.chars().count() > 500 {
            return Err(AppError::Invalid("a note of what was done is required (at most 500 characters)".into()));
        }
        let case = self.store.find_case(case_id).await?.ok_or(AppError::NotFound("case"))?;
        let s = case.steps.iter().find(|s| s.name == step).ok_or(AppError::NotFound("task"))?;
        if s.kind != StepKind::Manual {
            return Err(AppError::Invalid(format!("step {step} is not a manual task")));
        }
        if s.state != StepState::Pending {
            return Err(AppError::Invalid(format!("task {step} is already {}", s.state.as_str())));
        }
        let now = self.clock.now();
        let audit = self.audit(
            &actor.name,
            "lifecycle.task_done",
            Some(&case.case.subject),
            actor.ip.as_deref(),
            format!("case={case_id} step={step} note={note}"),
        );
        let done = Change::Lifecycle(LifecycleChange::CompleteStep {
            case: case_id.to_owned(),
            step: step.to_owned(),
            at: now,
            by: actor.name.clone(),
            evidence: note,
        });
        self.store.commit(vec![done, Change::InsertAudit(audit)]).await.map_err(|e| match e {
            StoreError::NotFound(_) => AppError::Invalid(format!("task {step} is already done")),
            other => other.into(),
        })
    }

    /// Open manual tasks, the most urgent first.
    pub async fn manual_tasks(&self) -> Result<Vec<ManualTask>, AppError> {
        let now = self.clock.now();
        let policies = self.policies();
        let mut tasks: Vec<ManualTask> = Vec::new();
        for c in self.store.list_cases(CaseFilter::Open).await? {
            for s in c.steps.iter().filter(|s| s.kind == StepKind::Manual && s.state == StepState::Pending) {
                let text = s
                    .resource
                    .as_deref()
                    .and_then(|r| ResourceId::parse(r).ok())
                    .and_then(|id| policies.resource(&id).and_then(|r| r.deprovision.clone()));
                let (task_ru, task_en) = match text {
                    Some(crate::policy::Deprovision::Manual { task_ru, task_en, .. }) => (task_ru, task_en),
                    _ => ("Отключить доступ пользователя".to_owned(), "Remove the person's access".to_owned()),
                };
                tasks.push(ManualTask {
                    case_id: c.case.id.clone(),
                    step: s.name.clone(),
                    subject: c.case.subject.clone(),
                    resource: s.resource.clone(),
                    task_ru,
                    task_en,
                    due_at: s.due_at,
                    overdue: now > s.due_at,
                });
            }
        }
        tasks.sort_by_key(|t| t.due_at);
        Ok(tasks)
    }

    /// Every case with its deadlines and the time each step took; violations first.
    pub async fn compliance_report(&self) -> Result<ComplianceReport, AppError> {
        let now = self.clock.now();
        let cases = self.store.list_cases(CaseFilter::All).await?;
        let open_cases = cases.iter().filter(|c| c.closed_at.is_none()).count();
        let mut reports: Vec<CaseReport> = cases
            .into_iter()
            .map(|case| {
                let violations = case
                    .steps
                    .iter()
                    .filter_map(|s| match (s.state, s.done_at) {
                        (StepState::Pending, _) if now > s.due_at => {
                            Some(format!("{}: open past its deadline {}", s.name, s.due_at.to_human()))
                        }
                        (StepState::Done, Some(done)) if done > s.due_at => Some(format!(
                            "{}: done {} after its deadline {}",
                            s.name,
                            done.to_human(),
                            s.due_at.to_human()
                        )),
                        _ => None,
                    })
                    .collect();
                CaseReport { case, violations }
            })
            .collect();
        reports.sort_by_key(|r| (r.violations.is_empty(), r.case.case.opened_at));
        let violations = reports.iter().map(|r| r.violations.len()).sum();
        Ok(ComplianceReport { at: now, open_cases, violations, cases: reports })
    }
}

/// The pending steps of `case` that may run at `now`: their time has come, nobody holds
/// them, and every earlier phase is done. Manual tasks wait for an administrator.
fn runnable_steps(case: &CaseView, now: Timestamp) -> Vec<StepView> {
    let pending: Vec<Phase> = case.steps.iter().filter(|s| s.state == StepState::Pending).map(|s| s.phase).collect();
    case.steps
        .iter()
        .filter(|s| {
            s.state == StepState::Pending
                && s.kind != StepKind::Manual
                && s.not_before <= now
                && s.next_attempt_at <= now
                && s.lease_until.is_none_or(|l| l <= now)
                && phase_open(s.phase, pending.iter().copied())
        })
        .cloned()
        .collect()
}

/// How an erased person's register number is kept: `sha256:<hex>`.
pub fn external_id_hash(external_id: &str) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(external_id.as_bytes())))
}

/// A block step's change's place in a chunk (`App::block_together`): `block_changes`'s order.
fn block_rank(c: &Change) -> u8 {
    match c {
        Change::UpdateStatus { .. } => 0,
        Change::EndSessionsOf { .. } => 1,
        Change::Oidc(OidcChange::RevokeAccountTokens { .. }) => 3,
        Change::InsertAudit(_) => 4,
        Change::Lifecycle(LifecycleChange::CompleteStep { .. }) => 5,
        _ => 2,
    }
}
