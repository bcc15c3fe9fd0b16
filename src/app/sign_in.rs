//! Signing in with a login and password, without revealing which logins exist.
//!
//! An unknown login, an account without a password and a wrong password all take one
//! argon2 verification and get the same answer. Only a person who gave the right password
//! learns that the account is disabled or that an issued password expired.
//!
//! Known devices: a successful sign-in leaves the browser a random device token
//! (only its hash is stored, bound to the account). While hashes queue up, a sign-in that
//! presents a token known for its account goes before every other waiting hash and is
//! never refused by the suspect-network budget, so people who signed in from their device
//! before keep signing in while strangers guess from many addresses. A person on a new
//! device is served as everyone was before: at once when the server is not busy, from the
//! suspect budget when it is busy and their network has failed recently.

use std::time::Duration;

use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::{Login, SessionToken};
use crate::domain::lockout::{LockRecord, network_of};
use crate::domain::password::Password;
use crate::domain::session::{SessionTimes, SignInOutcome};
use crate::domain::time::Timestamp;
use crate::ports::{Change, ProtectionChange, SessionRecord, SignInRecord};

use super::directory::DirectoryVerdict;
use super::oidc::{random_token, token_hash};
use super::second_factor::PendingStep;
use super::{App, AppError};

/// How long a browser stays known to an account after its last sign-in there
/// (`protection.known_device_days`); zero turns known devices off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePolicy {
    pub remember: Duration,
}

impl Default for DevicePolicy {
    fn default() -> Self {
        Self { remember: Duration::from_secs(180 * 86_400) }
    }
}

/// The value of the known-device cookie: 32 random bytes, base64url. Only its SHA-256 is
/// stored; it proves nothing about the person, it only gives their sign-ins priority.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

impl DeviceToken {
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// A cookie value of the right shape, or `None`.
    pub fn from_cookie(value: &str) -> Option<Self> {
        let ok = value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> String {
        token_hash(&format!("propusk device\0{}", self.0))
    }
}

#[derive(Debug)]
pub struct SignInRequest {
    pub login: String,
    pub password: Password,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session: the token goes into the cookie and nowhere else.
#[derive(Debug)]
pub struct SignedIn {
    pub token: SessionToken,
    pub account: Account,
}

/// Where a right password leads.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per sign-in, moved once
pub enum SignInStep {
    /// A session (and the device token the browser should keep).
    Done(SignedIn, Option<DeviceToken>),
    /// An administrative account (D-5): no session until the second factor is passed.
    SecondFactor(PendingStep),
}

impl App {
    pub async fn sign_in(&self, req: SignInRequest) -> Result<SignedIn, AppError> {
        self.sign_in_from(req, None).await.map(|(signed, _)| signed)
    }

    /// Signs in from a browser that may hold a known-device token; on success also
    /// returns the token the browser should keep (the same one, or a new one), `None`
    /// when known devices are off. An administrative account gets no session here
    /// (`Forbidden`): it signs in through [`sign_in_start`](Self::sign_in_start) and its
    /// second factor (D-5).
    pub async fn sign_in_from(
        &self,
        req: SignInRequest,
        device: Option<DeviceToken>,
    ) -> Result<(SignedIn, Option<DeviceToken>), AppError> {
        match self.sign_in_start(req, device, "/account").await? {
            SignInStep::Done(signed, device) => Ok((signed, device)),
            SignInStep::SecondFactor(_) => Err(AppError::Forbidden),
        }
    }

