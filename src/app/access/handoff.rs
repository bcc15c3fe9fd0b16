//! Forward-auth across hosts. The session cookie is host-only (`__Host-`), so an app on
//! another host behind the reverse proxy never sees it. After sign-in propusk hands the
//! session over: it sends the browser to the app host's callback with a one-time code
//! (at most [`HANDOFF_TTL`], stored hashed, bound to that host and to the session); the
//! callback trades the code for a host session, whose cookie belongs to that host alone.
//! Forward-auth accepts that cookie on that host only, and only while the session it
//! came from lives, so ending the session (sign-out, suspension, compromise…) ends every
//! host session with it.
//!
//! A code works once; a second use of it also ends the host session it opened (someone
//! else holds a copy of it). A code shown at another host is burnt and refused. The
//! return address is a catalogue address on the code's host, checked when the code is
//! made and again when it is redeemed: no open redirect.

use std::time::Duration;

use crate::domain::account::AccountStatus;
use crate::domain::ids::{SessionToken, SessionTokenHash};
use crate::policy::clean_request_host;
use crate::ports::access::{Handoff, HostSession, SessionAccess};
use crate::ports::{AccessChange, Change, StoreError};

use super::super::{App, AppError, CurrentSession};
use super::ForwardAuth;

/// How long a handoff code may wait for its callback.
pub const HANDOFF_TTL: Duration = Duration::from_secs(60);

/// The path, on a protected host, that the reverse proxy passes to propusk's
/// `/auth/callback` (see `deploy/nginx/`).
pub const CALLBACK_PATH: &str = "/.propusk/callback";

/// A redeemed handoff code: the host cookie to set and where to go next.
#[derive(Debug)]
pub struct Redeemed {
    pub token: SessionToken,
    pub return_to: String,
    /// How long the cookie may live: until the session's absolute end.
    pub max_age: Duration,
}

/// `scheme://authority` and the host (lower case, no port) of an absolute URL.
fn origin_of(url: &str) -> Option<(&str, String)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = &url[..url.len() - rest.len() + end];
    Some((origin, clean_request_host(&rest[..end])))
}

impl App {
    /// The answer to a proxied request for `host` and `path`, for whoever the cookies
    /// name: propusk's own session cookie (seen when the app shares propusk's host) or
    /// the host session cookie of the app's host. Every request reads the session, its
    /// account, restrictions and rules standing from the store (one query), so an ended session, a
    /// suspension or a new restriction takes effect at once.
    pub async fn verify_forward(
        &self,
        session: Option<&str>,
        host_session: Option<&str>,
        host: &str,
        path: &str,
    ) -> Result<ForwardAuth, AppError> {
        let policies = self.policies();
        let Some(resource) = policies.resource_for_request(host, path) else {
            return Ok(ForwardAuth::UnknownResource);
        };
        let mut holder = None;
        if let Some(token) = session.and_then(SessionToken::from_cookie) {
            holder = self.session_access(&token.hash()).await?;
        }
        if let (None, Some(token)) = (&holder, host_session.and_then(SessionToken::from_cookie)) {
            holder = self.host_session_access(&token, host).await?;
        }
        // until the current rules are accepted, the person goes through sign-in
        // (which sends them to the rules) like someone not signed in.
        if let Some(h) = &holder {
            if self.rules_unaccepted(h.rules) {
                return Ok(ForwardAuth::SignIn);
            }
        }
        Ok(match holder {
            Some(h) => self.forward_answer(&policies, resource, &h.account, &h.restrictions),
            None => ForwardAuth::SignIn,
        })
    }

    /// The holder of a host session cookie presented at `host`, if the host session
    /// belongs to that host and its session still lives.
    async fn host_session_access(&self, token: &SessionToken, host: &str) -> Result<Option<SessionAccess>, AppError> {
        let Some(hs) = self.store.find_host_session(&token.hash()).await? else {
            return Ok(None);
        };
        if hs.host != clean_request_host(host) || hs.expires_at <= self.clock.now() {
            return Ok(None);
        }
        self.session_access(&hs.session).await
    }

