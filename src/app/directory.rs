//! Accounts kept in an external directory (`directory.kind = "ldap"`): the password check
//! at sign-in becomes a bind, the entry is synchronised into the store (at sign-in and on
//! a schedule) so sessions, policies and reports keep working off the store, and every
//! status change propusk makes is owed to the directory as a queued write.
//!
//! The write-back queue (`directory_outbox`) is written in the transaction of the status
//! change that causes it and applied by [`App::deliver_directory_writes`], leased in the
//! store like mail, retried with growing pauses until the directory confirms, and every
//! outcome recorded: a directory that is down receives the change when it returns.

use std::time::Duration;

use super::{App, AppError};
use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::{AccountId, Login};
use crate::domain::password::Password;
use crate::domain::time::Timestamp;
use crate::ports::directory::{BindOutcome, DirectoryChange, DirectoryEntry, DirectoryError, DirectoryWrite};
use crate::ports::{Change, StoreError};

/// Attempts before a write is given up (about a day of retries).
pub const MAX_DIRECTORY_ATTEMPTS: u32 = 30;
const LEASE: Duration = Duration::from_secs(120);
/// The stored "password hash" of an account whose password lives in the directory: no
/// argon2 string, so the embedded check can never accept anything for it.
pub(crate) const DIRECTORY_PASSWORD: &str = "!directory";

/// What the directory said about a sign-in, in the terms `sign_in` needs.
pub(crate) enum DirectoryVerdict {
    Right,
    Wrong,
    /// Right password, expired under the directory's policy.
    Expired,
}

/// What a sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Entries whose login is not a valid propusk login.
    pub skipped: usize,
}

impl From<DirectoryError> for AppError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Unavailable(why) => AppError::DirectoryUnavailable(why),
            DirectoryError::NotFound(_) => AppError::NotFound("directory entry"),
            DirectoryError::Refused(why) => AppError::Invalid(format!("the directory refused: {why}")),
        }
    }
}

impl App {
    /// The queued write that brings the directory's own lock in line with `status`, when
    /// accounts live in an external directory.
    pub(crate) fn directory_write(&self, login: &Login, status: AccountStatus, at: Timestamp) -> Option<Change> {
        self.directory.external()?;
        let action = if status == AccountStatus::Active { "enable" } else { "disable" };
        Some(Change::Directory(DirectoryChange::QueueWrite { login: login.clone(), action, at }))
    }

    /// Checks a password by binding to the directory; on a bind that reached an entry,
    /// the entry is written to the store first, so `account` is what the store now holds
    /// (a failure then counts towards the lock like any other).
    pub(crate) async fn verify_in_directory(
        &self,
        login: Option<&Login>,
        password: &Password,
        account: &mut Option<Account>,
        lock_ended: bool,
    ) -> Result<DirectoryVerdict, AppError> {
        let (Some(dir), Some(login)) = (self.directory.external(), login) else {
            return Ok(DirectoryVerdict::Wrong);
        };
        // A lock of propusk's that has run out is lifted in the directory before the bind,
        // or the directory would refuse the person propusk now lets try.
        if lock_ended {
            dir.set_disabled(login, false).await?;
        }
        let outcome = match dir.authenticate(login, password).await {
            Ok(o) => o,
            Err(DirectoryError::Refused(why)) => {
                tracing::error!(%login, %why, "directory refused the sign-in lookup");
                return Ok(DirectoryVerdict::Wrong);
            }
            Err(e) => return Err(e.into()),
        };
        let (entry, verdict) = match outcome {
            BindOutcome::Unknown => return Ok(DirectoryVerdict::Wrong),
            BindOutcome::Authenticated(e) => (e, DirectoryVerdict::Right),
            BindOutcome::PasswordExpired(e) => (e, DirectoryVerdict::Expired),
            // The directory's own lock: answered like a wrong password (no enumeration).
            BindOutcome::WrongPassword(e) | BindOutcome::Disabled(e) => (e, DirectoryVerdict::Wrong),
        };
        *account = Some(self.sync_entry(login, &entry, account.take()).await?.0);
        Ok(verdict)
    }