    /// Checks the password and either makes a session or, for an administrative account,
    /// stores a pending sign-in that waits for the second factor (D-5); `next` is where
    /// that sign-in continues once passed.
    pub async fn sign_in_start(
        &self,
        req: SignInRequest,
        device: Option<DeviceToken>,
        next: &str,
    ) -> Result<SignInStep, AppError> {
        let now = self.clock.now();
        let network = req.ip.as_deref().map(network_of);
        // a network caught spraying is refused before anything else.
        if let Some(n) = &network {
            if let Some(until) = self.store.find_network_block(n, now).await? {
                return Err(AppError::TooManyAttempts(until.since(now)));
            }
        }
        let remember = self.settings.devices.remember;
        let device = device.filter(|_| !remember.is_zero());
        // while hashes queue up, attempts from a network that failed recently share a
        // small hashing budget (when nothing waits, the extra query is not worth making).
        // Without a device token the attempt cannot be from a known device: it is refused
        // before the account is even looked up.
        if device.is_none() {
            self.suspect_budget(network.as_deref(), now).await?;
        }
        let login = Login::parse(&req.login).ok();
        let found = match &login {
            Some(l) => self.store.find_account_secret(l).await?,
            None => None,
        };
        let (mut account, hash) = match found {
            Some(s) => (Some(s.account), s.password_hash),
            None => (None, None),
        };
        let known = match (&device, &account) {
            (Some(d), Some(a)) => {
                self.store.find_known_device(&d.hash(), &a.id, now.saturating_sub(remember)).await?.is_some()
            }
            _ => false,
        };
        if device.is_some() && !known {
            self.suspect_budget(network.as_deref(), now).await?;
        }
        let scope_key = self.lock_scope_key(network.as_deref());
        let lock = match &account {
            Some(a) => self.store.find_lock(&a.id, &scope_key).await?,
            None => LockRecord::default(),
        };
        let mut record = SignInRecord {
            at: now,
            account_id: account.as_ref().map(|a| a.id.clone()),
            login: login.as_ref().map(|l| l.as_str().to_owned()),
            ip: req.ip.clone(),
            user_agent: req.user_agent.clone().map(|ua| ua.chars().take(256).collect()),
            network: network.clone(),
            outcome: SignInOutcome::Locked,
        };
        // D-1: while locked, no password hash is computed and the answer is the same as
        // for a wrong password (no enumeration).
        if lock.is_locked(now) {
            self.store.commit(vec![Change::InsertSignIn(record)]).await?;
            self.detect_spraying(network.as_deref(), now).await?;
            return Err(AppError::InvalidCredentials);
        }
        let mut directory_expired = false;
        let password_ok = match (self.directory.external(), hash) {
            // Accounts in an external directory: the password check is a bind, and the
            // entry it reached is synchronised into the store (`app/directory.rs`).
            (Some(_), _) => {
                let lock_ended = account.as_ref().is_some_and(|a| a.status == AccountStatus::Locked);
                match self.verify_in_directory(login.as_ref(), &req.password, &mut account, lock_ended).await? {
                    DirectoryVerdict::Right => true,
                    DirectoryVerdict::Wrong => false,
                    DirectoryVerdict::Expired => {
                        directory_expired = true;
                        true
                    }
                }
            }
            (None, Some(h)) if known => self.hasher.verify_known(h, req.password).await?,
            (None, Some(h)) => self.hasher.verify(h, req.password).await?,
            (None, None) => {
                self.hasher.verify_dummy(req.password).await?;
                false
            }
        };
        record.account_id = account.as_ref().map(|a| a.id.clone());
        // A lock that has run out no longer holds the account.
        let status = account.as_ref().map(|a| match a.status {
            AccountStatus::Locked => AccountStatus::Active,
            other => other,
        });
        record.outcome = match (&account, status) {
            (None, _) => SignInOutcome::UnknownLogin,
            (Some(_), _) if !password_ok => SignInOutcome::BadPassword,
            (Some(_), Some(s)) if s != AccountStatus::Active => SignInOutcome::Disabled,
            (Some(_), _) if directory_expired => SignInOutcome::Expired,
            (Some(a), _) if a.password_must_change && a.password_expires_at.is_some_and(|t| now >= t) => {
                SignInOutcome::Expired
            }
            (Some(_), _) => SignInOutcome::Success,
        };
        let outcome = record.outcome;
        let account = match (outcome, account) {
            (SignInOutcome::Success, Some(a)) => a,
            (SignInOutcome::BadPassword, Some(a)) => {
                self.store.commit(vec![Change::InsertSignIn(record)]).await?;
                self.lock_if_due(&a, &lock, &scope_key, network.as_deref(), now).await?;
                self.detect_spraying(network.as_deref(), now).await?;
                return Err(AppError::InvalidCredentials);
            }
            (SignInOutcome::Disabled, Some(a)) => {
                self.store.commit(vec![Change::InsertSignIn(record)]).await?;
                return Err(AppError::AccountDisabled(a.status));
            }
            (SignInOutcome::Expired, _) => {
                self.store.commit(vec![Change::InsertSignIn(record)]).await?;
                if directory_expired {
                    return Err(AppError::DirectoryPasswordExpired);
                }
                return Err(AppError::IssuedPasswordExpired);
            }
            _ => {
                self.store.commit(vec![Change::InsertSignIn(record)]).await?;
                self.detect_spraying(network.as_deref(), now).await?;
                return Err(AppError::InvalidCredentials);
            }
        };
        // D-5: the right password of an administrator is not yet a session. Nothing is
        // written to the sign-in log here: the sign-in succeeds (or fails) at the code.
        if account.roles.any_administrative() {
            let step = self.begin_second_factor(&account, req.ip, record.user_agent, next, now).await?;
            return Ok(SignInStep::SecondFactor(step));
        }
        let (signed, device) =
            self.grant_session(&account, req.ip, record.user_agent, device, None, Vec::new(), now).await?;
        Ok(SignInStep::Done(signed, device))
    }

