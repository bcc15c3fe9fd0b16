//! Inspectors' read-only accounts that end by themselves (D-11).

use super::*;

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

impl App {
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
        if let Err(e) = self
            .store
            .commit(vec![Change::Console(ConsoleChange::InsertInspector(record)), Change::InsertAudit(audit)])
            .await
        {
            // The account exists without its end date: block it rather than leave it open.
            let _ = self
                .store
                .commit(vec![Change::UpdateStatus {
                    id: issued.account.id.clone(),
                    status: AccountStatus::Blocked,
                    at: now,
                }])
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
}
