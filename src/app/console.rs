//! The administrators' console: every use case checks the caller's permission
//! (`domain::console`) first and audits a refusal; the work itself is done by the use
//! cases of `admin.rs`, `protection.rs`, `access.rs` and `roster.rs`, so the console, its
//! JSON API and the command line act alike.

use std::collections::{BTreeMap, HashMap};

use crate::domain::account::{Account, AccountStatus, NewAccount, Role, Roles};
use crate::domain::console::{INSPECTOR_MAX_DAYS, Permission, Permissions};
use crate::domain::journal::{Channel, JournalEntry};
use crate::domain::roster::{RosterRow, RowError};
use crate::domain::session::EndReason;
use crate::domain::time::Timestamp;
use crate::policy::{ResourceId, Restriction};
use crate::ports::console::{
    AccessRequest, Announcement, AnnouncementKind, ConsoleChange, DayCount, InspectorRecord, RequestStatus, SlipBatch,
    SlipRecord,
};
use crate::ports::{AccountFilter, AuditRecord, Change, SignInRecord};

use super::admin::{Actor, IssuedCredential};
use super::roster::{ImportOptions, ImportReport};
use super::session::CurrentSession;
use super::{App, AppError};

/// Longest texts the console accepts (a name, a reason, a request, an announcement).
const MAX_SHORT: usize = 200;
const MAX_LONG: usize = 2000;
/// How many people one page of the console lists.
pub const PAGE: u32 = 50;

/// A signed-in person acting in the console.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub actor: Actor,
    pub account: Account,
    pub perms: Permissions,
}

impl ConsoleUser {
    /// `None` when the session's roles open no part of the console.
    pub fn of(s: &CurrentSession, ip: Option<String>) -> Option<Self> {
        let perms = Permissions::of(&s.account.roles);
        perms.any().then(|| Self {
            actor: Actor { name: s.account.login.as_str().to_owned(), ip },
            account: s.account.clone(),
            perms,
        })
    }

    pub fn may(&self, p: Permission) -> bool {
        self.perms.allows(p)
    }
}

/// What the console shows of one person.
#[derive(Debug, serde::Serialize)]
pub struct UserView {
    pub account: Account,
    pub live_sessions: usize,
    pub restrictions: Vec<Restriction>,
    pub sign_ins: Vec<SignInRecord>,
    pub journal: Vec<JournalEntry>,
    pub audit: Vec<AuditRecord>,
    pub inspector_until: Option<Timestamp>,
    /// Whether the roles require a second factor (D-5), since when one is enrolled, and
    /// how many recovery codes are left.
    pub second_factor_required: bool,
    pub second_factor_enrolled_at: Option<Timestamp>,
    pub recovery_codes_left: usize,
    /// The rules' versions this person accepted, with when and from where.
    pub rules_accepted: Vec<crate::ports::rules::Acceptance>,
}

/// A page of people.
#[derive(Debug, serde::Serialize)]
pub struct UserPage {
    pub total: i64,
    pub offset: u32,
    pub limit: u32,
    pub users: Vec<Account>,
}

/// A request filed from the public "I cannot sign in" form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RequestForm {
    pub login: String,
    pub full_name: String,
    pub contact: String,
    pub message: String,
}

/// A new announcement.
#[derive(Debug, Clone)]
pub struct AnnouncementForm {
    pub kind: AnnouncementKind,
    pub text_ru: String,
    pub text_en: String,
    /// Role ids; empty for everyone.
    pub audience: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// A new inspector's account.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct InspectorForm {
    pub login: String,
    pub full_name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub purpose: String,
    pub days: u32,
}

/// The environment's reports.
#[derive(Debug, serde::Serialize)]
pub struct Reports {
    pub since: Timestamp,
    /// Accounts per role (an account with several roles counts once for each) and status.
    pub by_role: Vec<RoleRow>,
    pub total_accounts: i64,
    pub sign_ins: Vec<DayCount>,
    pub resource_sign_ins: Vec<DayCount>,
    pub security: Vec<DayCount>,
    pub deprovisioning: DeprovisioningSummary,
}

#[derive(Debug, serde::Serialize)]
pub struct RoleRow {
    pub role: Role,
    /// Counts in the order of `AccountStatus::ALL`.
    pub by_status: Vec<i64>,
    pub total: i64,
}