    /// Makes the session of a sign-in that passed every check, with the success in the
    /// sign-in log and `extra` changes (the used code, the used pending sign-in) in the
    /// same transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn grant_session(
        &self,
        account: &Account,
        ip: Option<String>,
        user_agent: Option<String>,
        device: Option<DeviceToken>,
        second_factor_at: Option<Timestamp>,
        extra: Vec<Change>,
        now: Timestamp,
    ) -> Result<(SignedIn, Option<DeviceToken>), AppError> {
        let remember = self.settings.devices.remember;
        let device = device.filter(|_| !remember.is_zero());
        let record = SignInRecord {
            at: now,
            account_id: Some(account.id.clone()),
            login: Some(account.login.as_str().to_owned()),
            ip: ip.clone(),
            user_agent: user_agent.clone(),
            network: ip.as_deref().map(network_of),
            outcome: SignInOutcome::Success,
        };
        let token = SessionToken::generate(&mut rand::rngs::OsRng);
        let limits = &self.settings.session_limits;
        let session = SessionRecord {
            hash: token.hash(),
            account_id: account.id.clone(),
            times: SessionTimes::start(now, limits.idle_for(&account.roles), limits),
            ip,
            user_agent,
            ended_at: None,
            second_factor_at,
        };
        // the first sign-in with an issued password is the mark of receipt. The mark is
        // outside the journal's chain, so setting it is audited (invariant 20).
        let receipt = if account.password_must_change
            && self.store.list_journal(Some(&account.id), 1).await?.first().is_some_and(|e| e.received_at.is_none())
        {
            let login = account.login.as_str();
            let detail = "first sign-in with the issued password: the mark of receipt".to_owned();
            Some(self.audit(login, "credentials.received", Some(login), record.ip.as_deref(), detail))
        } else {
            None
        };
        let mut changes = extra;
        changes.push(Change::InsertSignIn(record));
        changes.push(Change::InsertSession(session));
        let device = (!remember.is_zero()).then(|| device.unwrap_or_else(DeviceToken::generate));
        if let Some(d) = &device {
            changes.push(Change::Protection(ProtectionChange::RememberDevice {
                token_hash: d.hash(),
                account: account.id.clone(),
                at: now,
            }));
        }
        if account.status == AccountStatus::Locked {
            changes.push(Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Active, at: now });
            changes.extend(self.directory_write(&account.login, AccountStatus::Active, now));
        }
        if let Some(audit) = receipt {
            changes.push(Change::MarkCredentialsReceived { subject: account.id.clone(), at: now });
            changes.push(Change::InsertAudit(audit));
        }
        self.store.commit(changes).await?;
        Ok((SignedIn { token, account: account.clone() }, device))
    }

