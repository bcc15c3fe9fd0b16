//! Administrative use cases: register people, issue and reset their credentials with a
//! journal entry, change roles, suspend and reactivate, and the first
//! administrator of an empty store.

use crate::domain::account::{Account, AccountStatus, NewAccount, Role, Roles};
use crate::domain::ids::{AccountId, Login};
use crate::domain::journal::{Channel, CredentialIssue, IssueKind, JournalEntry};
use crate::domain::password::{Password, generate_issued};
use crate::domain::session::EndReason;
use crate::ports::{AccountFilter, Change, OidcChange, ProtectionChange, SignInRecord};

use super::{App, AppError};

/// Who does an administrative action, for the journal and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// An administrator's login, `system`, or `os:<user>` for the command line.
    pub name: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self { name: "system".into(), ip: None }
    }
}

/// A credential just issued: the secret is shown once to the issuer and never stored.
#[derive(Debug)]
pub struct IssuedCredential {
    pub account: Account,
    pub password: Password,
    /// The lock code printed with the password: it can only lock the account.
    pub lock_code: String,
    pub issue: CredentialIssue,
}

/// What an administrator sees of one person.
#[derive(Debug, serde::Serialize)]
pub struct UserDetails {
    pub account: Account,
    pub live_sessions: usize,
    pub journal: Vec<JournalEntry>,
    pub sign_ins: Vec<SignInRecord>,
}

impl App {
    /// Registers a person with a generated password that must be changed at first sign-in.
    pub async fn add_user(
        &self,
        actor: &Actor,
        new: NewAccount,
        channel: Channel,
    ) -> Result<IssuedCredential, AppError> {
        self.register(actor, new, IssueKind::Initial, channel).await
    }