    /// Writes `entry` to the store: a new account, or the existing one's profile and
    /// roles when they differ. Returns the account and whether it was created.
    async fn sync_entry(
        &self,
        login: &Login,
        entry: &DirectoryEntry,
        existing: Option<Account>,
    ) -> Result<(Account, Option<bool>), AppError> {
        let now = self.clock.now();
        let Some(mut a) = existing else {
            let account = Account {
                id: AccountId::generate(now.as_millis(), &mut rand::rngs::OsRng),
                login: login.clone(),
                full_name: entry.full_name.clone(),
                email: entry.email.clone(),
                roles: entry.roles.clone(),
                study_group: entry.study_group.clone(),
                department: entry.department.clone(),
                external_id: entry.external_id.clone(),
                status: AccountStatus::Active,
                password_must_change: false,
                password_expires_at: None,
                created_at: now,
                updated_at: now,
            };
            let audit =
                self.audit("directory", "account.create", Some(login.as_str()), None, format!("dn={}", entry.dn));
            let insert = Change::InsertAccount { account: account.clone(), password_hash: DIRECTORY_PASSWORD.into() };
            match self.store.commit(vec![insert, Change::InsertAudit(audit)]).await {
                Ok(()) => return Ok((account, Some(true))),
                // Another node or request created it first: update that one.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let a = self.store.find_account_secret(login).await?.ok_or(AppError::NotFound("account"))?.account;
            return Box::pin(self.sync_entry(login, entry, Some(a))).await;
        };
        let same = a.full_name == entry.full_name
            && a.email == entry.email
            && a.roles == entry.roles
            && a.study_group == entry.study_group
            && a.department == entry.department
            && a.external_id == entry.external_id;
        if same {
            return Ok((a, None));
        }
        let detail = format!("roles {} -> {}", a.roles.to_csv(), entry.roles.to_csv());
        a.full_name.clone_from(&entry.full_name);
        a.email.clone_from(&entry.email);
        a.roles = entry.roles.clone();
        a.study_group.clone_from(&entry.study_group);
        a.department.clone_from(&entry.department);
        a.external_id.clone_from(&entry.external_id);
        a.updated_at = now;
        let audit = self.audit("directory", "account.change", Some(login.as_str()), None, detail);
        let change = Change::Directory(DirectoryChange::UpdateProfile { account: a.clone() });
        self.store.commit(vec![change, Change::InsertAudit(audit)]).await?;
        Ok((a, Some(false)))
    }

    /// Brings every entry of the directory into the store (on a schedule, and by
    /// `propusk directory sync`). Entries gone from the directory are left to the
    /// deprovisioning rules; a login propusk cannot accept is skipped and logged.
    pub async fn sync_directory(&self) -> Result<SyncReport, AppError> {
        let Some(dir) = self.directory.external() else { return Ok(SyncReport::default()) };
        let mut report = SyncReport::default();
        for entry in dir.list_entries().await? {
            let Ok(login) = Login::parse(&entry.login) else {
                tracing::warn!(dn = %entry.dn, "directory entry skipped: its login is not a valid propusk login");
                report.skipped += 1;
                continue;
            };
            let existing = self.store.find_account_secret(&login).await?.map(|s| s.account);
            match self.sync_entry(&login, &entry, existing).await?.1 {
                Some(true) => report.created += 1,
                Some(false) => report.updated += 1,
                None => report.unchanged += 1,
            }
        }
        tracing::info!(?report, "directory synchronised");
        Ok(report)
    }

    /// Sets the person's password in the directory (RFC 3062), as the person.
    pub(crate) async fn change_directory_password(
        &self,
        login: &Login,
        current: &Password,
        new: &Password,
    ) -> Result<bool, AppError> {
        let Some(dir) = self.directory.external() else { return Ok(false) };
        match dir.set_password(login, Some(current), new).await {
            Ok(()) => Ok(true),
            Err(DirectoryError::Refused(why)) => {
                tracing::info!(%login, %why, "directory refused the password change");
                Err(AppError::WrongCurrentPassword)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the due write-backs; returns how many the directory confirmed.
    pub async fn deliver_directory_writes(&self) -> Result<usize, AppError> {
        let Some(dir) = self.directory.external() else { return Ok(0) };
        let now = self.clock.now();
        let mut done = 0;
        for w in self.store.list_due_directory_writes(now, 50).await? {
            let claim = DirectoryChange::ClaimWrite { id: w.id, now, until: now.saturating_add(LEASE) };
            match self.store.commit(vec![Change::Directory(claim)]).await {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let login = Login::from_stored(w.login.clone());
            let result = dir.set_disabled(&login, w.action == "disable").await;
            let at = self.clock.now();
            let attempts = w.attempts + 1;
            let change = match result {
                Ok(()) => {
                    done += 1;
                    tracing::info!(write = w.id, login = %w.login, action = w.action, "directory write applied");
                    DirectoryChange::WriteDone { id: w.id, attempts, at }
                }
                Err(e) => {
                    // An entry that is not there (or not unique) will not appear by waiting.
                    let retry = matches!(e, DirectoryError::Unavailable(_)) && attempts < MAX_DIRECTORY_ATTEMPTS;
                    let next = retry.then(|| at.saturating_add(backoff(attempts)));
                    tracing::warn!(write = w.id, login = %w.login, attempts, retry, error = %e, "directory write failed");
                    DirectoryChange::WriteFailed { id: w.id, attempts, next_attempt_at: next, error: e.to_string(), at }
                }
            };
            self.store.commit(vec![Change::Directory(change)]).await?;
        }
        Ok(done)
    }

    /// The directory's background work: every second the queued write-backs; every
    /// `sync_interval` (and once at start) a full sync into the store. Returns at once
    /// for the embedded store.
    pub async fn directory_worker(self, sync_interval: Option<Duration>) {
        if !self.directory.is_external() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_sync = sync_interval.map(|_| tokio::time::Instant::now());
        loop {
            tick.tick().await;
            if let Err(e) = self.deliver_directory_writes().await {
                tracing::warn!(error = %e, "directory write-back queue not processed");
            }
            if let (Some(at), Some(every)) = (next_sync, sync_interval) {
                if tokio::time::Instant::now() >= at {
                    if let Err(e) = self.sync_directory().await {
                        tracing::warn!(error = %e, "directory sync failed; trying again later");
                    }
                    next_sync = Some(tokio::time::Instant::now() + every);
                }
            }
        }
    }

    pub async fn list_directory_writes(&self, limit: u32) -> Result<Vec<DirectoryWrite>, AppError> {
        Ok(self.store.list_directory_writes(limit).await?)
    }
}

/// The pause before attempt `attempts + 1`: 5 s, doubling, at most an hour.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << attempts.saturating_sub(1).min(10)).min(3600))
}
