//! The provider's rules through the use cases, on an in-memory store and a fixed clock.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::app::testing::{self, TestClock};
use crate::app::{Actor, App, CurrentSession, SignInRequest};
use crate::domain::account::{NewAccount, Role, Roles};
use crate::domain::journal::Channel;
use crate::domain::oidc::{ClientKind, SigningAlg};
use crate::domain::password::Password;
use crate::ports::{Clock as _, LogoutSender};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://moodle.college.example/cb";

struct World {
    app: App,
    clock: std::sync::Arc<TestClock>,
    session: CurrentSession,
    client: crate::domain::oidc::Client,
    secret: String,
}

async fn world(roles: Roles) -> World {
    let (app, clock) = testing::app().await;
    let new = NewAccount {
        login: "student.one".into(),
        full_name: "Студентова Ольга".into(),
        email: Some("one@college.example".into()),
        roles: vec![Role::Student],
        study_group: Some("ИС-21".into()),
        ..NewAccount::default()
    };
    let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("user");
    let req =
        SignInRequest { login: "student.one".into(), password: cred.password.clone(), ip: None, user_agent: None };
    let token = app.sign_in(req).await.expect("sign in").token;
    let s = app.current_session(token).await.expect("lookup").expect("live");
    let pw = Password::new("Морская-волна-2026");
    app.change_password(&s, cred.password, pw.clone(), pw, None).await.expect("change");
    let session = app.current_session(s.token).await.expect("lookup").expect("live");
    let spec = ClientSpec {
        id: "moodle".into(),
        name: "Moodle".into(),
        kind: ClientKind::Confidential,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec!["https://moodle.college.example/".into()],
        scopes: "openid profile email roles groups offline_access".into(),
        allowed_roles: roles,
        id_token_alg: SigningAlg::RS256,
        access_token_ttl: Duration::from_secs(300),
        refresh_token_ttl: Duration::from_secs(86_400),
        backchannel_logout_uri: Some("https://moodle.college.example/bcl".into()),
    };
    let added = app.add_client(&Actor::system(), spec).await.expect("client");
    World { app, clock, session, client: added.client, secret: added.secret.expect("secret") }
}

fn request(scope: &str) -> AuthRequest {
    AuthRequest {
        client_id: Some("moodle".into()),
        redirect_uri: Some(REDIRECT.into()),
        response_type: Some("code".into()),
        scope: Some(scope.into()),
        state: Some("st".into()),
        nonce: Some("n-1".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..AuthRequest::default()
    }
}

async fn code(w: &World, scope: &str) -> String {
    match w.app.authorize(request(scope), Some(&w.session)).await.expect("authorize") {
        AuthOutcome::Code { code, state, .. } => {
            assert_eq!(state.as_deref(), Some("st"));
            code
        }
        other => panic!("expected a code, got {other:?}"),
    }
}

fn exchange(code: &str) -> CodeExchange {
    CodeExchange { code: Some(code.into()), redirect_uri: Some(REDIRECT.into()), code_verifier: Some(VERIFIER.into()) }
}

#[tokio::test]
async fn untrusted_clients_and_redirects_get_a_page_never_a_redirect() {
    let w = world(Roles::default()).await;
    let mut r = request("openid");
    r.client_id = Some("unknown".into());
    assert_eq!(w.app.authorize(r, Some(&w.session)).await, Err(AuthorizeError::Page("unknown_client")));
    for uri in ["https://evil.example/cb", "https://moodle.college.example/cb/", "https://moodle.college.example/cb?x"]
    {
        let mut r = request("openid");
        r.redirect_uri = Some(uri.into());
        assert_eq!(w.app.authorize(r, Some(&w.session)).await, Err(AuthorizeError::Page("bad_redirect_uri")), "{uri}");
    }
}

#[tokio::test]
async fn bad_requests_go_back_to_the_client_with_the_spec_error() {
    let w = world(Roles::default()).await;
    let cases: Vec<(Box<dyn Fn(&mut AuthRequest)>, &str)> = vec![
        (Box::new(|r| r.response_type = Some("token".into())), "unsupported_response_type"),
        (Box::new(|r| r.response_type = None), "invalid_request"),
        (Box::new(|r| r.scope = Some("profile".into())), "invalid_scope"),
        (Box::new(|r| r.code_challenge_method = Some("plain".into())), "invalid_request"),
        (Box::new(|r| r.code_challenge_method = None), "invalid_request"),
        (Box::new(|r| r.code_challenge = Some("short".into())), "invalid_request"),
        (Box::new(|r| r.prompt = Some("consent".into())), "invalid_request"),
        (Box::new(|r| r.max_age = Some("soon".into())), "invalid_request"),
        (Box::new(|r| r.request = Some("eyJ".into())), "request_not_supported"),
    ];
    for (edit, want) in cases {
        let mut r = request("openid");
        edit(&mut r);
        match w.app.authorize(r, Some(&w.session)).await {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(error, want);
                assert_eq!(state.as_deref(), Some("st"));
            }
            other => panic!("want {want}, got {other:?}"),
        }
    }
    // prompt=none without a session is login_required; prompt=login forces a sign-in.
    let mut r = request("openid");
    r.prompt = Some("none".into());
    assert!(matches!(w.app.authorize(r, None).await, Err(AuthorizeError::Redirect { error: "login_required", .. })));
    let mut r = request("openid");
    r.prompt = Some("login".into());
    assert!(matches!(w.app.authorize(r, Some(&w.session)).await, Ok(AuthOutcome::SignIn { force: true, .. })));
    w.clock.advance(Duration::from_secs(120));
    let mut r = request("openid");
    r.max_age = Some("60".into());
    assert!(matches!(w.app.authorize(r, Some(&w.session)).await, Ok(AuthOutcome::SignIn { force: true, .. })));
}