    /// Refuses the attempt (429, no hash) when hashes queue up, `network` failed within the
    /// spraying window and the suspect budget is spent.
    async fn suspect_budget(&self, network: Option<&str>, now: crate::domain::Timestamp) -> Result<(), AppError> {
        let Some(n) = network.filter(|_| self.hasher.busy()) else { return Ok(()) };
        let window = now.saturating_sub(self.settings.spraying.window);
        if self.store.count_distinct_failed_logins(n, window).await? > 0 && !self.hasher.admit_suspect() {
            return Err(AppError::TooManyAttempts(Duration::from_secs(1)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::testing;
    use crate::app::{Actor, IssuedCredential};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::journal::Channel;

    async fn issued(app: &App) -> IssuedCredential {
        let new = NewAccount {
            login: "kuznetsova.m".into(),
            full_name: "Кузнецова Мария".into(),
            roles: vec![Role::Student],
            ..NewAccount::default()
        };
        app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add")
    }

    fn req(login: &str, password: &str) -> SignInRequest {
        SignInRequest {
            login: login.into(),
            password: Password::new(password),
            ip: Some("192.0.2.7".into()),
            user_agent: Some("test".into()),
        }
    }

    #[tokio::test]
    async fn first_sign_in_marks_the_journal_and_creates_a_session() {
        let (app, _) = testing::app().await;
        let cred = issued(&app).await;
        let signed = app.sign_in(req("Kuznetsova.M", cred.password.expose())).await.expect("sign in");
        assert!(signed.account.password_must_change);
        let journal = app.list_journal(Some("kuznetsova.m"), 5).await.expect("journal");
        assert!(journal[0].received_at.is_some());
        let s = app.store.find_session(&signed.token.hash()).await.expect("find").expect("session");
        assert_eq!(s.ip.as_deref(), Some("192.0.2.7"));
        // The mark is outside the journal's chain, so it is audited, once (invariant 20).
        app.sign_in(req("kuznetsova.m", cred.password.expose())).await.expect("again");
        let audit = app.store.list_audit("credentials.received", 10).await.expect("audit");
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].subject.as_deref(), Some("kuznetsova.m"));
        assert!(app.verify_chain(crate::domain::chain::ChainLog::Journal).await.expect("verify").intact);
    }

    #[tokio::test]
    async fn unknown_login_and_wrong_password_look_the_same() {
        let (app, _) = testing::app().await;
        issued(&app).await;
        let a = app.sign_in(req("kuznetsova.m", "wrong-password")).await.expect_err("wrong");
        let b = app.sign_in(req("nobody.here", "wrong-password")).await.expect_err("unknown");
        let c = app.sign_in(req("not a login!", "wrong-password")).await.expect_err("garbage");
        for e in [a, b, c] {
            assert!(matches!(e, AppError::InvalidCredentials), "{e:?}");
        }
    }

    /// The real pool, but always saturated with an empty suspect budget; counts the
    /// verifications that went first.
    struct Saturated(crate::hash::Argon2Pool, std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl crate::ports::PasswordHasher for Saturated {
        async fn hash(&self, p: Password) -> Result<String, crate::ports::HashError> {
            self.0.hash(p).await
        }
        async fn verify(&self, h: String, p: Password) -> Result<bool, crate::ports::HashError> {
            self.0.verify(h, p).await
        }
        async fn verify_known(&self, h: String, p: Password) -> Result<bool, crate::ports::HashError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.verify_known(h, p).await
        }
        async fn verify_dummy(&self, p: Password) -> Result<(), crate::ports::HashError> {
            self.0.verify_dummy(p).await
        }
        fn admit_suspect(&self) -> bool {
            false
        }
        fn busy(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn a_known_device_goes_first_while_strangers_from_a_failing_network_are_refused() {
        let (mut app, _) = testing::app().await;
        let cred = issued(&app).await;
        let other = app
            .add_user(
                &Actor::system(),
                NewAccount {
                    login: "sosedova.s".into(),
                    full_name: "Соседова Софья".into(),
                    roles: vec![Role::Student],
                    ..NewAccount::default()
                },
                Channel::Cli,
            )
            .await
            .expect("add");
        let (_, device) = app.sign_in_from(req("kuznetsova.m", cred.password.expose()), None).await.expect("first");
        let device = device.expect("a device token is handed out");
        assert!(format!("{device:?}").contains("redacted"));
        let (_, again) =
            app.sign_in_from(req("kuznetsova.m", cred.password.expose()), Some(device.clone())).await.expect("again");
        assert_eq!(again.as_ref(), Some(&device), "the browser keeps its token");
        // A failure from the same network makes it suspect; then the pool is saturated.
        let _ = app.sign_in(req("nobody.here", "wrong-password")).await;
        let pool = crate::hash::Argon2Pool::new(
            crate::hash::HashParams { memory_kib: 64, iterations: 1, parallelism: 1 },
            1,
            4,
        )
        .expect("pool");
        let saturated = std::sync::Arc::new(Saturated(pool, std::sync::atomic::AtomicUsize::new(0)));
        app.hasher = saturated.clone();
        let e = app.sign_in_from(req("kuznetsova.m", cred.password.expose()), None).await.expect_err("stranger");
        assert!(matches!(e, AppError::TooManyAttempts(_)), "{e:?}");
        let e = app
            .sign_in_from(req("sosedova.s", other.password.expose()), Some(device.clone()))
            .await
            .expect_err("the token is known for another account only");
        assert!(matches!(e, AppError::TooManyAttempts(_)), "{e:?}");
        app.sign_in_from(req("kuznetsova.m", cred.password.expose()), Some(device.clone()))
            .await
            .expect("known device");
        assert_eq!(saturated.1.load(std::sync::atomic::Ordering::SeqCst), 1, "verified ahead of the queue");
        // A compromise report forgets the account's devices.
        app.report_compromise_by_code("kuznetsova.m", &cred.lock_code, None).await.expect("report");
        let since = app.clock.now().saturating_sub(Duration::from_secs(3600));
        let known = app.store.find_known_device(&device.hash(), &cred.account.id, since).await.expect("find");
        assert_eq!(known, None);
    }

    #[test]
    fn device_tokens_are_checked_for_shape() {
        let t = DeviceToken::generate();
        assert_eq!(DeviceToken::from_cookie(t.expose()), Some(t.clone()));
        for bad in ["", "short", &"a".repeat(44), &format!("{}!", &"a".repeat(42)), &"я".repeat(21)] {
            assert_eq!(DeviceToken::from_cookie(bad), None, "{bad:?}");
        }
        assert_ne!(t.hash(), DeviceToken::generate().hash());
    }

    #[tokio::test]
    async fn disabled_and_expired_are_told_only_with_the_right_password() {
        let (app, clock) = testing::app().await;
        let cred = issued(&app).await;
        app.suspend(&Actor::system(), "kuznetsova.m", "test").await.expect("suspend");
        let e = app.sign_in(req("kuznetsova.m", "wrong-password")).await.expect_err("wrong");
        assert!(matches!(e, AppError::InvalidCredentials));
        let e = app.sign_in(req("kuznetsova.m", cred.password.expose())).await.expect_err("suspended");
        assert!(matches!(e, AppError::AccountDisabled(AccountStatus::Suspended)));
        app.activate(&Actor::system(), "kuznetsova.m", "test").await.expect("activate");
        clock.advance(Duration::from_secs(72 * 3600));
        let e = app.sign_in(req("kuznetsova.m", cred.password.expose())).await.expect_err("expired");
        assert!(matches!(e, AppError::IssuedPasswordExpired));
        let history = app.store.list_sign_ins(&cred.account.id, 10).await.expect("history");
        let outcomes: Vec<_> = history.iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes, [SignInOutcome::Expired, SignInOutcome::Disabled, SignInOutcome::BadPassword]);
    }
}
