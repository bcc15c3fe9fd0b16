//! Who may use which resource: restrictions set and lifted by administrators
//! (journaled in the audit log), the one decision used by the OpenID Connect provider,
//! forward-auth and the launcher, explanations, and swapping in a reloaded policy
//! directory (R-21: every accepted version is audited with its digest).
//!
//! The policies themselves are pure (`crate::policy`); this room loads the account's
//! restrictions from the store and hands in the clock. It never reads policy files: the
//! caller loads them and offers the result to [`App::install_policies`].

mod handoff;

use std::sync::{Arc, RwLock};

use crate::domain::account::Account;
use crate::domain::time::Timestamp;
use crate::policy::{Decision, Policies, Resource, ResourceId, Restriction, Subject};
use crate::ports::{AccessChange, Change};

use super::admin::Actor;
use super::{App, AppError};

/// The policy version in force. Readers take an `Arc` and keep a consistent version for
/// the whole of a request even if a reload swaps it meanwhile.
#[derive(Debug)]
pub struct PolicySet {
    current: RwLock<Arc<Policies>>,
}

impl PolicySet {
    pub fn new(policies: Policies) -> Self {
        Self { current: RwLock::new(Arc::new(policies)) }
    }

    pub fn get(&self) -> Arc<Policies> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, new: Arc<Policies>) {
        match self.current.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

/// The identity a forward-auth resource is given about the person (R-14: only what it
/// may see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub groups: Option<Vec<String>>,
}

/// The answer to a proxied request (forward-auth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardAuth {
    /// The request belongs to no forward-auth resource of the catalogue: refused.
    UnknownResource,
    /// Nobody is signed in.
    SignIn,
    /// The policy refuses this person this resource.
    Refused(Box<Resource>),
    Allowed {
        resource: ResourceId,
        identity: Identity,
    },
}

/// The longest reason kept with a restriction.
const REASON_MAX: usize = 500;

impl App {
    /// The policy version in force.
    pub fn policies(&self) -> Arc<Policies> {
        self.policies.get()
    }

    /// Writes the version in force to the audit log (at start-up): which rules were in
    /// force from when.
    pub async fn record_policies_in_force(&self, actor: &Actor) -> Result<(), AppError> {
        let p = self.policies.get();
        let detail = format!("digest={} resources={} warnings={}", p.digest(), p.catalogue().len(), p.warnings().len());
        let audit = self.audit(&actor.name, "policy.load", None, actor.ip.as_deref(), detail);
        Ok(self.store.commit(vec![Change::InsertAudit(audit)]).await?)
    }

    /// Puts a reloaded `new` version in force unless its digest equals the current one,
    /// and writes the change to the audit log with both digests. `Ok(false)`:
    /// nothing changed.
    pub async fn install_policies(&self, actor: &Actor, new: Policies) -> Result<bool, AppError> {
        let old = self.policies.get();
        if old.digest() == new.digest() {
            return Ok(false);
        }
        let detail = format!(
            "digest={} previous={} resources={} warnings={}",
            new.digest(),
            old.digest(),
            new.catalogue().len(),
            new.warnings().len()
        );
        let audit = self.audit(&actor.name, "policy.reload", None, actor.ip.as_deref(), detail);
        self.store.commit(vec![Change::InsertAudit(audit)]).await?;
        self.policies.replace(Arc::new(new));
        Ok(true)
    }

    /// The policy subject for `account`, with its stored restrictions.
    pub async fn subject_of(&self, account: &Account) -> Result<Subject, AppError> {
        let restrictions = self.store.list_restrictions(&account.id).await?;
        Ok(Subject::new(account, &restrictions))
    }

    /// May `account` use `resource` now? The one decision every entry point uses.
    pub async fn decide_access(&self, account: &Account, resource: &ResourceId) -> Result<Decision, AppError> {
        let subject = self.subject_of(account).await?;
        Ok(self.policies().decide(&subject, resource, self.clock.now()))
    }

    /// The launcher: the resources `account` may use now, in catalogue order.
    pub async fn launcher(&self, account: &Account) -> Result<Vec<Resource>, AppError> {
        let subject = self.subject_of(account).await?;
        Ok(self.policies().allowed_resources(&subject, self.clock.now()).into_iter().cloned().collect())
    }

    /// The decision for `login` on `resource` in words, for administrators.
    pub async fn explain_access(&self, login: &str, resource: &str) -> Result<String, AppError> {
        let account = self.account_by_login(login).await?;
        let resource = self.known_resource(resource)?;
        let subject = self.subject_of(&account).await?;
        Ok(self.policies().explain(&subject, &resource, self.clock.now()))
    }