#[tokio::test]
async fn the_catalogue_policy_decides_for_its_client_and_names_the_owner() {
    // Moodle is the catalogue's "moodle" resource: students may use it, until restricted.
    let w = world(Roles::default()).await;
    code(&w, "openid").await;
    let until = w.clock.now().saturating_add(Duration::from_secs(3600));
    w.app
        .restrict(&Actor::system(), "student.one", "moodle", "академический отпуск", Some(until))
        .await
        .expect("restrict");
    match w.app.authorize(request("openid"), Some(&w.session)).await {
        Ok(AuthOutcome::Refused { resource: Some(r), .. }) => {
            assert_eq!(r.id.as_str(), "moodle");
            assert_eq!(r.owner.contact, "lms@college.example");
        }
        other => panic!("expected a refusal naming the resource, got {other:?}"),
    }
    let mut none = request("openid");
    none.prompt = Some("none".into());
    assert!(matches!(
        w.app.authorize(none, Some(&w.session)).await,
        Err(AuthorizeError::Redirect { error: "access_denied", .. })
    ));
    w.clock.advance(Duration::from_secs(3600));
    code(&w, "openid").await;
}

#[tokio::test]
async fn the_role_list_refuses_other_roles() {
    let w = world(Roles::new([Role::Teacher])).await;
    assert!(matches!(w.app.authorize(request("openid"), Some(&w.session)).await, Ok(AuthOutcome::Refused { .. })));
}

