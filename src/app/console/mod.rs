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

mod inspectors;
mod notices;
mod reports;

pub use inspectors::InspectorForm;
pub use notices::{AnnouncementForm, RequestForm};
pub use reports::{DeprovisioningSummary, Entitled, Reports, RoleRow};

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
    pub sessions: Vec<SessionSummary>,
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

/// One of a person's live sessions, as the console shows it (never its token or handle).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionSummary {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub second_factor_at: Option<Timestamp>,
}

/// A page of people.
#[derive(Debug, serde::Serialize)]
pub struct UserPage {
    pub total: i64,
    pub offset: u32,
    pub limit: u32,
    pub users: Vec<Account>,
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
        self.store
            .commit(vec![Change::InsertAudit(crate::domain::journal::AuditEvent { outcome: "denied", ..ev })])
            .await?;
        Err(AppError::Forbidden)
    }

    /// Audits an attempt the console refused before it reached a use case (a post without
    /// a valid anti-forgery token, an expired second factor).
    pub async fn audit_refused(&self, actor: &str, ip: Option<&str>, why: &str) -> Result<(), AppError> {
        let ev = self.audit(actor, "console.refused", None, ip, why.to_owned());
        self.store
            .commit(vec![Change::InsertAudit(crate::domain::journal::AuditEvent { outcome: "denied", ..ev })])
            .await?;
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
        let now = self.clock.now();
        let sessions: Vec<SessionSummary> = self
            .store
            .list_live_sessions(&account.id)
            .await?
            .into_iter()
            .filter(|r| r.times.ended_at(now).is_none())
            .map(|r| SessionSummary {
                created_at: r.times.created_at,
                last_seen_at: r.times.last_seen_at,
                ip: r.ip,
                user_agent: r.user_agent,
                second_factor_at: r.second_factor_at,
            })
            .collect();
        let live_sessions = sessions.len();
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
            sessions,
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

    pub async fn console_create_user(&self, who: &ConsoleUser, new: NewAccount) -> Result<IssuedCredential, AppError> {
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
        if login == who.account.login.as_str()
            && !roles.contains(Role::EiosAdmin)
            && who.account.roles.contains(Role::EiosAdmin)
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
    pub async fn console_reset_second_factor(
        &self,
        who: &ConsoleUser,
        login: &str,
        reason: &str,
    ) -> Result<(), AppError> {
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
        let opts =
            ImportOptions { dry_run, full_snapshot: false, strict: true, source: bounded("file", source, 200, false)? };
        self.import_roster(&who.actor, rows, &opts).await
    }

    pub async fn slip_batches(&self, who: &ConsoleUser) -> Result<Vec<SlipBatch>, AppError> {
        self.require(who, Permission::BulkRegister, "slips.list").await?;
        Ok(self.store.slip_batches(100).await?)
    }

    pub async fn slip_batch(
        &self,
        who: &ConsoleUser,
        issued_by: &str,
        at: Timestamp,
    ) -> Result<Vec<SlipRecord>, AppError> {
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
}
