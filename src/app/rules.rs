//! The rules of the environment (R-7, the regulation's Appendix 1): publishing versions,
//! the gate that sends a person to accept the current version before anything else, and
//! recording the acceptance.
//!
//! A person must accept at first sign-in and again after every new version. The gate
//! ([`App::must_accept_rules`]) is asked wherever a signed-in person goes on: the
//! personal account, the authorization endpoint and forward-auth. Until a version is
//! published there is nothing to accept; `serve` publishes the shipped text as version 1
//! on first start. The Russian text is binding (its SHA-256 is the version's digest); an
//! English translation may be attached to a version without asking anyone again.

use sha2::{Digest as _, Sha256};

use crate::domain::ids::AccountId;
use crate::domain::session::EndReason;
use crate::ports::rules::{Acceptance, RuleVersion, RulesChange, RulesStanding};
use crate::ports::{Change, StoreError};

use super::{Actor, App, AppError, CurrentSession};

/// Whether people are asked to accept the rules (`rules.required`). An installation that
/// collects the acknowledgement elsewhere may turn it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesPolicy {
    pub required: bool,
}

impl Default for RulesPolicy {
    fn default() -> Self {
        Self { required: true }
    }
}

/// The language of a published text: Russian makes a new version, English translates
/// the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesLang {
    Ru,
    En,
}

/// The largest rules text accepted (the regulation's appendix is about 4 KB).
pub const MAX_RULES_BYTES: usize = 100_000;