    async fn register(
        &self,
        actor: &Actor,
        new: NewAccount,
        kind: IssueKind,
        channel: Channel,
    ) -> Result<IssuedCredential, AppError> {
        let profile = new.validate()?;
        let now = self.clock.now();
        let id = AccountId::generate(now.as_millis(), &mut rand::rngs::OsRng);
        let password = generate_issued(&mut rand::rngs::OsRng);
        let hash = self.hash_issued(&password).await?;
        let expires_at = now.saturating_add(self.settings.issued_password_ttl.0);
        let account = Account {
            id,
            login: profile.login,
            full_name: profile.full_name,
            email: profile.email,
            roles: profile.roles,
            study_group: profile.study_group,
            department: profile.department,
            external_id: profile.external_id,
            status: AccountStatus::Active,
            password_must_change: true,
            password_expires_at: Some(expires_at),
            created_at: now,
            updated_at: now,
        };
        let issue = self.issue(actor, &account, kind, channel);
        let audit = self.audit(
            &actor.name,
            "account.create",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!("roles={}", account.roles.to_csv()),
        );
        let lock_code = super::protection::generate_lock_code();
        self.store
            .commit(vec![
                Change::InsertAccount { account: account.clone(), password_hash: hash },
                Change::Protection(ProtectionChange::SetLockCode {
                    account: account.id.clone(),
                    hash: super::protection::lock_code_hash(&lock_code),
                }),
                Change::InsertCredentialIssue(issue.clone()),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(IssuedCredential { account, password, lock_code, issue })
    }

    /// Creates the first administrator when no account holds `eios_admin`; `None` otherwise.
    pub async fn bootstrap_admin(&self) -> Result<Option<IssuedCredential>, AppError> {
        if self.store.count_accounts_with_role(Role::EiosAdmin).await? > 0 {
            return Ok(None);
        }
        let new = NewAccount {
            login: "admin".into(),
            full_name: "Администратор ЭИОС".into(),
            roles: vec![Role::EiosAdmin, Role::SecurityOfficer],
            ..NewAccount::default()
        };
        match self.register(&Actor::system(), new, IssueKind::Bootstrap, Channel::Console).await {
            Ok(issued) => Ok(Some(issued)),
            // Another node created it first.
            Err(AppError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn list_users(&self, filter: &AccountFilter) -> Result<Vec<Account>, AppError> {
        Ok(self.store.list_accounts(filter).await?)
    }

    pub async fn user_details(&self, login: &str) -> Result<UserDetails, AppError> {
        let account = self.account_by_login(login).await?;
        let live_sessions = self.store.list_live_sessions(&account.id).await?.len();
        let journal = self.store.list_journal(Some(&account.id), 50).await?;
        let sign_ins = self.store.list_sign_ins(&account.id, 20).await?;
        Ok(UserDetails { account, live_sessions, journal, sign_ins })
    }

    pub async fn set_roles(&self, actor: &Actor, login: &str, roles: Roles) -> Result<Account, AppError> {
        if roles.is_empty() {
            return Err(crate::domain::account::ProfileError::NoRoles.into());
        }
        let mut account = self.account_by_login(login).await?;
        let now = self.clock.now();
        let audit = self.audit(
            &actor.name,
            "account.roles",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!("from={} to={}", account.roles.to_csv(), roles.to_csv()),
        );
        self.store
            .commit(vec![
                Change::UpdateRoles { id: account.id.clone(), roles: roles.clone(), at: now },
                Change::InsertAudit(audit),
            ])
            .await?;
        account.roles = roles;
        account.updated_at = now;
        Ok(account)
    }

    /// Sets a new generated password, ends the person's sessions, journals the issue.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        login: &str,
        channel: Channel,
    ) -> Result<IssuedCredential, AppError> {
        let account = self.account_by_login(login).await?;
        self.reissue(actor, &account, IssueKind::Reset, channel).await
    }

    /// A new password and lock code for `account`, journaled, its sessions ended.
    pub(crate) async fn reissue(
        &self,
        actor: &Actor,
        account: &Account,
        kind: IssueKind,
        channel: Channel,
    ) -> Result<IssuedCredential, AppError> {
        let mut account = account.clone();
        let now = self.clock.now();
        let password = generate_issued(&mut rand::rngs::OsRng);
        // Accounts in an external directory get the password there (RFC 3062) first.
        if let Some(dir) = self.directory.external() {
            dir.set_password(&account.login, None, &password).await?;
        }
        let hash = self.hash_issued(&password).await?;
        let expires_at = now.saturating_add(self.settings.issued_password_ttl.0);
        account.password_must_change = true;
        account.password_expires_at = Some(expires_at);
        account.updated_at = now;
        let issue = self.issue(actor, &account, kind, channel);
        let lock_code = super::protection::generate_lock_code();
        let audit =
            self.audit(&actor.name, "password.reset", Some(account.login.as_str()), actor.ip.as_deref(), String::new());
        let mut changes = vec![
            Change::SetPassword {
                id: account.id.clone(),
                hash,
                must_change: true,
                expires_at: Some(expires_at),
                at: now,
            },
            Change::Protection(ProtectionChange::SetLockCode {
                account: account.id.clone(),
                hash: super::protection::lock_code_hash(&lock_code),
            }),
        ];
        changes.extend(self.end_sessions_changes(&account.id, None, EndReason::PasswordChanged, now).await?);
        changes.push(Change::InsertCredentialIssue(issue.clone()));
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        Ok(IssuedCredential { account, password, lock_code, issue })
    }

    /// Suspends an account and ends all of its sessions at once.
    pub async fn suspend(&self, actor: &Actor, login: &str, reason: &str) -> Result<Account, AppError> {
        self.set_status(actor, login, AccountStatus::Suspended, "account.suspend", reason).await
    }

    /// Makes a suspended, locked or compromised account usable again.
    pub async fn activate(&self, actor: &Actor, login: &str, reason: &str) -> Result<Account, AppError> {
        self.set_status(actor, login, AccountStatus::Active, "account.activate", reason).await
    }

    pub async fn list_journal(&self, login: Option<&str>, limit: u32) -> Result<Vec<JournalEntry>, AppError> {
        let subject = match login {
            Some(l) => Some(self.account_by_login(l).await?.id),
            None => None,
        };
        Ok(self.store.list_journal(subject.as_ref(), limit).await?)
    }

    async fn set_status(
        &self,
        actor: &Actor,
        login: &str,
        status: AccountStatus,
        action: &'static str,
        reason: &str,
    ) -> Result<Account, AppError> {
        let mut account = self.account_by_login(login).await?;
        let now = self.clock.now();
        let audit = self.audit(
            &actor.name,
            action,
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!("from={} reason={}", account.status, reason.trim()),
        );
        let mut changes = vec![Change::UpdateStatus { id: account.id.clone(), status, at: now }];
        changes.extend(self.directory_write(&account.login, status, now));
        if status != AccountStatus::Active {
            changes.extend(self.end_sessions_changes(&account.id, None, EndReason::AccountDisabled, now).await?);
            // Offline refresh tokens too: a disabled account keeps nothing.
            changes.push(Change::Oidc(OidcChange::RevokeAccountTokens { account_id: account.id.clone(), at: now }));
        }
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        account.status = status;
        account.updated_at = now;
        Ok(account)
    }

    pub(crate) async fn account_by_login(&self, login: &str) -> Result<Account, AppError> {
        let login = Login::parse(login).map_err(|_| AppError::NotFound("account"))?;
        self.store.find_account_secret(&login).await?.map(|s| s.account).ok_or(AppError::NotFound("account"))
    }

    fn issue(&self, actor: &Actor, account: &Account, kind: IssueKind, channel: Channel) -> CredentialIssue {
        CredentialIssue {
            subject: account.id.clone(),
            subject_login: account.login.clone(),
            issued_by: actor.name.clone(),
            issued_at: account.updated_at,
            kind,
            channel,
            expires_at: account.password_expires_at.unwrap_or(account.updated_at),
        }
    }
}

impl App {
    /// The hash of a password propusk generated: light, like a register import's
    /// (`hash::ISSUED_PARAMS`, see ARCHITECTURE.md), as the secret is random and must be
    /// replaced at first sign-in.
    async fn hash_issued(&self, password: &crate::domain::password::Password) -> Result<String, AppError> {
        let mut hashes = self.hasher.hash_issued(vec![password.clone()]).await?;
        hashes.pop().ok_or_else(|| AppError::Internal("no hash for the issued password".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing;

    fn student(login: &str) -> NewAccount {
        NewAccount {
            login: login.into(),
            full_name: "Сидоров Пётр".into(),
            roles: vec![Role::Student],
            study_group: Some("ИС-21".into()),
            ..NewAccount::default()
        }
    }

    #[tokio::test]
    async fn adding_a_user_journals_the_issue_without_the_secret() {
        let (app, _) = testing::app().await;
        let admin = Actor { name: "os:root".into(), ip: None };
        let issued = app.add_user(&admin, student("sidorov.p"), Channel::Cli).await.expect("add");
        assert!(issued.account.password_must_change);
        let journal = app.list_journal(Some("sidorov.p"), 10).await.expect("journal");
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].issue.issued_by, "os:root");
        assert_eq!(journal[0].issue.kind, IssueKind::Initial);
        assert_eq!(journal[0].received_at, None);
        let json = serde_json::to_string(&journal).expect("json");
        assert!(!json.contains(issued.password.expose()));
    }

    #[tokio::test]
    async fn a_taken_login_is_a_conflict_and_changes_nothing() {
        let (app, _) = testing::app().await;
        let a = Actor::system();
        app.add_user(&a, student("dup.login"), Channel::Cli).await.expect("first");
        let err = app.add_user(&a, student("Dup.Login"), Channel::Cli).await.expect_err("second");
        assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
        assert_eq!(app.list_journal(None, 10).await.expect("journal").len(), 1);
    }

    #[tokio::test]
    async fn bootstrap_happens_once() {
        let (app, _) = testing::app().await;
        let first = app.bootstrap_admin().await.expect("bootstrap").expect("created");
        assert_eq!(first.issue.kind, IssueKind::Bootstrap);
        assert!(first.account.roles.contains(Role::EiosAdmin));
        assert!(app.bootstrap_admin().await.expect("again").is_none());
    }

    #[tokio::test]
    async fn unknown_users_are_not_found() {
        let (app, _) = testing::app().await;
        let a = Actor::system();
        assert!(matches!(app.suspend(&a, "nobody", "x").await, Err(AppError::NotFound("account"))));
        assert!(matches!(app.user_details("не логин").await, Err(AppError::NotFound("account"))));
        assert!(matches!(
            app.set_roles(&a, "nobody", Roles::new([Role::Staff])).await,
            Err(AppError::NotFound("account"))
        ));
    }
}