#[derive(Debug, serde::Serialize)]
pub struct DeprovisioningSummary {
    pub open: usize,
    pub closed_in_time: usize,
    pub violations: usize,
}

/// One person entitled to a library system.
#[derive(Debug, serde::Serialize)]
pub struct Entitled {
    pub login: String,
    pub full_name: String,
    pub roles: Roles,
    pub study_group: Option<String>,
    pub department: Option<String>,
    pub email: Option<String>,
}

fn bounded(field: &'static str, value: &str, max: usize, required: bool) -> Result<String, AppError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(AppError::Invalid(format!("{field}: required")));
    }
    if v.chars().count() > max {
        return Err(AppError::Invalid(format!("{field}: at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(AppError::Invalid(format!("{field}: control characters are not allowed")));
    }
    Ok(v.to_owned())
}

fn random_id() -> String {
    use rand::Rng as _;
    let bytes: [u8; 12] = rand::rngs::OsRng.r#gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    /// Refuses (and audits the refusal of) an action the caller's roles do not allow.
    pub async fn require(&self, who: &ConsoleUser, p: Permission, what: &str) -> Result<(), AppError> {
        if who.may(p) {
            return Ok(());
        }
        let detail = format!("permission={} action={what}", serde_json::to_value(p).unwrap_or_default());
        let ev = self.audit(&who.actor.name, "console.denied", None, who.actor.ip.as_deref(), detail);
        self.store.commit(vec![Change::InsertAudit(crate::domain::journal::AuditEvent { outcome: "denied", ..ev })]).await?;
        Err(AppError::Forbidden)
    }

    /// Audits an attempt the console refused before it reached a use case (a post without
    /// a valid anti-forgery token, an expired second factor).
    pub async fn audit_refused(&self, actor: &str, ip: Option<&str>, why: &str) -> Result<(), AppError> {
        let ev = self.audit(actor, "console.refused", None, ip, why.to_owned());
        self.store.commit(vec![Change::InsertAudit(crate::domain::journal::AuditEvent { outcome: "denied", ..ev })]).await?;
        Ok(())
    }

    pub async fn console_users(&self, who: &ConsoleUser, mut filter: AccountFilter) -> Result<UserPage, AppError> {
        self.require(who, Permission::ViewUsers, "users.list").await?;
        filter.limit = filter.limit.clamp(1, 500);
        let total = self.store.count_accounts(&filter).await?;
        let users = self.store.list_accounts(&filter).await?;
        Ok(UserPage { total, offset: filter.offset, limit: filter.limit, users })
    }

    pub async fn console_user(&self, who: &ConsoleUser, login: &str) -> Result<UserView, AppError> {
        self.require(who, Permission::ViewUsers, "users.view").await?;
        let account = self.account_by_login(login).await?;
        let live_sessions = self.store.list_live_sessions(&account.id).await?.len();
        let restrictions = self.store.list_restrictions(&account.id).await?;
        let sign_ins = self.store.list_sign_ins(&account.id, 20).await?;
        let journal = self.store.list_journal(Some(&account.id), 20).await?;
        let audit = self.store.audit_about(account.login.as_str(), 30).await?;
        let inspector_until = self
            .store
            .list_inspectors()
            .await?
            .into_iter()
            .find(|(r, _)| r.account == account.id)
            .map(|(r, _)| r.expires_at);
        let factor = self.second_factor_status(&account).await?;
        let rules_accepted = self.rule_acceptances(&account.id).await?;
        Ok(UserView {
            live_sessions,
            restrictions,
            sign_ins,
            journal,
            audit,
            inspector_until,
            second_factor_required: factor.required,
            second_factor_enrolled_at: factor.enrolled_at,
            recovery_codes_left: factor.recovery_codes_left,
            rules_accepted,
            account,
        })
    }

    pub async fn console_create_user(
        &self,
        who: &ConsoleUser,
        new: NewAccount,
    ) -> Result<IssuedCredential, AppError> {
        self.require(who, Permission::ManageUsers, "users.create").await?;
        if new.roles.contains(&Role::Inspector) {
            return Err(AppError::Invalid("roles: an inspector's account is made on the inspectors' page".into()));
        }
        self.add_user(&who.actor, new, Channel::InPerson).await
    }

    pub async fn console_set_roles(&self, who: &ConsoleUser, login: &str, roles: Roles) -> Result<Account, AppError> {
        self.require(who, Permission::ManageUsers, "users.roles").await?;
        if roles.contains(Role::Inspector) {
            return Err(AppError::Invalid("roles: an inspector's account is made on the inspectors' page".into()));
        }
        if login == who.account.login.as_str() && !roles.contains(Role::EiosAdmin) && who.account.roles.contains(Role::EiosAdmin)
        {
            return Err(AppError::Invalid("roles: you cannot take the administrator role from yourself".into()));
        }
        self.set_roles(&who.actor, login, roles).await
    }

    pub async fn console_suspend(&self, who: &ConsoleUser, login: &str, reason: &str) -> Result<Account, AppError> {
        self.require(who, Permission::ManageUsers, "users.suspend").await?;
        let reason = bounded("reason", reason, MAX_SHORT, true)?;
        if login == who.account.login.as_str() {
            return Err(AppError::Invalid("you cannot suspend your own account".into()));
        }
        self.suspend(&who.actor, login, &reason).await
    }

    pub async fn console_activate(&self, who: &ConsoleUser, login: &str, reason: &str) -> Result<Account, AppError> {
        self.require(who, Permission::ManageUsers, "users.activate").await?;
        let reason = bounded("reason", reason, MAX_SHORT, true)?;
        self.activate(&who.actor, login, &reason).await
    }

    pub async fn console_unlock(&self, who: &ConsoleUser, login: &str) -> Result<Account, AppError> {
        self.require(who, Permission::ManageSecurity, "users.unlock").await?;
        self.unlock(&who.actor, login).await
    }

    pub async fn console_restore(&self, who: &ConsoleUser, login: &str) -> Result<IssuedCredential, AppError> {
        self.require(who, Permission::ManageSecurity, "users.restore").await?;
        let account = self.account_by_login(login).await?;
        if account.status != AccountStatus::Compromised && account.status != AccountStatus::Locked {
            return Err(AppError::Invalid("only a compromised or locked account is restored".into()));
        }
        self.restore(&who.actor, login, Channel::InPerson).await
    }

    /// Forgets a person's second factor (a lost phone): they enrol again at the next
    /// sign-in, and their sessions end.
    pub async fn console_reset_second_factor(&self, who: &ConsoleUser, login: &str, reason: &str) -> Result<(), AppError> {
        self.require(who, Permission::ManageSecurity, "users.reset_second_factor").await?;
        let reason = bounded("reason", reason, MAX_SHORT, true)?;
        self.reset_second_factor(&who.actor, login, &reason).await
    }

    pub async fn console_reset_password(&self, who: &ConsoleUser, login: &str) -> Result<IssuedCredential, AppError> {
        self.require(who, Permission::ManageUsers, "users.reset_password").await?;
        self.reset_password(&who.actor, login, Channel::InPerson).await
    }

    pub async fn console_restrict(
        &self,
        who: &ConsoleUser,
        login: &str,
        resource: &str,
        reason: &str,
        until: Option<Timestamp>,
    ) -> Result<(), AppError> {
        self.require(who, Permission::ManageUsers, "users.restrict").await?;
        let reason = bounded("reason", reason, MAX_SHORT, true)?;
        self.restrict(&who.actor, login, resource, &reason, until).await.map(|_| ())
    }

    pub async fn console_unrestrict(
        &self,
        who: &ConsoleUser,
        login: &str,
        resource: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        self.require(who, Permission::ManageUsers, "users.unrestrict").await?;
        let reason = bounded("reason", reason, MAX_SHORT, true)?;
        self.unrestrict(&who.actor, login, resource, &reason).await
    }

    /// Registers people from a register file. Rows without a study group get
    /// `study_group`; a dry run reports what would happen.
    pub async fn bulk_register(
        &self,
        who: &ConsoleUser,
        mut rows: Vec<Result<RosterRow, RowError>>,
        study_group: Option<String>,
        dry_run: bool,
        source: &str,
    ) -> Result<ImportReport, AppError> {
        self.require(who, Permission::BulkRegister, "register.bulk").await?;
        let group = match study_group {
            Some(g) => Some(bounded("study_group", &g, 64, false)?).filter(|g| !g.is_empty()),
            None => None,
        };
        if let Some(g) = &group {
            for row in rows.iter_mut().flatten() {
                if row.unit.is_none() && row.role == Role::Student {
                    row.unit = Some(g.clone());
                }
            }
        }
        let opts = ImportOptions { dry_run, full_snapshot: false, strict: true, source: bounded("file", source, 200, false)? };
        self.import_roster(&who.actor, rows, &opts).await
    }

    pub async fn slip_batches(&self, who: &ConsoleUser) -> Result<Vec<SlipBatch>, AppError> {
        self.require(who, Permission::BulkRegister, "slips.list").await?;
        Ok(self.store.slip_batches(100).await?)
    }

    pub async fn slip_batch(&self, who: &ConsoleUser, issued_by: &str, at: Timestamp) -> Result<Vec<SlipRecord>, AppError> {
        self.require(who, Permission::BulkRegister, "slips.view").await?;
        let batch = self.store.slip_batch(issued_by, at).await?;
        if batch.is_empty() {
            return Err(AppError::NotFound("batch"));
        }
        Ok(batch)
    }

    /// Marks slips as handed over, each once, in one transaction with an audit line each.
    /// A line marked already or not of channel `slip` fails the whole mark.
    pub async fn mark_handed_over(&self, who: &ConsoleUser, seqs: &[i64]) -> Result<usize, AppError> {
        self.require(who, Permission::BulkRegister, "slips.hand_over").await?;
        if seqs.is_empty() {
            return Err(AppError::Invalid("choose at least one slip".into()));
        }
        let now = self.clock.now();
        let mut changes = Vec::with_capacity(seqs.len() * 2);
        for &seq in seqs {
            changes.push(Change::Console(ConsoleChange::MarkHandedOver {
                journal_seq: seq,
                at: now,
                by: who.actor.name.clone(),
            }));
            changes.push(Change::InsertAudit(self.audit(
                &who.actor.name,
                "journal.handed_over",
                None,
                who.actor.ip.as_deref(),
                format!("journal_seq={seq}"),
            )));
        }
        match self.store.commit(changes).await {
            Ok(()) => Ok(seqs.len()),
            Err(crate::ports::StoreError::NotFound(_)) => {
                Err(AppError::Invalid("a slip is unknown or was already marked as handed over".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// the public form. The login is kept as typed and never looked up, so the
    /// answer is the same for any login.
    pub async fn file_request(&self, form: RequestForm, ip: Option<&str>) -> Result<String, AppError> {
        let login = bounded("login", &form.login, 64, true)?;
        let full_name = bounded("full_name", &form.full_name, MAX_SHORT, true)?;
        let contact = bounded("contact", &form.contact, MAX_SHORT, true)?;
        let message = bounded("message", &form.message, MAX_LONG, false)?;
        let now = self.clock.now();
        let id = random_id();
        let request = AccessRequest {
            id: id.clone(),
            created_at: now,
            login,
            full_name,
            contact,
            message,
            ip: ip.map(str::to_owned),
            status: RequestStatus::New,
            assignee: None,
            outcome: None,
            updated_at: now,
        };
        let audit = self.audit("anonymous", "request.file", None, ip, format!("request={id}"));
        self.store.commit(vec![Change::Console(ConsoleChange::InsertRequest(request)), Change::InsertAudit(audit)]).await?;
        Ok(id)
    }

    pub async fn requests(&self, who: &ConsoleUser, all: bool) -> Result<Vec<AccessRequest>, AppError> {
        self.require(who, Permission::HandleRequests, "requests.list").await?;
        Ok(self.store.list_requests(all, 500).await?)
    }

    /// Takes a new request, or closes one in progress with an outcome (done or rejected).
    pub async fn move_request(
        &self,
        who: &ConsoleUser,
        id: &str,
        to: RequestStatus,
        outcome: &str,
    ) -> Result<AccessRequest, AppError> {
        self.require(who, Permission::HandleRequests, "requests.update").await?;
        let current = self.store.find_request(id).await?.ok_or(AppError::NotFound("request"))?;
        let outcome = bounded("outcome", outcome, MAX_LONG, !to.is_open())?;
        let allowed = matches!(
            (current.status, to),
            (RequestStatus::New, RequestStatus::InProgress)
                | (RequestStatus::New | RequestStatus::InProgress, RequestStatus::Done | RequestStatus::Rejected)
        );
        if !allowed {
            return Err(AppError::Invalid(format!(
                "a request that is {} cannot become {}",
                current.status.as_str(),
                to.as_str()
            )));
        }
        let now = self.clock.now();
        let change = ConsoleChange::UpdateRequest {
            id: id.to_owned(),
            from: current.status,
            to,
            assignee: Some(who.actor.name.clone()),
            outcome: Some(outcome.clone()).filter(|o| !o.is_empty()),
            at: now,
        };
        let audit = self.audit(
            &who.actor.name,
            "request.update",
            None,
            who.actor.ip.as_deref(),
            format!("request={id} status={} outcome={outcome}", to.as_str()),
        );
        match self.store.commit(vec![Change::Console(change), Change::InsertAudit(audit)]).await {
            Ok(()) => {}
            Err(crate::ports::StoreError::NotFound(_)) => {
                return Err(AppError::Invalid("the request was changed by someone else; reload the page".into()));
            }
            Err(e) => return Err(e.into()),
        }
        self.store.find_request(id).await?.ok_or(AppError::NotFound("request"))
    }

    pub async fn announce(&self, who: &ConsoleUser, form: AnnouncementForm) -> Result<Announcement, AppError> {
        self.require(who, Permission::ManageNotices, "notices.create").await?;
        let text_ru = bounded("text_ru", &form.text_ru, MAX_LONG, true)?;
        let text_en = bounded("text_en", &form.text_en, MAX_LONG, false)?;
        let mut audience = Vec::new();
        for a in &form.audience {
            let role: Role = a.parse().map_err(|e: crate::domain::account::UnknownRole| AppError::Invalid(e.to_string()))?;
            audience.push(role.as_str().to_owned());
        }
        audience.sort();
        audience.dedup();
        if form.kind == AnnouncementKind::SignInNotice && !audience.is_empty() {
            return Err(AppError::Invalid(
                "audience: a notice to acknowledge before sign-in is for everyone (nobody is known yet)".into(),
            ));
        }
        let now = self.clock.now();
        if form.ends_at <= form.starts_at {
            return Err(AppError::Invalid("ends_at: must be after starts_at".into()));
        }
        if form.ends_at <= now {
            return Err(AppError::Invalid("ends_at: must be in the future".into()));
        }
        let a = Announcement {
            id: random_id(),
            kind: form.kind,
            text_ru,
            text_en,
            audience,
            starts_at: form.starts_at,
            ends_at: form.ends_at,
            created_by: who.actor.name.clone(),
            created_at: now,
            withdrawn_at: None,
        };
        let audit = self.audit(
            &who.actor.name,
            "notice.create",
            None,
            who.actor.ip.as_deref(),
            format!("notice={} kind={} audience={}", a.id, a.kind.as_str(), a.audience.join(",")),
        );
        self.store.commit(vec![Change::Console(ConsoleChange::InsertAnnouncement(a.clone())), Change::InsertAudit(audit)]).await?;
        Ok(a)
    }

    pub async fn withdraw_announcement(&self, who: &ConsoleUser, id: &str) -> Result<(), AppError> {
        self.require(who, Permission::ManageNotices, "notices.withdraw").await?;
        let now = self.clock.now();
        let audit = self.audit(&who.actor.name, "notice.withdraw", None, who.actor.ip.as_deref(), format!("notice={id}"));
        self.store
            .commit(vec![
                Change::Console(ConsoleChange::WithdrawAnnouncement { id: id.to_owned(), at: now }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(())
    }

    pub async fn console_announcements(&self, who: &ConsoleUser) -> Result<Vec<Announcement>, AppError> {
        self.require(who, Permission::ManageNotices, "notices.list").await?;
        Ok(self.store.list_announcements(self.clock.now(), 200).await?)
    }

    /// Announcements in force for someone with `roles` (`None`: not signed in, so only
    /// those for everyone).
    pub async fn announcements_for(&self, roles: Option<&Roles>) -> Result<Vec<Announcement>, AppError> {
        let all = self.store.current_announcements(self.clock.now()).await?;
        Ok(all
            .into_iter()
            .filter(|a| {
                a.audience.is_empty()
                    || roles.is_some_and(|r| r.iter().any(|role| a.audience.iter().any(|x| x == role.as_str())))
            })
            .collect())
    }

    pub async fn reports(&self, who: &ConsoleUser, days: u32) -> Result<Reports, AppError> {
        self.require(who, Permission::ViewReports, "reports.view").await?;
        let days = days.clamp(1, 366);
        let now = self.clock.now();
        let since = Timestamp::from_millis((now.as_millis() / 86_400_000 - i64::from(days) + 1) * 86_400_000);
        let counts = self.store.count_by_roles_and_status().await?;
        let mut by_role: BTreeMap<Role, Vec<i64>> = BTreeMap::new();
        let mut total_accounts = 0;
        for c in &counts {
            total_accounts += c.count;
            let roles = Roles::parse_csv(&c.roles).unwrap_or_default();
            let i = AccountStatus::ALL.iter().position(|s| *s == c.status).unwrap_or(0);
            for r in roles.iter() {
                by_role.entry(r).or_insert_with(|| vec![0; AccountStatus::ALL.len()])[i] += c.count;
            }
        }
        let by_role = Role::ALL
            .into_iter()
            .map(|role| {
                let by_status = by_role.remove(&role).unwrap_or_else(|| vec![0; AccountStatus::ALL.len()]);
                RoleRow { role, total: by_status.iter().sum(), by_status }
            })
            .collect();
        let compliance = self.compliance_report().await?;
        let deprovisioning = DeprovisioningSummary {
            open: compliance.open_cases,
            closed_in_time: compliance
                .cases
                .iter()
                .filter(|c| c.case.closed_at.is_some() && c.violations.is_empty())
                .count(),
            violations: compliance.violations,
        };
        Ok(Reports {
            since,
            by_role,
            total_accounts,
            sign_ins: self.store.sign_ins_per_day(since).await?,
            resource_sign_ins: self.store.resource_sign_ins_per_day(since).await?,
            security: self.store.security_events_per_day(since).await?,
            deprovisioning,
        })
    }

    /// The library systems of the catalogue (resources with the `library` audience).
    pub fn library_systems(&self) -> Vec<crate::policy::Resource> {
        self.policies().catalogue().iter().filter(|r| r.audience.iter().any(|a| a == "library")).cloned().collect()
    }

    /// Everyone the policies let reach `resource` now: every account is decided
    /// with the same function as a sign-in, its decision cached by what the policies can
    /// see (roles, group, department, status) unless the account has restrictions.
    pub async fn library_list(&self, who: &ConsoleUser, resource: &str) -> Result<Vec<Entitled>, AppError> {
        self.require(who, Permission::ViewLibraryList, "library.list").await?;
        let id = ResourceId::parse(resource).map_err(|_| AppError::NotFound("resource"))?;
        if !self.library_systems().iter().any(|r| r.id == id) {
            return Err(AppError::NotFound("resource"));
        }
        let policies = self.policies();
        let now = self.clock.now();
        let mut cache: HashMap<(String, Option<String>, Option<String>), bool> = HashMap::new();
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let batch = self.store.accounts_after(&after, 2000).await?;
            let Some(last) = batch.last() else { break };
            after = last.login.as_str().to_owned();
            for a in batch {
                if a.status != AccountStatus::Active || a.roles.is_empty() {
                    continue;
                }
                let key = (a.roles.to_csv(), a.study_group.clone(), a.department.clone());
                let restrictions = self.store.list_restrictions(&a.id).await?;
                let allowed = if restrictions.is_empty() {
                    match cache.get(&key) {
                        Some(&v) => v,
                        None => {
                            let v = policies.decide(&crate::policy::Subject::new(&a, &[]), &id, now).allowed;
                            cache.insert(key, v);
                            v
                        }
                    }
                } else {
                    policies.decide(&crate::policy::Subject::new(&a, &restrictions), &id, now).allowed
                };
                if allowed {
                    out.push(Entitled {
                        login: a.login.as_str().to_owned(),
                        full_name: a.full_name,
                        roles: a.roles,
                        study_group: a.study_group,
                        department: a.department,
                        email: a.email,
                    });
                }
            }
        }
        Ok(out)
    }

    /// D-11: a read-only account for an external inspector, ending after `days` (at most
    /// 30). Its credential is handed over in person and journaled.
    pub async fn create_inspector(&self, who: &ConsoleUser, form: InspectorForm) -> Result<IssuedCredential, AppError> {
        self.require(who, Permission::ManageInspectors, "inspectors.create").await?;
        if form.days == 0 || form.days > INSPECTOR_MAX_DAYS {
            return Err(AppError::Invalid(format!("days: from 1 to {INSPECTOR_MAX_DAYS}")));
        }
        let purpose = bounded("purpose", &form.purpose, MAX_SHORT, true)?;
        let new = NewAccount {
            login: form.login,
            full_name: form.full_name,
            email: form.email.filter(|e| !e.trim().is_empty()),
            roles: vec![Role::Inspector],
            ..NewAccount::default()
        };
        let issued = self.add_user(&who.actor, new, Channel::InPerson).await?;
        let now = self.clock.now();
        let record = InspectorRecord {
            account: issued.account.id.clone(),
            purpose: purpose.clone(),
            expires_at: now.saturating_add(std::time::Duration::from_secs(u64::from(form.days) * 86_400)),
            created_by: who.actor.name.clone(),
            created_at: now,
            expired_at: None,
        };
        let audit = self.audit(
            &who.actor.name,
            "inspector.create",
            Some(issued.account.login.as_str()),
            who.actor.ip.as_deref(),
            format!("days={} purpose={purpose}", form.days),
        );
        if let Err(e) =
            self.store.commit(vec![Change::Console(ConsoleChange::InsertInspector(record)), Change::InsertAudit(audit)]).await
        {
            // The account exists without its end date: block it rather than leave it open.
            let _ = self
                .store
                .commit(vec![Change::UpdateStatus { id: issued.account.id.clone(), status: AccountStatus::Blocked, at: now }])
                .await;
            return Err(e.into());
        }
        Ok(issued)
    }

    pub async fn inspectors(&self, who: &ConsoleUser) -> Result<Vec<(InspectorRecord, Account)>, AppError> {
        self.require(who, Permission::ManageInspectors, "inspectors.list").await?;
        Ok(self.store.list_inspectors().await?)
    }

    /// Ends the inspectors' accounts whose time is up: blocked, sessions and tokens ended,
    /// in one transaction each. Run by the scheduler every minute.
    pub async fn expire_inspectors(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let due = self.store.due_inspectors(now).await?;
        let mut n = 0;
        for r in due {
            let Some(account) = self.store.find_account(&r.account).await? else { continue };
            let mut changes = vec![
                Change::Console(ConsoleChange::ExpireInspector { account: r.account.clone(), at: now }),
                Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Blocked, at: now },
            ];
            changes.extend(self.end_sessions_changes(&account.id, None, EndReason::AccountDisabled, now).await?);
            changes.push(Change::InsertAudit(self.audit(
                "system",
                "inspector.expire",
                Some(account.login.as_str()),
                None,
                format!("expires_at={}", r.expires_at.as_millis()),
            )));
            match self.store.commit(changes).await {
                Ok(()) => n += 1,
                // Another node ended it first.
                Err(crate::ports::StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    /// The audit log for the console: a page of entries with filters.
    pub async fn console_audit(
        &self,
        who: &ConsoleUser,
        q: &crate::ports::audit::AuditQuery,
    ) -> Result<super::audit::Page<crate::ports::audit::AuditEntry>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.audit").await?;
        self.list_audit_entries(q).await
    }

    /// The credential journal for the console: a page of entries with filters.
    pub async fn console_journal(
        &self,
        who: &ConsoleUser,
        q: &crate::ports::audit::JournalQuery,
    ) -> Result<super::audit::Page<crate::ports::audit::JournalLine>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.journal").await?;
        self.list_journal_entries(q).await
    }

    /// Checks both chains; the check itself is audited.
    pub async fn console_verify(&self, who: &ConsoleUser) -> Result<Vec<super::audit::ChainReport>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.verify").await?;
        let reports = self.verify_journals().await?;
        let detail = reports
            .iter()
            .map(|r| format!("{}={}", r.log.as_str(), if r.intact { "intact" } else { "broken" }))
            .collect::<Vec<_>>()
            .join(" ");
        let ev = self.audit(&who.actor.name, "audit.verify", None, who.actor.ip.as_deref(), detail);
        self.store.commit(vec![Change::InsertAudit(ev)]).await?;
        Ok(reports)
    }

    /// Exports one log for a period (the export is audited by `export_journal`).
    pub async fn console_export(
        &self,
        who: &ConsoleUser,
        log: crate::domain::chain::ChainLog,
        from: Timestamp,
        to: Timestamp,
        format: super::audit::ExportFormat,
    ) -> Result<Vec<u8>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.export").await?;
        let mut out: Vec<u8> = Vec::new();
        self.export_journal(&who.actor, log, from, to, format, &mut out).await?;
        Ok(out)
    }
}