/// The text as stored: line ends made `\n`, trailing blanks of lines and of the text cut.
fn normalise(text: &str) -> Result<String, AppError> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let text = lines.join("\n").trim().to_owned();
    if text.is_empty() {
        return Err(AppError::Invalid("the rules text is empty".into()));
    }
    if text.len() > MAX_RULES_BYTES {
        return Err(AppError::Invalid(format!("the rules text is longer than {MAX_RULES_BYTES} bytes")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(AppError::Invalid("the rules text contains control characters".into()));
    }
    Ok(text)
}

/// SHA-256 of a text, hex: a version's digest.
pub fn rules_digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl App {
    /// The version in force, if any was published.
    pub async fn current_rules(&self) -> Result<Option<RuleVersion>, AppError> {
        Ok(self.store.find_current_rules().await?)
    }

    /// Every published version, newest first.
    pub async fn rule_versions(&self) -> Result<Vec<RuleVersion>, AppError> {
        Ok(self.store.list_rule_versions().await?)
    }

    /// The versions `account` accepted, with when and from where, newest first.
    pub async fn rule_acceptances(&self, account: &AccountId) -> Result<Vec<Acceptance>, AppError> {
        Ok(self.store.list_acceptances(account).await?)
    }

    /// The gate: whether `account` must accept the current rules before going on
    /// (a version is published and the person has not accepted it yet).
    pub async fn must_accept_rules(&self, account: &AccountId) -> Result<bool, AppError> {
        if !self.settings.rules.required {
            return Ok(false);
        }
        Ok(self.rules_unaccepted(self.store.rules_standing(account).await?))
    }

    /// [`Self::must_accept_rules`] for a standing read already (with a session, say).
    pub fn rules_unaccepted(&self, standing: RulesStanding) -> bool {
        self.settings.rules.required
            && match (standing.current, standing.accepted) {
                (None, _) => false,
                (Some(current), accepted) => accepted.is_none_or(|a| a < current),
            }
    }

    /// Records that the person behind `s` accepted version `version`, with the audit event
    /// in the same transaction. `Conflict("rules version")` when `version` is no longer
    /// the current one (a newer version was published while they read): they must read
    /// the new one. Accepting a version accepted before changes nothing.
    pub async fn accept_rules(&self, s: &CurrentSession, version: i64, ip: Option<&str>) -> Result<(), AppError> {
        let current = self.store.find_current_rules().await?.ok_or(AppError::NotFound("rules version"))?;
        if current.number != version {
            return Err(AppError::Conflict("rules version"));
        }
        let login = s.account.login.as_str();
        let now = self.clock.now();
        let acceptance = Acceptance { account: s.account.id.clone(), version, at: now, ip: ip.map(str::to_owned) };
        let detail = format!("version={version} digest={}", current.digest);
        let audit = self.audit(login, "rules.accept", Some(login), ip, detail);
        match self.store.commit(vec![Change::Rules(RulesChange::Accept(acceptance)), Change::InsertAudit(audit)]).await
        {
            // Accepted before (or twice at once): it stands.
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The person declines the rules: they are signed out (the session ends everywhere,
    /// invariant 9), with the refusal in the audit log.
    pub async fn decline_rules(&self, s: &CurrentSession, ip: Option<&str>) -> Result<(), AppError> {
        let now = self.clock.now();
        let login = s.account.login.as_str();
        let version = self.store.find_current_rules().await?.map_or(0, |v| v.number);
        let audit = self.audit(login, "rules.decline", Some(login), ip, format!("version={version}"));
        let mut changes = vec![Change::EndSession {
            hash: s.hash.clone(),
            account: s.account.id.clone(),
            at: now,
            reason: EndReason::SignedOut,
        }];
        changes.extend(self.logout_changes(&s.account.id, &s.hash, now).await?);
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        Ok(())
    }

    /// Publishes `text`: in Russian, a new version everyone must accept again; in English,
    /// the translation of the current version. Audited with the digest.
    pub async fn publish_rules(&self, actor: &Actor, text: &str, lang: RulesLang) -> Result<RuleVersion, AppError> {
        let text = normalise(text)?;
        let now = self.clock.now();
        let current = self.store.find_current_rules().await?;
        let (version, change, detail) = match lang {
            RulesLang::Ru => {
                let v = RuleVersion {
                    number: current.as_ref().map_or(1, |c| c.number + 1),
                    digest: rules_digest(&text),
                    text_ru: text,
                    text_en: None,
                    published_at: now,
                    published_by: actor.name.clone(),
                };
                let detail = format!("version={} digest={} lang=ru", v.number, v.digest);
                (v.clone(), RulesChange::Publish(v), detail)
            }
            RulesLang::En => {
                let mut v = current.ok_or(AppError::NotFound("rules version"))?;
                let detail = format!("version={} translation_digest={} lang=en", v.number, rules_digest(&text));
                v.text_en = Some(text.clone());
                (v.clone(), RulesChange::Translate { number: v.number, text_en: text }, detail)
            }
        };
        let audit = self.audit(&actor.name, "rules.publish", None, actor.ip.as_deref(), detail);
        match self.store.commit(vec![Change::Rules(change), Change::InsertAudit(audit)]).await {
            Ok(()) => Ok(version),
            Err(StoreError::Conflict(_)) => {
                Err(AppError::Invalid("another version was published at the same time; try again".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// On start: publishes the shipped rules as version 1 when none was published yet
    /// (and people are asked to accept them at all). Returns the version published, if
    /// any; a version published by another node starting at the same time is no error.
    pub async fn publish_default_rules(&self, ru: &str, en: Option<&str>) -> Result<Option<i64>, AppError> {
        if !self.settings.rules.required || self.store.find_current_rules().await?.is_some() {
            return Ok(None);
        }
        let ru = normalise(ru)?;
        let en = en.map(normalise).transpose()?;
        let v = RuleVersion {
            number: 1,
            digest: rules_digest(&ru),
            text_ru: ru,
            text_en: en,
            published_at: self.clock.now(),
            published_by: "system".into(),
        };
        let detail =
            format!("version=1 digest={} lang=ru{} default", v.digest, if v.text_en.is_some() { ",en" } else { "" });
        let audit = self.audit("system", "rules.publish", None, None, detail);
        match self.store.commit(vec![Change::Rules(RulesChange::Publish(v)), Change::InsertAudit(audit)]).await {
            Ok(()) => Ok(Some(1)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing;
    use crate::app::{Actor, SignInRequest};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::journal::Channel;

    async fn person(app: &App) -> CurrentSession {
        let new = NewAccount {
            login: "pravilova.p".into(),
            full_name: "Правилова Полина".into(),
            roles: vec![Role::Student],
            ..NewAccount::default()
        };
        let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add");
        let r = SignInRequest { login: "pravilova.p".into(), password: cred.password, ip: None, user_agent: None };
        let token = app.sign_in(r).await.expect("sign in").token;
        app.current_session(token).await.expect("lookup").expect("live")
    }

    #[tokio::test]
    async fn nothing_to_accept_until_published_then_each_new_version() {
        let (app, _) = testing::app().await;
        let s = person(&app).await;
        assert!(!app.must_accept_rules(&s.account.id).await.expect("gate"), "no version yet");
        assert_eq!(app.publish_default_rules("Правила\r\n\r\n1. Беречь пароль.  \n", None).await.expect("v1"), Some(1));
        assert_eq!(app.publish_default_rules("Другие", None).await.expect("again"), None, "only when none");
        assert!(app.must_accept_rules(&s.account.id).await.expect("gate"));
        let v1 = app.current_rules().await.expect("current").expect("v1");
        assert_eq!(v1.text_ru, "Правила\n\n1. Беречь пароль.");
        assert_eq!(v1.digest, rules_digest(&v1.text_ru));
        assert!(matches!(app.accept_rules(&s, 2, Some("192.0.2.1")).await, Err(AppError::Conflict(_))));
        app.accept_rules(&s, 1, Some("192.0.2.1")).await.expect("accept");
        app.accept_rules(&s, 1, None).await.expect("accepting again changes nothing");
        assert!(!app.must_accept_rules(&s.account.id).await.expect("gate"));
        // A translation asks nobody again; a new Russian text does.
        let admin = Actor { name: "os:registrar".into(), ip: None };
        app.publish_rules(&admin, "Rules", RulesLang::En).await.expect("en");
        assert!(!app.must_accept_rules(&s.account.id).await.expect("gate"));
        let v2 = app.publish_rules(&admin, "Правила, редакция 2", RulesLang::Ru).await.expect("v2");
        assert_eq!((v2.number, v2.text_en.as_deref()), (2, None));
        assert!(app.must_accept_rules(&s.account.id).await.expect("gate"));
        app.accept_rules(&s, 2, None).await.expect("accept v2");
        let accepted: Vec<i64> =
            app.rule_acceptances(&s.account.id).await.expect("list").iter().map(|a| a.version).collect();
        assert_eq!(accepted, [2, 1]);
        let audit = app.store.list_audit("rules.", 10).await.expect("audit");
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["rules.accept", "rules.publish", "rules.publish", "rules.accept", "rules.publish"]);
    }

    #[tokio::test]
    async fn bad_texts_change_nothing_and_declining_signs_out() {
        let (app, _) = testing::app().await;
        let admin = Actor::system();
        for bad in ["", "  \n\t\n", "a\u{7}b", &"я".repeat(MAX_RULES_BYTES)] {
            assert!(
                matches!(app.publish_rules(&admin, bad, RulesLang::Ru).await, Err(AppError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(app.publish_rules(&admin, "Rules", RulesLang::En).await, Err(AppError::NotFound(_))));
        assert_eq!(app.current_rules().await.expect("current"), None);
        let s = person(&app).await;
        app.publish_rules(&admin, "Правила", RulesLang::Ru).await.expect("v1");
        app.decline_rules(&s, None).await.expect("decline");
        assert!(app.current_session(s.token.clone()).await.expect("lookup").is_none());
        assert!(app.must_accept_rules(&s.account.id).await.expect("gate"), "still to accept");
    }

    #[tokio::test]
    async fn the_gate_is_off_when_not_required() {
        let (mut app, _) = testing::app().await;
        let s = person(&app).await;
        app.publish_rules(&Actor::system(), "Правила", RulesLang::Ru).await.expect("v1");
        app.settings.rules.required = false;
        assert!(!app.must_accept_rules(&s.account.id).await.expect("gate"));
    }
}