#[tokio::test]
async fn code_flow_tokens_claims_refresh_rotation_and_reuse() {
    let w = world(Roles::default()).await;
    let c = code(&w, "openid profile groups admin").await;
    let t = w.app.exchange_code(&w.client, exchange(&c)).await.expect("exchange");
    assert_eq!(t.scope, "groups openid profile", "unknown scopes are dropped");
    let claims = w.app.signer.verify(t.id_token.as_deref().expect("id token")).expect("signature");
    assert_eq!(claims["aud"], "moodle");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["iss"], "https://sso.college.example");
    assert_eq!(claims["sid"], w.session.hash.as_str());
    assert_eq!(claims["at_hash"], at_hash(&t.access_token));
    assert!(claims.get("email").is_none(), "email scope not granted (R-14)");
    let info = w.app.userinfo(&t.access_token).await.expect("userinfo").expect("valid");
    assert_eq!(info["preferred_username"], "student.one");
    assert_eq!(info["groups"], serde_json::json!(["ИС-21"]));

    // Rotation: each refresh token works once; reuse revokes the family.
    let r1 = t.refresh_token.clone().expect("refresh");
    let t2 = w.app.refresh(&w.client, Some(r1.clone()), None).await.expect("refresh");
    assert_ne!(t2.refresh_token.as_deref(), Some(r1.as_str()));
    assert!(w.app.userinfo(&t2.access_token).await.expect("userinfo").is_some());
    let err = w.app.refresh(&w.client, Some(r1), None).await.expect_err("reuse");
    assert_eq!(err.code, "invalid_grant");
    assert!(w.app.userinfo(&t2.access_token).await.expect("userinfo").is_none(), "the family is revoked");
    let err = w.app.refresh(&w.client, t2.refresh_token.clone(), None).await.expect_err("family");
    assert_eq!(err.code, "invalid_grant");
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound() {
    let w = world(Roles::default()).await;
    let c = code(&w, "openid").await;
    let mut wrong = exchange(&c);
    wrong.code_verifier = Some("x".repeat(43));
    assert_eq!(w.app.exchange_code(&w.client, wrong).await.expect_err("pkce").code, "invalid_grant");
    let mut wrong = exchange(&c);
    wrong.redirect_uri = Some("https://moodle.college.example/other".into());
    assert_eq!(w.app.exchange_code(&w.client, wrong).await.expect_err("redirect").code, "invalid_grant");
    let t = w.app.exchange_code(&w.client, exchange(&c)).await.expect("first use");
    // A replay fails and revokes what the code produced.
    assert_eq!(w.app.exchange_code(&w.client, exchange(&c)).await.expect_err("replay").code, "invalid_grant");
    assert!(w.app.userinfo(&t.access_token).await.expect("userinfo").is_none());
    let c2 = code(&w, "openid").await;
    w.clock.advance(Duration::from_secs(61));
    assert_eq!(w.app.exchange_code(&w.client, exchange(&c2)).await.expect_err("expired").code, "invalid_grant");
}

#[tokio::test]
async fn client_authentication_introspection_revocation_and_client_credentials() {
    let w = world(Roles::default()).await;
    let creds = |secret: &str| ClientCredentials { client_id: Some("moodle".into()), secret: Some(secret.into()) };
    assert_eq!(w.app.authenticate_client(&creds("wrong")).await.expect_err("bad").code, "invalid_client");
    assert_eq!(
        w.app
            .authenticate_client(&ClientCredentials { client_id: Some("moodle".into()), secret: None })
            .await
            .expect_err("none")
            .code,
        "invalid_client"
    );
    let client = w.app.authenticate_client(&creds(&w.secret)).await.expect("auth");
    let t = w.app.client_credentials(&client, None).await.expect("cc");
    assert!(t.refresh_token.is_none() && t.id_token.is_none());
    let i = w.app.introspect(&client, &t.access_token).await.expect("introspect").0;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], "moodle");
    assert!(w.app.userinfo(&t.access_token).await.expect("userinfo").is_none(), "no user behind it");
    w.app.revoke(&client, &t.access_token).await.expect("revoke");
    assert_eq!(w.app.introspect(&client, &t.access_token).await.expect("introspect").0["active"], false);
    w.app.revoke(&client, "never-issued").await.expect("unknown tokens are fine");
    // A rotated secret: the old one stops working at once.
    let rotated = w.app.rotate_client_secret(&Actor::system(), "moodle").await.expect("rotate");
    assert!(w.app.authenticate_client(&creds(&w.secret)).await.is_err());
    w.app.authenticate_client(&creds(rotated.secret.as_deref().expect("secret"))).await.expect("new secret");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

#[async_trait]
impl LogoutSender for Recorder {
    async fn send(&self, uri: &str, token: &str) -> Result<(), String> {
        self.0.lock().expect("lock").push((uri.to_owned(), token.to_owned()));
        Ok(())
    }
}

struct Down;

#[async_trait]
impl LogoutSender for Down {
    async fn send(&self, _: &str, _: &str) -> Result<(), String> {
        Err("connection refused".into())
    }
}

