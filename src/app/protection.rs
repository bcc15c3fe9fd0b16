//! Guessing stopped and compromise contained (R-9, R-10): account locks shared by all
//! nodes, password-spraying detection, unlock, "my account is compromised" (by the
//! person signed in, or by login and lock code without signing in), and restoration.

use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::oidc::{random_token, token_hash};
use super::{Actor, App, AppError, CurrentSession, IssuedCredential};
use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::Login;
use crate::domain::journal::{AuditEvent, Channel, IssueKind};
use crate::domain::lockout::{LockRecord, LockScope, LockoutPolicy};
use crate::domain::password::Password;
use crate::domain::session::EndReason;
use crate::domain::time::Timestamp;
use crate::ports::{Change, OidcChange, ProtectionChange, SecurityEvent};

/// A lock code (R-9): printed with the credentials, good for one thing only, locking the
/// account. Twelve characters from the unambiguous alphabet, about 59 bits.
pub fn generate_lock_code() -> String {
    let raw = random_token();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).unwrap_or_default();
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let chars: Vec<char> =
        bytes.iter().take(12).map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// The stored form of a lock code; case and dashes do not matter when it is typed.
pub fn lock_code_hash(code: &str) -> String {
    let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    token_hash(&format!("propusk lock code\0{norm}"))
}

impl App {
    pub(crate) fn lock_scope_key(&self, network: Option<&str>) -> String {
        match self.settings.lockout.scope {
            LockScope::Account => String::new(),
            LockScope::AccountAndNetwork => network.unwrap_or("unknown").to_owned(),
        }
    }

