//! The second factor of administrative roles (D-5): the step between a right password
//! and a session, enrolment, recovery codes, re-enrolment and the administrative reset.
//!
//! After the right password of an account with an administrative role no session is
//! made. A *pending sign-in* is stored instead (a random token in a cookie, only its
//! SHA-256 kept; five minutes; used once), so any node can continue it. An enrolled
//! account is asked for a code or a recovery code; an account without a second factor
//! enrols first (a proposed secret waits, sealed, in the pending row until a code
//! confirms it, then ten recovery codes are shown once). Nothing of this is reached
//! before the password is right, so it tells nobody which accounts have a second factor.
//! A wrong code is a failure for the lockout (D-1) like a wrong password, and a lock
//! refuses the code step too.

use std::time::Duration;

use rand::RngCore as _;

use super::oidc::{random_token, token_hash};
use super::sign_in::{DeviceToken, SignedIn};
use super::{Actor, App, AppError, CurrentSession};
use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::{AccountId, Login};
use crate::domain::lockout::network_of;
use crate::domain::session::{EndReason, SignInOutcome};
use crate::domain::time::Timestamp;
use crate::domain::totp::{self, RECOVERY_CODES, RecoveryCode, SECRET_BYTES, TotpSecret};
use crate::ports::second_factor::{PendingSignIn, PendingStage, SecondFactorRecord};
use crate::ports::{Change, SecondFactorChange, SignInRecord};

/// How long a pending sign-in may wait for its second factor.
pub const PENDING_TTL: Duration = Duration::from_secs(5 * 60);
/// The name authenticator apps show beside the login.
pub const TOTP_ISSUER: &str = "propusk";

/// A pending sign-in handed to the browser: the cookie value (shown nowhere else) and
/// what is asked next.
pub struct PendingStep {
    pub token: String,
    pub stage: PendingStage,
}

impl std::fmt::Debug for PendingStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingStep").field("token", &"<redacted>").field("stage", &self.stage).finish()
    }
}

/// What an enrolment page shows: the key for manual entry and the `otpauth://` address
/// for the QR code. `Debug` shows neither.
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
    /// On the account page: the proposal, sealed to this session, sent back with the code.
    pub proposal: Option<String>,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

/// A live pending sign-in as a page needs it.
#[derive(Debug)]
pub struct PendingView {
    pub login: Login,
    /// Where the sign-in continues (the sign-in form's `next`).
    pub next: String,
    pub stage: PendingStage,
    pub enrolment: Option<Enrolment>,
}

/// The answer to a code typed at sign-in.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per sign-in, moved once
pub enum CodeOutcome {
    /// Signed in: the session, the device token to keep, and where to go.
    Done(SignedIn, Option<DeviceToken>, String),
    /// Enrolled: the recovery codes, to show once.
    Enrolled(Vec<RecoveryCode>),
    /// Not the code (the failure is counted).
    Wrong,
}

/// An account's second factor, for the account page and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorStatus {
    /// Whether the account's roles require one (D-5).
    pub required: bool,
    pub enrolled_at: Option<Timestamp>,
    pub recovery_codes_left: usize,
}

fn context(account: &AccountId) -> String {
    format!("totp:{}", account.as_str())
}

fn proposal_context(s: &CurrentSession) -> String {
    format!("totp-proposal:{}:{}", s.account.id.as_str(), s.hash.as_str())
}

fn pending_hash(token: &str) -> String {
    token_hash(&format!("propusk pending sign-in\0{token}"))
}

fn new_recovery_codes() -> Vec<RecoveryCode> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut b = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut b);
            RecoveryCode::from_random(b)
        })
        .collect()
}