#[tokio::test]
async fn signing_out_revokes_session_tokens_and_queues_back_channel_logout() {
    let w = world(Roles::default()).await;
    let t = w.app.exchange_code(&w.client, exchange(&code(&w, "openid profile").await)).await.expect("tokens");
    let offline =
        w.app.exchange_code(&w.client, exchange(&code(&w, "openid offline_access").await)).await.expect("offline");
    // The first attempt fails; the delivery is retried later.
    assert_eq!(w.app.deliver_logouts(&Down).await.expect("deliver"), 0);
    w.app.sign_out(&w.session, None).await.expect("sign out");
    assert!(w.app.userinfo(&t.access_token).await.expect("userinfo").is_none());
    assert!(w.app.refresh(&w.client, t.refresh_token.clone(), None).await.is_err());
    assert!(
        w.app.refresh(&w.client, offline.refresh_token.clone(), None).await.is_ok(),
        "offline access outlives the session"
    );
    assert_eq!(w.app.deliver_logouts(&Down).await.expect("deliver"), 0);
    let rec = Recorder::default();
    assert_eq!(w.app.deliver_logouts(&rec).await.expect("deliver"), 0, "not due again yet");
    w.clock.advance(Duration::from_secs(3));
    assert_eq!(w.app.deliver_logouts(&rec).await.expect("deliver"), 1);
    let sent = rec.0.lock().expect("lock").clone();
    assert_eq!(sent[0].0, "https://moodle.college.example/bcl");
    let claims = w.app.signer.verify(&sent[0].1).expect("signed");
    assert_eq!(claims["sid"], w.session.hash.as_str());
    assert_eq!(claims["aud"], "moodle");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    let log = w.app.store.list_deliveries(10).await.expect("deliveries");
    assert_eq!(log[0].attempts, 2);
    assert!(log[0].delivered_at.is_some());
}

#[tokio::test]
async fn suspension_revokes_everything_including_offline_tokens() {
    let w = world(Roles::default()).await;
    let offline =
        w.app.exchange_code(&w.client, exchange(&code(&w, "openid offline_access").await)).await.expect("offline");
    w.app.suspend(&Actor::system(), "student.one", "test").await.expect("suspend");
    assert!(w.app.userinfo(&offline.access_token).await.expect("userinfo").is_none());
    assert!(w.app.refresh(&w.client, offline.refresh_token, None).await.is_err());
}

#[test]
fn token_keys_grow_in_the_order_tokens_were_made_and_hold_no_secret() {
    let first = ordered_token();
    std::thread::sleep(Duration::from_millis(3));
    let second = ordered_token();
    assert_eq!((first.len(), second.len()), (55, 55));
    let (a, b) = (token_key(&first), token_key(&second));
    assert!(a < b, "{a} then {b}");
    assert_eq!((&a[..12], &a[12..]), (&first[..12], token_hash(&first).as_str()));
    assert!(!a.contains(&first[12..]), "the random part is not stored");
    // Anything else presented is keyed by its SHA-256 alone.
    let plain = random_token();
    assert_eq!(token_key(&plain), token_hash(&plain));
    let forged = format!("zzzzzzzzzzzz{plain}");
    assert_eq!(token_key(&forged), token_hash(&forged));
}

#[tokio::test]
async fn a_token_stored_under_its_sha256_alone_still_works() {
    use crate::ports::oidc::{TokenKind, TokenRecord};
    use crate::ports::{Change, OidcChange};
    let w = world(Roles::default()).await;
    let old = random_token();
    let now = w.clock.now();
    let record = TokenRecord {
        token_hash: token_hash(&old),
        kind: TokenKind::Access,
        client_id: w.client.id.clone(),
        account_id: Some(w.session.account.id.clone()),
        session_hash: Some(w.session.hash.clone()),
        grant_id: "made-before".into(),
        family_id: None,
        scope: "openid profile".into(),
        created_at: now,
        expires_at: now.saturating_add(Duration::from_secs(300)),
        revoked_at: None,
        rotated_at: None,
    };
    w.app.store.commit(vec![Change::Oidc(OidcChange::InsertToken(record))]).await.expect("insert");
    assert!(w.app.userinfo(&old).await.expect("userinfo").is_some());
    w.app.revoke(&w.client, &old).await.expect("revoke");
    assert!(w.app.userinfo(&old).await.expect("userinfo").is_none(), "revoked at once");
}