    /// After a wrong password: counts the failures that count (D-1) and locks when due.
    pub(crate) async fn lock_if_due(
        &self,
        account: &Account,
        lock: &LockRecord,
        scope_key: &str,
        network: Option<&str>,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let policy: &LockoutPolicy = &self.settings.lockout;
        let last_success = self.store.last_success(&account.id).await?;
        let since = policy.count_since(lock, last_success, now);
        let per_network = (policy.scope == LockScope::AccountAndNetwork).then_some(network).flatten();
        let failures = self.store.count_failures(&account.id, per_network, since).await?;
        let Some(next) = policy.lock_after(lock, failures, now) else { return Ok(()) };
        let until = if next.permanent {
            "until unlocked".to_owned()
        } else {
            next.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default()
        };
        let until_human = if next.permanent {
            "permanent".to_owned()
        } else {
            next.locked_until.map(|t| t.to_human()).unwrap_or_default()
        };
        tracing::warn!(login = %account.login, failures, %until, "account locked after failed sign-ins");
        let mut changes = vec![Change::Protection(ProtectionChange::PutLock {
            account: account.id.clone(),
            scope_key: scope_key.to_owned(),
            record: next,
        })];
        if policy.scope == LockScope::Account {
            changes.push(Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Locked, at: now });
            changes.extend(self.directory_write(&account.login, AccountStatus::Locked, now));
            changes.extend(self.end_sessions_changes(&account.id, None, EndReason::AccountDisabled, now).await?);
        }
        changes.push(self.security_event("lock", Some(account), network, format!("failures={failures} until={until}")));
        // R-10, D-1: the owner is told by email when an address is known.
        changes.extend(self.lock_mail(account, network, failures, &until_human));
        changes.push(Change::InsertAudit(AuditEvent {
            outcome: "success",
            ..self.audit("system", "account.lock", Some(account.login.as_str()), None, format!("failures={failures}"))
        }));
        self.store.commit(changes).await?;
        Ok(())
    }

    /// Blocks a network from which too many distinct logins failed (password spraying).
    pub(crate) async fn detect_spraying(&self, network: Option<&str>, now: Timestamp) -> Result<(), AppError> {
        let policy = self.settings.spraying;
        let Some(network) = network else { return Ok(()) };
        if policy.distinct_logins == 0 {
            return Ok(());
        }
        let n = self.store.count_distinct_failed_logins(network, now.saturating_sub(policy.window)).await?;
        if n < policy.distinct_logins || self.store.find_network_block(network, now).await?.is_some() {
            return Ok(());
        }
        tracing::warn!(%network, distinct_logins = n, "password spraying: network blocked");
        let until = now.saturating_add(policy.block);
        self.store
            .commit(vec![
                Change::Protection(ProtectionChange::BlockNetwork {
                    network: network.to_owned(),
                    until,
                    reason: format!("{n} distinct logins failed"),
                    at: now,
                }),
                self.security_event("spraying", None, Some(network), format!("distinct_logins={n}")),
                self.spraying_mail(network, n, until),
            ])
            .await?;
        Ok(())
    }

    /// An administrator or security officer lifts every lock of an account.
    pub async fn unlock(&self, actor: &Actor, login: &str) -> Result<Account, AppError> {
        let mut account = self.account_by_login(login).await?;
        let now = self.clock.now();
        let mut changes =
            vec![Change::Protection(ProtectionChange::ClearLocks { account: account.id.clone(), at: now })];
        if account.status == AccountStatus::Locked {
            changes.push(Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Active, at: now });
            changes.extend(self.directory_write(&account.login, AccountStatus::Active, now));
            account.status = AccountStatus::Active;
        }
        changes.push(self.security_event("unlock", Some(&account), None, format!("by={}", actor.name)));
        changes.push(Change::InsertAudit(self.audit(
            &actor.name,
            "account.unlock",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            String::new(),
        )));
        self.store.commit(changes).await?;
        Ok(account)
    }

    /// R-9 without signing in: the login and the lock code from the credential slip.
    /// Answers the same whether or not the login exists or the code is right.
    pub async fn report_compromise_by_code(&self, login: &str, code: &str, ip: Option<&str>) -> Result<(), AppError> {
        let account = match Login::parse(login) {
            Ok(l) => self.store.find_account_secret(&l).await?.map(|s| s.account),
            Err(_) => None,
        };
        let given = lock_code_hash(code);
        let stored = match &account {
            Some(a) => self.store.find_lock_code_hash(&a.id).await?,
            None => None,
        };
        let matches = stored.is_some_and(|h| bool::from(h.as_bytes().ct_eq(given.as_bytes())));
        match account {
            Some(a) if matches => self.compromise(&a, "lock_code", ip).await,
            _ => {
                let audit = AuditEvent {
                    outcome: "refused",
                    ..self.audit("anonymous", "compromise.report", None, ip, "no matching login and lock code".into())
                };
                self.store.commit(vec![Change::InsertAudit(audit)]).await?;
                Ok(())
            }
        }
    }

    /// R-9 from the personal account, confirmed with the password.
    pub async fn report_compromise(
        &self,
        s: &CurrentSession,
        password: Password,
        ip: Option<&str>,
    ) -> Result<(), AppError> {
        let secret = self.store.find_account_secret(&s.account.login).await?.ok_or(AppError::NotFound("account"))?;
        let ok = match secret.password_hash {
            Some(h) => self.hasher.verify(h, password).await?,
            None => false,
        };
        if !ok {
            return Err(AppError::WrongCurrentPassword);
        }
        self.compromise(&s.account, "personal_account", ip).await
    }

    /// At once: status compromised, every session and token ended, clients told, the
    /// security officers' queue notified.
    async fn compromise(&self, account: &Account, via: &str, ip: Option<&str>) -> Result<(), AppError> {
        let now = self.clock.now();
        tracing::warn!(login = %account.login, via, "account reported compromised");
        let mut changes =
            vec![Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Compromised, at: now }];
        changes.extend(self.directory_write(&account.login, AccountStatus::Compromised, now));
        changes.extend(self.end_sessions_changes(&account.id, None, EndReason::AccountDisabled, now).await?);
        changes.push(Change::Oidc(OidcChange::RevokeAccountTokens { account_id: account.id.clone(), at: now }));
        // A device the thief signed in from must not keep its priority (R-10).
        changes.push(Change::Protection(ProtectionChange::ForgetDevices { account: account.id.clone() }));
        changes.push(self.security_event("compromise", Some(account), ip, format!("via={via}")));
        // R-9: the security officers' queue and their mailboxes.
        changes.push(self.compromise_mail(account, via, ip));
        changes.push(Change::InsertAudit(self.audit(
            account.login.as_str(),
            "account.compromise",
            Some(account.login.as_str()),
            ip,
            format!("via={via}"),
        )));
        self.store.commit(changes).await?;
        Ok(())
    }

    /// Restores a compromised (or locked) account: new password and lock code, journaled,
    /// to be changed at first sign-in; locks cleared.
    pub async fn restore(&self, actor: &Actor, login: &str, channel: Channel) -> Result<IssuedCredential, AppError> {
        let account = self.account_by_login(login).await?;
        let now = self.clock.now();
        let mut issued = self.reissue(actor, &account, IssueKind::Reset, channel).await?;
        let mut changes = vec![
            Change::UpdateStatus { id: account.id.clone(), status: AccountStatus::Active, at: now },
            Change::Protection(ProtectionChange::ClearLocks { account: account.id.clone(), at: now }),
            Change::Protection(ProtectionChange::ForgetDevices { account: account.id.clone() }),
            self.security_event("restore", Some(&account), None, format!("by={}", actor.name)),
            Change::InsertAudit(self.audit(
                &actor.name,
                "account.restore",
                Some(login),
                actor.ip.as_deref(),
                String::new(),
            )),
        ];
        changes.extend(self.directory_write(&account.login, AccountStatus::Active, now));
        self.store.commit(changes).await?;
        issued.account.status = AccountStatus::Active;
        Ok(issued)
    }

    pub async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, AppError> {
        Ok(self.store.list_security_events(limit).await?)
    }

    pub(crate) fn security_event(
        &self,
        kind: &'static str,
        account: Option<&Account>,
        network: Option<&str>,
        detail: String,
    ) -> Change {
        Change::Protection(ProtectionChange::InsertSecurityEvent(SecurityEvent {
            seq: 0,
            at: self.clock.now(),
            kind,
            account_id: account.map(|a| a.id.clone()),
            network: network.map(str::to_owned),
            detail,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::ports::Clock as _;

    use super::*;
    use crate::app::testing;
    use crate::app::{AppError, SignInRequest};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::session::SignInOutcome;

    async fn person(app: &App, login: &str) -> IssuedCredential {
        let new = NewAccount {
            login: login.into(),
            full_name: "Защитов Захар".into(),
            roles: vec![Role::Student],
            ..NewAccount::default()
        };
        app.add_user(&Actor::system(), new, Channel::Slip).await.expect("add")
    }

    fn attempt(login: &str, pw: &str, ip: &str) -> SignInRequest {
        SignInRequest { login: login.into(), password: Password::new(pw), ip: Some(ip.into()), user_agent: None }
    }

    #[tokio::test]
    async fn five_failures_lock_without_hashing_and_answer_like_a_wrong_password() {
        let (app, clock) = testing::app().await;
        let cred = person(&app, "guessed.g").await;
        for i in 0..5 {
            let e =
                app.sign_in(attempt("guessed.g", "wrong-guess", &format!("198.51.100.{i}"))).await.expect_err("wrong");
            assert!(matches!(e, AppError::InvalidCredentials));
        }
        let e = app.sign_in(attempt("guessed.g", cred.password.expose(), "192.0.2.1")).await.expect_err("locked");
        assert!(matches!(e, AppError::InvalidCredentials), "locked looks like a wrong password");
        let history = app.store.list_sign_ins(&cred.account.id, 1).await.expect("history");
        assert_eq!(history[0].outcome, SignInOutcome::Locked, "refused before hashing");
        let events = app.security_events(10).await.expect("events");
        assert_eq!(events[0].kind, "lock");
        // After 30 minutes the lock runs out; the right password works and resets the count.
        clock.advance(Duration::from_secs(30 * 60));
        app.sign_in(attempt("guessed.g", cred.password.expose(), "192.0.2.1")).await.expect("lock ran out");
        // Four more failures do not lock again (the success reset the count).
        for _ in 0..4 {
            let _ = app.sign_in(attempt("guessed.g", "wrong-guess", "198.51.100.9")).await;
        }
        app.sign_in(attempt("guessed.g", cred.password.expose(), "192.0.2.1")).await.expect("not locked");
    }

    #[tokio::test]
    async fn an_administrator_unlocks_and_locks_grow() {
        let (app, clock) = testing::app().await;
        let cred = person(&app, "grow.g").await;
        let lock_once = |app: &App| {
            let app = app.clone();
            async move {
                for _ in 0..5 {
                    let _ = app.sign_in(attempt("grow.g", "wrong-guess", "203.0.113.1")).await;
                }
            }
        };
        lock_once(&app).await;
        let first = app.store.find_lock(&cred.account.id, "").await.expect("lock");
        assert_eq!(first.lock_count, 1);
        clock.advance(Duration::from_secs(31 * 60));
        lock_once(&app).await;
        let second = app.store.find_lock(&cred.account.id, "").await.expect("lock");
        assert_eq!(second.lock_count, 2);
        assert_eq!(second.locked_until.map(|t| t.since(clock.now())), Some(Duration::from_secs(3600)), "doubled");
        let a = app.unlock(&Actor { name: "officer".into(), ip: None }, "grow.g").await.expect("unlock");
        assert_eq!(a.status, AccountStatus::Active);
        app.sign_in(attempt("grow.g", cred.password.expose(), "203.0.113.1")).await.expect("unlocked");
    }

    #[tokio::test]
    async fn per_network_scope_lets_the_owner_in_from_elsewhere() {
        let (mut app, _) = testing::app().await;
        app.settings.lockout.scope = LockScope::AccountAndNetwork;
        let cred = person(&app, "roaming.r").await;
        for _ in 0..6 {
            let _ = app.sign_in(attempt("roaming.r", "wrong-guess", "203.0.113.50")).await;
        }
        let e = app.sign_in(attempt("roaming.r", cred.password.expose(), "203.0.113.77")).await.expect_err("same /24");
        assert!(matches!(e, AppError::InvalidCredentials));
        app.sign_in(attempt("roaming.r", cred.password.expose(), "198.51.100.7")).await.expect("another network");
    }

    #[tokio::test]
    async fn spraying_blocks_the_network() {
        let (mut app, _) = testing::app().await;
        app.settings.spraying.distinct_logins = 5;
        let cred = person(&app, "bystander.b").await;
        for i in 0..5 {
            let _ = app.sign_in(attempt(&format!("victim{i}"), "Summer2026!", "203.0.113.9")).await;
        }
        let e =
            app.sign_in(attempt("bystander.b", cred.password.expose(), "203.0.113.200")).await.expect_err("blocked");
        assert!(matches!(e, AppError::TooManyAttempts(d) if d > Duration::from_secs(29 * 60)));
        app.sign_in(attempt("bystander.b", cred.password.expose(), "198.51.100.1")).await.expect("other network");
        assert!(app.security_events(10).await.expect("events").iter().any(|e| e.kind == "spraying"));
    }

    #[tokio::test]
    async fn compromise_by_lock_code_then_restore() {
        let (app, _) = testing::app().await;
        let cred = person(&app, "stolen.s").await;
        let token = app.sign_in(attempt("stolen.s", cred.password.expose(), "192.0.2.5")).await.expect("in").token;
        // Wrong codes and unknown logins change nothing and answer the same.
        app.report_compromise_by_code("stolen.s", "AAAA-BBBB-CCCC", None).await.expect("same answer");
        app.report_compromise_by_code("nobody.n", &cred.lock_code, None).await.expect("same answer");
        assert!(app.current_session(token.clone()).await.expect("lookup").is_some());
        let typed = cred.lock_code.to_lowercase().replace('-', " ");
        app.report_compromise_by_code("stolen.s", &typed, Some("192.0.2.5")).await.expect("report");
        assert!(app.current_session(token).await.expect("lookup").is_none(), "sessions ended at once");
        let e = app.sign_in(attempt("stolen.s", cred.password.expose(), "192.0.2.5")).await.expect_err("blocked");
        assert!(matches!(e, AppError::AccountDisabled(AccountStatus::Compromised)));
        let restored = app
            .restore(&Actor { name: "officer".into(), ip: None }, "stolen.s", Channel::InPerson)
            .await
            .expect("restore");
        assert_ne!(restored.lock_code, cred.lock_code);
        let s = app.sign_in(attempt("stolen.s", restored.password.expose(), "192.0.2.5")).await.expect("restored");
        assert!(s.account.password_must_change);
        let kinds: Vec<_> = app.security_events(10).await.expect("events").iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["restore", "compromise"]);
    }

    #[tokio::test]
    async fn the_button_needs_the_password() {
        let (app, _) = testing::app().await;
        let cred = person(&app, "button.b").await;
        let token = app.sign_in(attempt("button.b", cred.password.expose(), "192.0.2.5")).await.expect("in").token;
        let s = app.current_session(token.clone()).await.expect("lookup").expect("live");
        let e = app.report_compromise(&s, Password::new("not-it"), None).await.expect_err("wrong");
        assert!(matches!(e, AppError::WrongCurrentPassword));
        app.report_compromise(&s, cred.password.clone(), None).await.expect("report");
        assert!(app.current_session(token).await.expect("lookup").is_none());
    }

    #[test]
    fn lock_codes_are_readable_and_compare_loosely() {
        let c = generate_lock_code();
        assert_eq!(c.len(), 14);
        assert!(c.chars().all(|ch| ch == '-' || ch.is_ascii_uppercase() || ch.is_ascii_digit()));
        assert_eq!(lock_code_hash(&c), lock_code_hash(&c.to_lowercase().replace('-', "")));
        assert_ne!(lock_code_hash(&c), lock_code_hash(&generate_lock_code()));
    }
}