impl App {
    /// After the right password of an administrative account: stores a pending sign-in
    /// (with a proposed secret when the account has not enrolled yet).
    pub(crate) async fn begin_second_factor(
        &self,
        account: &Account,
        ip: Option<String>,
        user_agent: Option<String>,
        next: &str,
        now: Timestamp,
    ) -> Result<PendingStep, AppError> {
        let enrolled = self.store.find_second_factor(&account.id).await?.is_some();
        let (stage, sealed_secret) = if enrolled {
            (PendingStage::Code, None)
        } else {
            let mut b = [0u8; SECRET_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut b);
            (PendingStage::Enrol, Some(self.seal_secret(&account.id, &TotpSecret::from_random(b))?))
        };
        let token = random_token();
        let pending = PendingSignIn {
            token_hash: pending_hash(&token),
            account_id: account.id.clone(),
            stage,
            sealed_secret,
            next: next.to_owned(),
            ip,
            user_agent,
            created_at: now,
            expires_at: now.saturating_add(PENDING_TTL),
            used_at: None,
        };
        self.store
            .commit(vec![
                Change::SecondFactor(SecondFactorChange::DeleteExpiredPending { before: now }),
                Change::SecondFactor(SecondFactorChange::InsertPending(pending)),
            ])
            .await?;
        Ok(PendingStep { token, stage })
    }

    /// The live pending sign-in behind a cookie value, with its account: unused, not
    /// expired, of an account still active.
    async fn live_pending(&self, token: &str) -> Result<Option<(PendingSignIn, Account)>, AppError> {
        let Some(p) = self.store.find_pending_sign_in(&pending_hash(token)).await? else { return Ok(None) };
        if p.used_at.is_some() || p.expires_at <= self.clock.now() {
            return Ok(None);
        }
        let account = self.store.find_account(&p.account_id).await?;
        Ok(account.filter(|a| matches!(a.status, AccountStatus::Active | AccountStatus::Locked)).map(|a| (p, a)))
    }

    /// What the page of a pending sign-in shows; `None` when there is no live one.
    pub async fn pending_sign_in(&self, token: &str) -> Result<Option<PendingView>, AppError> {
        let Some((p, account)) = self.live_pending(token).await? else { return Ok(None) };
        let enrolment = match (&p.stage, &p.sealed_secret) {
            (PendingStage::Enrol, Some(sealed)) => {
                let secret = self.open_secret(&account.id, sealed)?;
                Some(Enrolment {
                    secret: secret.to_grouped_base32(),
                    uri: totp::otpauth_uri(TOTP_ISSUER, account.login.as_str(), &secret),
                    proposal: None,
                })
            }
            _ => None,
        };
        Ok(Some(PendingView { login: account.login, next: p.next, stage: p.stage, enrolment }))
    }

    /// A code (or recovery code) typed at sign-in. `Err(NotFound)`: no live pending
    /// sign-in (start again); `Err(InvalidCredentials)`: the account is locked, and the
    /// pending sign-in is gone.
    pub async fn submit_second_factor(
        &self,
        token: &str,
        code: &str,
        device: Option<DeviceToken>,
    ) -> Result<CodeOutcome, AppError> {
        let Some((p, account)) = self.live_pending(token).await? else {
            return Err(AppError::NotFound("pending sign-in"));
        };
        let now = self.clock.now();
        let network = p.ip.as_deref().map(network_of);
        let scope_key = self.lock_scope_key(network.as_deref());
        let lock = self.store.find_lock(&account.id, &scope_key).await?;
        // D-1: a lock refuses the code step too, with the wrong-password answer.
        if lock.is_locked(now) {
            self.forget_pending(&account.id).await?;
            return Err(AppError::InvalidCredentials);
        }
        let login = account.login.as_str().to_owned();
        match p.stage {
            PendingStage::Code => {
                let Some(factor) = self.store.find_second_factor(&account.id).await? else {
                    return Err(AppError::NotFound("pending sign-in"));
                };
                if let Some(mut changes) = self.accept_code(&factor, code, now, p.ip.as_deref()).await? {
                    changes.push(Change::SecondFactor(SecondFactorChange::UsePending {
                        token_hash: p.token_hash.clone(),
                        at: now,
                    }));
                    let (signed, device) = self
                        .grant_session(&account, p.ip.clone(), p.user_agent.clone(), device, Some(now), changes, now)
                        .await?;
                    tracing::info!(login = %login, "second factor passed");
                    return Ok(CodeOutcome::Done(signed, device, p.next));
                }
            }
            PendingStage::Enrol => {
                let sealed = p.sealed_secret.clone().ok_or(AppError::NotFound("pending sign-in"))?;
                let secret = self.open_secret(&account.id, &sealed)?;
                if let Some(step) = totp::verify(&secret, code, now, None) {
                    let codes = new_recovery_codes();
                    let mut changes = self.enrol_changes(&account, sealed, &codes, step, now);
                    changes.push(Change::SecondFactor(SecondFactorChange::AdvancePending {
                        token_hash: p.token_hash.clone(),
                        from: PendingStage::Enrol,
                        to: PendingStage::Saved,
                    }));
                    changes.push(Change::InsertAudit(self.audit(
                        &login,
                        "second_factor.enrol",
                        Some(&login),
                        p.ip.as_deref(),
                        "at=sign-in".into(),
                    )));
                    self.store.commit(changes).await?;
                    return Ok(CodeOutcome::Enrolled(codes));
                }
            }
            PendingStage::Saved => return Err(AppError::NotFound("pending sign-in")),
        }
        self.code_failed(&account, &lock, &scope_key, p.ip.as_deref(), p.user_agent.clone(), now).await?;
        if self.store.find_lock(&account.id, &scope_key).await?.is_locked(now) {
            self.forget_pending(&account.id).await?;
            return Err(AppError::InvalidCredentials);
        }
        Ok(CodeOutcome::Wrong)
    }

