//! The environment's reports, the library list and the journals in the
//! console.

use super::*;

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

impl App {
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
        let restricted = self.store.all_restrictions().await?;
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
                let restrictions = restricted.get(&a.id).map(Vec::as_slice).unwrap_or(&[]);
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
                    policies.decide(&crate::policy::Subject::new(&a, restrictions), &id, now).allowed
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

    /// The audit log for the console: a page of entries with filters.
    pub async fn console_audit(
        &self,
        who: &ConsoleUser,
        q: &crate::ports::audit::AuditQuery,
    ) -> Result<crate::app::audit::Page<crate::ports::audit::AuditEntry>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.audit").await?;
        self.list_audit_entries(q).await
    }

    /// The credential journal for the console: a page of entries with filters.
    pub async fn console_journal(
        &self,
        who: &ConsoleUser,
        q: &crate::ports::audit::JournalQuery,
    ) -> Result<crate::app::audit::Page<crate::ports::audit::JournalLine>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.journal").await?;
        self.list_journal_entries(q).await
    }

    /// Checks both chains; the check itself is audited.
    pub async fn console_verify(&self, who: &ConsoleUser) -> Result<Vec<crate::app::audit::ChainReport>, AppError> {
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
        format: crate::app::audit::ExportFormat,
    ) -> Result<Vec<u8>, AppError> {
        self.require(who, Permission::ViewJournals, "journals.export").await?;
        let mut out: Vec<u8> = Vec::new();
        self.export_journal(&who.actor, log, from, to, format, &mut out).await?;
        Ok(out)
    }
}