    /// Cuts `login` off from one resource without blocking the account, until
    /// `until` or until lifted; journaled in the audit log.
    pub async fn restrict(
        &self,
        actor: &Actor,
        login: &str,
        resource: &str,
        reason: &str,
        until: Option<Timestamp>,
    ) -> Result<Restriction, AppError> {
        let account = self.account_by_login(login).await?;
        let resource = self.known_resource(resource)?;
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        if reason.is_empty() || reason.chars().count() > REASON_MAX {
            return Err(AppError::Invalid(format!("a reason of 1 to {REASON_MAX} characters is required")));
        }
        let now = self.clock.now();
        if until.is_some_and(|u| u <= now) {
            return Err(AppError::Invalid("the restriction would end before it starts".into()));
        }
        let restriction = Restriction { resource: resource.clone(), reason, until, set_by: actor.name.clone() };
        let audit = self.audit(
            &actor.name,
            "access.restrict",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!(
                "resource={resource} until={} reason={}",
                until.map_or_else(|| "lifted".to_owned(), Timestamp::to_human),
                restriction.reason
            ),
        );
        self.store
            .commit(vec![
                Change::Access(AccessChange::PutRestriction {
                    account: account.id.clone(),
                    restriction: restriction.clone(),
                    at: now,
                }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(restriction)
    }

    /// Lifts a restriction, journaled; `NotFound("restriction")` if there is none.
    pub async fn unrestrict(&self, actor: &Actor, login: &str, resource: &str, reason: &str) -> Result<(), AppError> {
        let account = self.account_by_login(login).await?;
        let resource = ResourceId::parse(resource).map_err(|_| AppError::NotFound("resource"))?;
        let audit = self.audit(
            &actor.name,
            "access.unrestrict",
            Some(account.login.as_str()),
            actor.ip.as_deref(),
            format!("resource={resource} reason={}", reason.trim()),
        );
        self.store
            .commit(vec![
                Change::Access(AccessChange::DeleteRestriction { account: account.id.clone(), resource }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(())
    }

    /// A request behind the reverse proxy, for `host` and `path` as the proxy saw them,
    /// by the holder of a live session of `account` (if any).
    pub async fn forward_auth(
        &self,
        account: Option<&Account>,
        host: &str,
        path: &str,
    ) -> Result<ForwardAuth, AppError> {
        let policies = self.policies();
        let Some(resource) = policies.resource_for_request(host, path) else {
            return Ok(ForwardAuth::UnknownResource);
        };
        let Some(a) = account else {
            return Ok(ForwardAuth::SignIn);
        };
        let restrictions = self.store.list_restrictions(&a.id).await?;
        Ok(self.forward_answer(&policies, resource, a, &restrictions))
    }

    /// The forward-auth answer for `account`, with its stored `restrictions`, on
    /// `resource`: the one decision, then only what the resource may see.
    fn forward_answer(
        &self,
        policies: &Policies,
        resource: &Resource,
        a: &Account,
        restrictions: &[Restriction],
    ) -> ForwardAuth {
        if a.password_must_change {
            return ForwardAuth::SignIn;
        }
        let subject = Subject::new(a, restrictions);
        if !policies.decide(&subject, &resource.id, self.clock.now()).allowed {
            return ForwardAuth::Refused(Box::new(resource.clone()));
        }
        let release = resource.releases();
        let identity = Identity {
            login: a.login.as_str().to_owned(),
            name: release.name.then(|| a.full_name.clone()),
            email: if release.email { a.email.clone() } else { None },
            groups: release.groups.then(|| a.roles.iter().map(|r| r.as_str().to_owned()).collect()),
        };
        ForwardAuth::Allowed { resource: resource.id.clone(), identity }
    }

    /// Is `url` an address of a forward-auth resource of the catalogue, so that sending
    /// a person there after sign-in is no open redirect?
    pub fn is_catalogue_url(&self, url: &str) -> bool {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let Some((host, path)) = rest.map(|r| r.split_once('/').map_or((r, "/"), |(h, _)| (h, &r[h.len()..]))) else {
            return false;
        };
        !host.is_empty()
            && !host.contains(['@', '\\'])
            && !url.chars().any(char::is_control)
            && self.policies().resource_for_request(host, path).is_some()
    }

    fn known_resource(&self, resource: &str) -> Result<ResourceId, AppError> {
        ResourceId::parse(resource)
            .ok()
            .filter(|id| self.policies().resource(id).is_some())
            .ok_or(AppError::NotFound("resource"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::testing::{self, TestClock};
    use crate::app::{CurrentSession, SignInRequest};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::journal::Channel;
    use crate::domain::password::Password;
    use crate::ports::Clock as _;

    /// A signed-in person with `roles`, password already changed.
    async fn person(app: &App, login: &str, roles: Vec<Role>) -> CurrentSession {
        let new = NewAccount {
            login: login.into(),
            full_name: "Учебная Анна".into(),
            email: Some(format!("{login}@college.example")),
            roles,
            ..NewAccount::default()
        };
        let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("user");
        let req = SignInRequest { login: login.into(), password: cred.password.clone(), ip: None, user_agent: None };
        let token = app.sign_in(req).await.expect("sign in").token;
        let s = app.current_session(token).await.expect("lookup").expect("live");
        let pw = Password::new("Морская-волна-2026");
        app.change_password(&s, cred.password, pw.clone(), pw, None).await.expect("change");
        app.current_session(s.token).await.expect("lookup").expect("live")
    }

    fn ids(resources: &[Resource]) -> Vec<&str> {
        resources.iter().map(|r| r.id.as_str()).collect()
    }

    async fn allowed(app: &App, s: &CurrentSession, resource: &str) -> bool {
        let id = ResourceId::parse(resource).expect("id");
        app.decide_access(&s.account, &id).await.expect("decide").allowed
    }

    #[tokio::test]
    async fn a_restriction_cuts_one_resource_until_it_lapses_or_is_lifted() {
        let (app, clock): (App, std::sync::Arc<TestClock>) = testing::app().await;
        let s = person(&app, "anna.u", vec![Role::Student]).await;
        let admin = Actor { name: "admin".into(), ip: Some("192.0.2.7".into()) };
        assert!(allowed(&app, &s, "moodle").await);
        let until = clock.now().saturating_add(Duration::from_secs(86_400));
        let r = app.restrict(&admin, "anna.u", "moodle", "  долг   по оплате ", Some(until)).await.expect("restrict");
        assert_eq!((r.reason.as_str(), r.set_by.as_str()), ("долг по оплате", "admin"));
        assert!(!allowed(&app, &s, "moodle").await, "restricted");
        assert!(allowed(&app, &s, "mail").await, "the account itself stays usable (R-4)");
        assert!(!ids(&app.launcher(&s.account).await.expect("launcher")).contains(&"moodle"));
        let explained = app.explain_access("anna.u", "moodle").await.expect("explain");
        assert!(explained.contains("personal-restriction") && explained.contains("долг по оплате"), "{explained}");

        clock.advance(Duration::from_secs(86_400));
        assert!(allowed(&app, &s, "moodle").await, "lapsed at `until`");

        app.restrict(&admin, "anna.u", "moodle", "снова", None).await.expect("restrict until lifted");
        clock.advance(Duration::from_secs(365 * 86_400));
        assert!(!allowed(&app, &s, "moodle").await, "no end date: still in force");
        app.unrestrict(&admin, "anna.u", "moodle", "оплачено").await.expect("lift");
        assert!(allowed(&app, &s, "moodle").await);
        assert!(matches!(
            app.unrestrict(&admin, "anna.u", "moodle", "again").await,
            Err(AppError::NotFound("restriction"))
        ));

        let journal = app.store.list_audit("access.", 10).await.expect("audit");
        let actions: Vec<&str> = journal.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["access.unrestrict", "access.restrict", "access.restrict"]);
        assert!(journal.iter().all(|a| a.actor == "admin" && a.subject.as_deref() == Some("anna.u")));
        assert!(journal[2].detail.contains("resource=moodle") && journal[2].detail.contains("долг по оплате"));
    }

    #[tokio::test]
    async fn restrictions_refuse_bad_input() {
        let (app, clock) = testing::app().await;
        person(&app, "anna.u", vec![Role::Student]).await;
        let a = Actor::system();
        assert!(matches!(app.restrict(&a, "anna.u", "no-such", "x", None).await, Err(AppError::NotFound("resource"))));
        assert!(matches!(app.restrict(&a, "nobody", "moodle", "x", None).await, Err(AppError::NotFound("account"))));
        assert!(matches!(app.restrict(&a, "anna.u", "moodle", "   ", None).await, Err(AppError::Invalid(_))));
        assert!(matches!(
            app.restrict(&a, "anna.u", "moodle", "x", Some(clock.now())).await,
            Err(AppError::Invalid(_))
        ));
        assert!(app.store.list_audit("access.", 10).await.expect("audit").is_empty(), "nothing journaled");
    }

    #[tokio::test]
    async fn the_launcher_lists_what_each_role_may_use() {
        let (app, _) = testing::app().await;
        let student = person(&app, "student.s", vec![Role::Student]).await;
        let staff = person(&app, "staff.s", vec![Role::Staff]).await;
        let s = ids(&app.launcher(&student.account).await.expect("launcher")).join(" ");
        let t = ids(&app.launcher(&staff.account).await.expect("launcher")).join(" ");
        assert!(s.contains("moodle") && s.contains("sferum") && !s.contains("timetable-editor"), "{s}");
        assert!(t.contains("timetable-editor") && !t.contains("moodle"), "{t}");
    }

    #[tokio::test]
    async fn forward_auth_releases_only_what_the_resource_may_see() {
        let (app, _) = testing::app().await;
        let staff = person(&app, "staff.s", vec![Role::Staff]).await;
        let student = person(&app, "student.s", vec![Role::Student]).await;
        let host = "timetable.college.example";
        assert_eq!(
            app.forward_auth(Some(&staff.account), "elsewhere.example", "/").await.expect("fa"),
            ForwardAuth::UnknownResource
        );
        assert_eq!(
            app.forward_auth(Some(&staff.account), host, "/edit/../x").await.expect("fa"),
            ForwardAuth::UnknownResource
        );
        assert_eq!(app.forward_auth(None, host, "/group/1").await.expect("fa"), ForwardAuth::SignIn);
        match app.forward_auth(Some(&staff.account), host, "/edit/week?x=1").await.expect("fa") {
            ForwardAuth::Allowed { resource, identity } => {
                assert_eq!(resource.as_str(), "timetable-editor");
                assert_eq!(identity.login, "staff.s");
                assert_eq!(identity.name.as_deref(), Some("Учебная Анна"));
                assert_eq!(identity.email.as_deref(), Some("staff.s@college.example"));
                assert_eq!(identity.groups, Some(vec!["staff".to_owned()]));
            }
            other => panic!("{other:?}"),
        }
        match app.forward_auth(Some(&student.account), host, "/group/IS-21").await.expect("fa") {
            ForwardAuth::Allowed { identity, .. } => {
                assert_eq!(identity, Identity { login: "student.s".into(), name: None, email: None, groups: None });
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            app.forward_auth(Some(&student.account), host, "/edit/week").await.expect("fa"),
            ForwardAuth::Refused(r) if r.id.as_str() == "timetable-editor"
        ));
    }

    #[tokio::test]
    async fn return_addresses_must_be_catalogue_forward_auth_addresses() {
        let (app, _) = testing::app().await;
        for ok in [
            "https://timetable.college.example/edit/x",
            "https://timetable.college.example",
            "http://timetable.college.example/",
        ] {
            assert!(app.is_catalogue_url(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "https://timetable.college.example@evil.example/",
            "//timetable.college.example/",
            "javascript:alert(1)",
            "https://timetable.college.example/nothing-here",
            "https://timetable.college.example/edit/\n",
        ] {
            assert!(!app.is_catalogue_url(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_changed_version_is_installed_and_audited_with_its_digest() {
        let (app, _) = testing::app().await;
        let before = app.policies().digest().to_owned();
        assert!(
            !app.install_policies(&Actor::system(), testing::shipped_policies()).await.expect("same"),
            "same digest"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        for f in std::fs::read_dir(&shipped).expect("dir") {
            let f = f.expect("entry").path();
            // The policy files only (`rules/` holds the rules of the environment).
            if f.is_file() {
                std::fs::copy(&f, dir.path().join(f.file_name().expect("name"))).expect("copy");
            }
        }
        let roles = dir.path().join("roles.cedar");
        let text = std::fs::read_to_string(&roles).expect("read") + "\n// a reviewed change\n";
        std::fs::write(&roles, text).expect("write");
        let new = Policies::load(dir.path()).expect("valid");
        let digest = new.digest().to_owned();
        assert_ne!(digest, before);
        assert!(app.install_policies(&Actor::system(), new).await.expect("install"));
        assert_eq!(app.policies().digest(), digest);
        let audit = app.store.list_audit("policy.", 5).await.expect("audit");
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "policy.reload");
        assert!(audit[0].detail.contains(&format!("digest={digest}")) && audit[0].detail.contains(&before));
    }
}