    /// "I have saved them": the enrolment at sign-in ends in a session.
    pub async fn finish_enrolment(
        &self,
        token: &str,
        device: Option<DeviceToken>,
    ) -> Result<(SignedIn, Option<DeviceToken>, String), AppError> {
        let Some((p, account)) = self.live_pending(token).await?.filter(|(p, _)| p.stage == PendingStage::Saved) else {
            return Err(AppError::NotFound("pending sign-in"));
        };
        let now = self.clock.now();
        let changes =
            vec![Change::SecondFactor(SecondFactorChange::UsePending { token_hash: p.token_hash.clone(), at: now })];
        let (signed, device) =
            self.grant_session(&account, p.ip.clone(), p.user_agent.clone(), device, Some(now), changes, now).await?;
        Ok((signed, device, p.next))
    }

    /// Checks a TOTP code or a recovery code against an enrolled factor: the changes that
    /// use it (with their audit entry), or `None` when it is neither.
    async fn accept_code(
        &self,
        factor: &SecondFactorRecord,
        code: &str,
        now: Timestamp,
        ip: Option<&str>,
    ) -> Result<Option<Vec<Change>>, AppError> {
        let account = &factor.account_id;
        let login = self.store.find_account(account).await?.map(|a| a.login.as_str().to_owned()).unwrap_or_default();
        if totp::looks_like_totp(code) {
            let secret = self.open_secret(account, &factor.sealed_secret)?;
            return Ok(totp::verify(&secret, code, now, factor.last_step).map(|step| {
                vec![Change::SecondFactor(SecondFactorChange::AcceptStep { account: account.clone(), step })]
            }));
        }
        let Some(typed) = RecoveryCode::parse(code) else { return Ok(None) };
        let hash = typed.hash(account.as_str());
        let codes = self.store.list_recovery_codes(account).await?;
        let unused = codes.iter().filter(|c| c.used_at.is_none());
        let mut hit = false;
        for c in unused.clone() {
            hit |= totp::same_hash(&c.code_hash, &hash);
        }
        if !hit {
            return Ok(None);
        }
        let left = unused.count().saturating_sub(1);
        tracing::info!(login = %login, left, "recovery code used");
        Ok(Some(vec![
            Change::SecondFactor(SecondFactorChange::UseRecoveryCode {
                account: account.clone(),
                code_hash: hash,
                at: now,
            }),
            Change::InsertAudit(self.audit(
                &login,
                "second_factor.recovery_code",
                Some(&login),
                ip,
                format!("left={left}"),
            )),
        ]))
    }

    /// A wrong code: a failure in the sign-in log (counted by the lockout like a wrong
    /// password), an audit entry, and a lock when due (D-1).
    async fn code_failed(
        &self,
        account: &Account,
        lock: &crate::domain::lockout::LockRecord,
        scope_key: &str,
        ip: Option<&str>,
        user_agent: Option<String>,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let network = ip.map(network_of);
        let record = SignInRecord {
            at: now,
            account_id: Some(account.id.clone()),
            login: Some(account.login.as_str().to_owned()),
            ip: ip.map(str::to_owned),
            user_agent,
            network: network.clone(),
            outcome: SignInOutcome::BadCode,
        };
        let login = account.login.as_str();
        let audit = crate::domain::journal::AuditEvent {
            outcome: "failure",
            ..self.audit(login, "second_factor.failure", Some(login), ip, String::new())
        };
        self.store.commit(vec![Change::InsertSignIn(record), Change::InsertAudit(audit)]).await?;
        tracing::info!(login = %login, "wrong second-factor code");
        self.lock_if_due(account, lock, scope_key, network.as_deref(), now).await
    }