    /// A live session known by its hash, with its account and restrictions: not ended,
    /// not timed out (D-3), of an active account. Touched like a session used at propusk
    /// itself (using an app is activity), at most once a minute.
    async fn session_access(&self, hash: &SessionTokenHash) -> Result<Option<SessionAccess>, AppError> {
        let Some(mut found) = self.store.find_session_access(hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let times = &mut found.session.times;
        if found.session.ended_at.is_some()
            || times.ended_at(now).is_some()
            || found.account.status != AccountStatus::Active
            || (found.account.roles.any_administrative() && found.session.second_factor_at.is_none())
        {
            return Ok(None);
        }
        if times.needs_touch(now) {
            self.store.commit(vec![Change::TouchSession { hash: hash.clone(), at: now }]).await?;
            times.last_seen_at = now;
        }
        Ok(Some(found))
    }

    /// Where to send `s` after sign-in to reach `rd`: `rd` itself when it is on
    /// propusk's own host (the session cookie is seen there), else the callback of
    /// `rd`'s host with a fresh handoff code. `None`: `rd` is not a catalogue address.
    pub async fn continue_to(&self, s: &CurrentSession, rd: &str) -> Result<Option<String>, AppError> {
        if !self.is_catalogue_url(rd) {
            return Ok(None);
        }
        let Some((origin, host)) = origin_of(rd) else {
            return Ok(None);
        };
        if origin_of(&self.issuer).is_some_and(|(_, own)| own == host) {
            return Ok(Some(rd.to_owned()));
        }
        let code = SessionToken::generate(&mut rand::rngs::OsRng);
        let now = self.clock.now();
        let handoff = Handoff {
            code: code.hash(),
            session: s.hash.clone(),
            host,
            return_to: rd.to_owned(),
            created_at: now,
            expires_at: now.saturating_add(HANDOFF_TTL),
            used_at: None,
        };
        self.store.commit(vec![Change::Access(AccessChange::InsertHandoff(handoff))]).await?;
        Ok(Some(format!("{origin}{CALLBACK_PATH}?code={}", code.expose())))
    }

    /// The callback on `host`: trades a handoff `code` for a host session. `None` when
    /// the code is malformed, unknown, lapsed, used before, meant for another host, or
    /// its session has ended; a code is used up by any attempt to redeem it.
    pub async fn redeem_handoff(&self, code: &str, host: &str) -> Result<Option<Redeemed>, AppError> {
        let Some(code) = SessionToken::from_cookie(code) else {
            return Ok(None);
        };
        let hash = code.hash();
        let Some(handoff) = self.store.find_handoff(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let host = clean_request_host(host);
        let burn = Change::Access(AccessChange::UseHandoff { code: hash.clone(), at: now });
        let refuse = |why: &str| {
            let detail = format!("host={host} code_host={} reason={why}", handoff.host);
            Change::InsertAudit(self.audit("forward-auth", "forward_auth.handoff_refused", None, None, detail))
        };
        if handoff.used_at.is_some() {
            let revoke = Change::Access(AccessChange::DeleteHostSessionsOf { code: hash });
            self.store.commit(vec![revoke, refuse("used before; its host session ended")]).await?;
            return Ok(None);
        }
        let fits = |url: &str| self.is_catalogue_url(url) && origin_of(url).is_some_and(|(_, h)| h == handoff.host);
        let why = if handoff.host != host {
            Some("another host")
        } else if handoff.expires_at <= now {
            Some("lapsed")
        } else if !fits(&handoff.return_to) {
            Some("the return address left the catalogue")
        } else {
            None
        };
        let live = match why {
            Some(_) => None,
            None => self.session_access(&handoff.session).await?,
        };
        let Some(times) = live.map(|l| l.session.times) else {
            let why = why.unwrap_or("the session has ended");
            return match self.store.commit(vec![burn, refuse(why)]).await {
                Ok(()) | Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            };
        };
        let token = SessionToken::generate(&mut rand::rngs::OsRng);
        let host_session = HostSession {
            token: token.hash(),
            session: handoff.session.clone(),
            host: handoff.host.clone(),
            code: hash,
            created_at: now,
            expires_at: times.expires_at,
        };
        let open = Change::Access(AccessChange::InsertHostSession(host_session));
        match self.store.commit(vec![burn, open]).await {
            Ok(()) => Ok(Some(Redeemed { token, return_to: handoff.return_to, max_age: times.expires_at.since(now) })),
            // Redeemed meanwhile by another request: this one loses.
            Err(StoreError::NotFound(_)) => Ok(None),
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
    use crate::domain::password::Password;
    use crate::ports::Clock as _;

    const EDITOR: &str = "https://timetable.college.example/edit/week?d=1";
    const HOST: &str = "timetable.college.example";

    async fn staff(app: &App) -> CurrentSession {
        let new = NewAccount {
            login: "staff.s".into(),
            full_name: "Учебная Анна".into(),
            roles: vec![Role::Staff],
            ..NewAccount::default()
        };
        let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("user");
        let req =
            SignInRequest { login: "staff.s".into(), password: cred.password.clone(), ip: None, user_agent: None };
        let token = app.sign_in(req).await.expect("sign in").token;
        let s = app.current_session(token).await.expect("lookup").expect("live");
        let pw = Password::new("Морская-волна-2026");
        app.change_password(&s, cred.password, pw.clone(), pw, None).await.expect("change");
        app.current_session(s.token).await.expect("lookup").expect("live")
    }

    fn code_of(url: &str) -> &str {
        let prefix = format!("https://{HOST}{CALLBACK_PATH}?code=");
        url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"))
    }

    async fn verdict(app: &App, token: &SessionToken, host: &str) -> ForwardAuth {
        app.verify_forward(None, Some(token.expose()), host, "/edit/week").await.expect("verify")
    }

    #[tokio::test]
    async fn a_code_opens_a_host_session_once_on_its_host_only() {
        let (app, _) = testing::app().await;
        let s = staff(&app).await;
        assert_eq!(app.continue_to(&s, "https://evil.example/").await.expect("continue"), None);
        let to = app.continue_to(&s, EDITOR).await.expect("continue").expect("catalogue");
        let code = code_of(&to).to_owned();
        let stored = app.store.find_handoff(&SessionToken::from_cookie(&code).expect("c").hash()).await.expect("find");
        let stored = stored.expect("stored hashed");
        assert_ne!(stored.code.as_str(), code, "only the hash is stored");
        assert_eq!((stored.host.as_str(), stored.return_to.as_str()), (HOST, EDITOR));

        let r = app.redeem_handoff(&code, "Timetable.College.Example:443").await.expect("redeem").expect("ok");
        assert_eq!(r.return_to, EDITOR);
        assert!(r.max_age > Duration::from_secs(3600));
        assert!(matches!(verdict(&app, &r.token, HOST).await, ForwardAuth::Allowed { .. }));
        assert_eq!(verdict(&app, &r.token, "other.college.example").await, ForwardAuth::UnknownResource);

        // A replay is refused and ends the host session the code opened.
        assert!(app.redeem_handoff(&code, HOST).await.expect("replay").is_none());
        assert_eq!(verdict(&app, &r.token, HOST).await, ForwardAuth::SignIn, "revoked by the replay");
        let audit = app.store.list_audit("forward_auth.", 5).await.expect("audit");
        assert!(audit[0].detail.contains("used before"), "{:?}", audit[0]);
    }

    #[tokio::test]
    async fn foreign_hosts_lapsed_and_unknown_codes_are_refused() {
        let (app, clock) = testing::app().await;
        let s = staff(&app).await;
        let foreign = app.continue_to(&s, EDITOR).await.expect("continue").expect("url");
        assert!(app.redeem_handoff(code_of(&foreign), "evil.example").await.expect("redeem").is_none());
        assert!(
            app.redeem_handoff(code_of(&foreign), HOST).await.expect("redeem").is_none(),
            "burnt by the foreign attempt"
        );
        let late = app.continue_to(&s, EDITOR).await.expect("continue").expect("url");
        clock.advance(HANDOFF_TTL);
        assert!(app.redeem_handoff(code_of(&late), HOST).await.expect("redeem").is_none(), "lapsed");
        for bad in ["", "x", "not a code", &"A".repeat(43)] {
            assert!(app.redeem_handoff(bad, HOST).await.expect("redeem").is_none(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn ending_the_session_ends_its_host_sessions() {
        let (app, clock) = testing::app().await;
        let s = staff(&app).await;
        let to = app.continue_to(&s, EDITOR).await.expect("continue").expect("url");
        let r = app.redeem_handoff(code_of(&to), HOST).await.expect("redeem").expect("ok");
        assert!(matches!(verdict(&app, &r.token, HOST).await, ForwardAuth::Allowed { .. }));
        let before = clock.now();
        app.sign_out(&s, None).await.expect("sign out");
        assert_eq!(verdict(&app, &r.token, HOST).await, ForwardAuth::SignIn, "signed out at propusk");
        assert!(clock.now() >= before);

        // A code made before the session ended cannot open a host session after.
        let s = app
            .current_session(
                app.sign_in(SignInRequest {
                    login: "staff.s".into(),
                    password: Password::new("Морская-волна-2026"),
                    ip: None,
                    user_agent: None,
                })
                .await
                .expect("sign in")
                .token,
            )
            .await
            .expect("lookup")
            .expect("live");
        let to = app.continue_to(&s, EDITOR).await.expect("continue").expect("url");
        app.sign_out(&s, None).await.expect("sign out");
        assert!(app.redeem_handoff(code_of(&to), HOST).await.expect("redeem").is_none());
    }

    #[tokio::test]
    async fn the_own_host_needs_no_handoff() {
        let (app, _) = testing::app().await;
        let s = staff(&app).await;
        let own = format!("{}/edit/x", app.issuer.trim_end_matches('/'));
        // The test issuer's host is not in the catalogue: refused like any other address.
        assert_eq!(app.continue_to(&s, &own).await.expect("continue"), None);
        assert_eq!(
            origin_of("https://a.example:8443/x?y").map(|(o, h)| (o.to_owned(), h)),
            Some(("https://a.example:8443".into(), "a.example".into()))
        );
        assert_eq!(
            origin_of("http://A.Example").map(|(o, h)| (o.to_owned(), h)),
            Some(("http://A.Example".into(), "a.example".into()))
        );
        assert_eq!(origin_of("ftp://a.example/"), None);
    }
}