    async fn forget_pending(&self, account: &AccountId) -> Result<(), AppError> {
        let change = SecondFactorChange::DeletePendingOf { account: account.clone() };
        Ok(self.store.commit(vec![Change::SecondFactor(change)]).await?)
    }

    fn enrol_changes(
        &self,
        account: &Account,
        sealed_secret: String,
        codes: &[RecoveryCode],
        step: i64,
        now: Timestamp,
    ) -> Vec<Change> {
        vec![
            Change::SecondFactor(SecondFactorChange::Enrol {
                account: account.id.clone(),
                sealed_secret,
                at: now,
                step,
            }),
            Change::SecondFactor(SecondFactorChange::ReplaceRecoveryCodes {
                account: account.id.clone(),
                hashes: codes.iter().map(|c| c.hash(account.id.as_str())).collect(),
                at: now,
            }),
        ]
    }

    fn seal_secret(&self, account: &AccountId, secret: &TotpSecret) -> Result<String, AppError> {
        self.sealer.seal(&context(account), secret.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))
    }

    fn open_secret(&self, account: &AccountId, sealed: &str) -> Result<TotpSecret, AppError> {
        let bytes = self.sealer.open(&context(account), sealed).map_err(|e| AppError::Internal(e.to_string()))?;
        TotpSecret::from_bytes(bytes).ok_or_else(|| AppError::Internal("an empty second-factor secret".into()))
    }

    /// Whether an account has enrolled a second factor and when, and how many recovery
    /// codes are left (for the account page and the console).
    pub async fn second_factor_status(&self, account: &Account) -> Result<SecondFactorStatus, AppError> {
        let factor = self.store.find_second_factor(&account.id).await?;
        let left = match &factor {
            Some(_) => {
                self.store.list_recovery_codes(&account.id).await?.iter().filter(|c| c.used_at.is_none()).count()
            }
            None => 0,
        };
        Ok(SecondFactorStatus {
            required: account.roles.any_administrative(),
            enrolled_at: factor.map(|f| f.enrolled_at),
            recovery_codes_left: left,
        })
    }

    /// [`second_factor_status`](Self::second_factor_status) by login.
    pub async fn second_factor_status_of(&self, login: &str) -> Result<SecondFactorStatus, AppError> {
        let account = self.account_by_login(login).await?;
        self.second_factor_status(&account).await
    }

    /// On the account page: a fresh code from the current factor opens a re-enrolment
    /// (a new secret proposed, sealed to this session, confirmed by a code from it).
    pub async fn propose_reenrolment(
        &self,
        s: &CurrentSession,
        code: &str,
        ip: Option<&str>,
    ) -> Result<Option<Enrolment>, AppError> {
        if !self.check_current_code(s, code, ip, "re-enrol").await? {
            return Ok(None);
        }
        let mut b = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let secret = TotpSecret::from_random(b);
        let proposal =
            self.sealer.seal(&proposal_context(s), secret.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(Enrolment {
            secret: secret.to_grouped_base32(),
            uri: totp::otpauth_uri(TOTP_ISSUER, s.account.login.as_str(), &secret),
            proposal: Some(proposal),
        }))
    }

    /// Confirms a re-enrolment with a code from the new secret: the new factor replaces
    /// the old one, with new recovery codes (returned to show once). `Ok(None)`: wrong code.
    pub async fn confirm_reenrolment(
        &self,
        s: &CurrentSession,
        proposal: &str,
        code: &str,
        ip: Option<&str>,
    ) -> Result<Option<Vec<RecoveryCode>>, AppError> {
        let bytes = self.sealer.open(&proposal_context(s), proposal).map_err(|_| AppError::NotFound("enrolment"))?;
        let secret = TotpSecret::from_bytes(bytes).ok_or(AppError::NotFound("enrolment"))?;
        let now = self.clock.now();
        let Some(step) = totp::verify(&secret, code, now, None) else {
            self.account_code_failed(s, ip, now).await?;
            return Ok(None);
        };
        let codes = new_recovery_codes();
        let sealed = self.seal_secret(&s.account.id, &secret)?;
        let login = s.account.login.as_str();
        let mut changes = self.enrol_changes(&s.account, sealed, &codes, step, now);
        changes.push(Change::InsertAudit(self.audit(
            login,
            "second_factor.enrol",
            Some(login),
            ip,
            "at=account".into(),
        )));
        self.store.commit(changes).await?;
        Ok(Some(codes))
    }

    /// New recovery codes (the old ones stop working) for a fresh code from the factor.
    pub async fn regenerate_recovery_codes(
        &self,
        s: &CurrentSession,
        code: &str,
        ip: Option<&str>,
    ) -> Result<Option<Vec<RecoveryCode>>, AppError> {
        if !self.check_current_code(s, code, ip, "recovery codes").await? {
            return Ok(None);
        }
        let now = self.clock.now();
        let codes = new_recovery_codes();
        let login = s.account.login.as_str();
        self.store
            .commit(vec![
                Change::SecondFactor(SecondFactorChange::ReplaceRecoveryCodes {
                    account: s.account.id.clone(),
                    hashes: codes.iter().map(|c| c.hash(s.account.id.as_str())).collect(),
                    at: now,
                }),
                Change::InsertAudit(self.audit(login, "second_factor.recovery_codes", Some(login), ip, String::new())),
            ])
            .await?;
        Ok(Some(codes))
    }

    /// A fresh TOTP code of the session's own factor (used once); a wrong one is a failure.
    async fn check_current_code(
        &self,
        s: &CurrentSession,
        code: &str,
        ip: Option<&str>,
        purpose: &str,
    ) -> Result<bool, AppError> {
        let factor = self.store.find_second_factor(&s.account.id).await?.ok_or(AppError::NotFound("second factor"))?;
        let now = self.clock.now();
        let secret = self.open_secret(&s.account.id, &factor.sealed_secret)?;
        match totp::verify(&secret, code, now, factor.last_step) {
            Some(step) => {
                let accept = SecondFactorChange::AcceptStep { account: s.account.id.clone(), step };
                match self.store.commit(vec![Change::SecondFactor(accept)]).await {
                    Ok(()) => Ok(true),
                    Err(crate::ports::StoreError::NotFound(_)) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            None => {
                tracing::info!(login = %s.account.login, purpose, "wrong second-factor code on the account page");
                self.account_code_failed(s, ip, now).await?;
                Ok(false)
            }
        }
    }

    async fn account_code_failed(&self, s: &CurrentSession, ip: Option<&str>, now: Timestamp) -> Result<(), AppError> {
        let scope_key = self.lock_scope_key(ip.map(network_of).as_deref());
        let lock = self.store.find_lock(&s.account.id, &scope_key).await?;
        self.code_failed(&s.account, &lock, &scope_key, ip, None, now).await
    }

    /// The administrative reset (`propusk user reset-second-factor`): the factor, its
    /// recovery codes and pending sign-ins are removed and the person's sessions end, so
    /// they enrol again at their next sign-in. Journaled in the audit log with the reason.
    pub async fn reset_second_factor(&self, actor: &Actor, login: &str, reason: &str) -> Result<(), AppError> {
        if reason.trim().is_empty() {
            return Err(AppError::Invalid("a reason is required".into()));
        }
        let account = self.account_by_login(login).await?;
        let now = self.clock.now();
        let had = self.store.find_second_factor(&account.id).await?.is_some();
        let mut changes = vec![Change::SecondFactor(SecondFactorChange::Remove { account: account.id.clone() })];
        changes.extend(self.end_sessions_changes(&account.id, None, EndReason::SecondFactor, now).await?);
        changes.push(Change::InsertAudit(self.audit(
            &actor.name,
            "second_factor.reset",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!("enrolled={had} reason={}", reason.trim()),
        )));
        self.store.commit(changes).await?;
        tracing::info!(login = %account.login, actor = %actor.name, "second factor reset");
        Ok(())
    }
}

#[cfg(test)]
#[path = "second_factor_tests.rs"]
pub(crate) mod tests;
