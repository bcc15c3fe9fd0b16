//! Store conformance for the OpenID Connect records: clients, codes, tokens (with the
//! account read in the same query), rotation and revocation, on SQLite and PostgreSQL.

#[macro_use]
#[path = "common/store_db.rs"]
mod store_db;

use std::sync::Arc;
use std::time::Duration;

use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login, SessionToken};
use propusk::domain::oidc::{Client, ClientId, ClientKind, Scopes, SigningAlg};
use propusk::domain::session::{SessionLimits, SessionTimes};
use propusk::domain::time::Timestamp;
use propusk::ports::oidc::{CodeRecord, TokenKind, TokenRecord};
use propusk::ports::{Change, OidcChange, SessionRecord, Store, StoreError};

const T0: i64 = 1_800_000_000_000;

conformance!(clients_round_trip_and_go, codes_are_used_once, tokens_carry_their_account_and_end);

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn client(id: &str) -> Client {
    Client {
        id: ClientId::parse(id).expect("client id"),
        name: "Moodle".into(),
        kind: ClientKind::Confidential,
        redirect_uris: vec!["https://moodle.college.example/auth/oidc/".into()],
        post_logout_redirect_uris: vec![],
        scopes: Scopes::parse_known("openid profile email offline_access"),
        allowed_roles: Roles::new([Role::Student, Role::Teacher]),
        id_token_alg: SigningAlg::RS256,
        access_token_ttl: Duration::from_secs(600),
        refresh_token_ttl: Duration::from_secs(86_400),
        backchannel_logout_uri: Some("https://moodle.college.example/logout".into()),
    }
}

fn account(login: &str) -> Account {
    Account {
        id: AccountId::generate(T0, &mut rand::rngs::OsRng),
        login: Login::parse(login).expect("login"),
        full_name: "Петрова Анна".into(),
        email: Some(format!("{login}@college.example")),
        roles: Roles::new([Role::Student]),
        study_group: Some("ИС-21".into()),
        department: None,
        external_id: None,
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: ts(0),
        updated_at: ts(0),
    }
}

/// An account with a live session, and the session's hash.
async fn signed_in(s: &Arc<dyn Store>, login: &str) -> (Account, propusk::domain::SessionTokenHash) {
    let a = account(login);
    let hash = SessionToken::generate(&mut rand::rngs::OsRng).hash();
    let limits = SessionLimits::default();
    let session = SessionRecord {
        hash: hash.clone(),
        account_id: a.id.clone(),
        times: SessionTimes::start(ts(0), limits.idle_learner, &limits),
        ip: None,
        user_agent: None,
        ended_at: None,
        second_factor_at: None,
    };
    s.commit(vec![
        Change::InsertAccount { account: a.clone(), password_hash: "h".into() },
        Change::InsertSession(session),
    ])
    .await
    .expect("account and session");
    (a, hash)
}

fn token(hash: &str, kind: TokenKind, client: &str, account: Option<&Account>, family: Option<&str>) -> TokenRecord {
    TokenRecord {
        token_hash: hash.into(),
        kind,
        client_id: ClientId::parse(client).expect("client id"),
        account_id: account.map(|a| a.id.clone()),
        session_hash: None,
        grant_id: "grant-1".into(),
        family_id: family.map(Into::into),
        scope: "openid profile".into(),
        created_at: ts(0),
        expires_at: ts(600_000),
        revoked_at: None,
        rotated_at: None,
    }
}

async fn clients_round_trip_and_go(s: Arc<dyn Store>) {
    let c = client("moodle");
    let insert = OidcChange::InsertClient { client: c.clone(), secret_hash: Some("s1".into()), at: ts(0) };
    s.commit(vec![Change::Oidc(insert)]).await.expect("insert");
    let (found, secret) = s.find_client(&c.id).await.expect("find").expect("present");
    assert_eq!((found, secret.as_deref()), (c.clone(), Some("s1")));

    let rotate = OidcChange::UpdateClientSecret { id: c.id.clone(), secret_hash: "s2".into(), at: ts(1) };
    s.commit(vec![Change::Oidc(rotate)]).await.expect("rotate");
    assert_eq!(s.find_client(&c.id).await.expect("find").expect("present").1.as_deref(), Some("s2"));

    let again = OidcChange::InsertClient { client: c.clone(), secret_hash: None, at: ts(2) };
    assert!(matches!(s.commit(vec![Change::Oidc(again)]).await, Err(StoreError::Conflict(_))));
    s.commit(vec![Change::Oidc(OidcChange::DeleteClient { id: c.id.clone() })]).await.expect("delete");
    assert!(s.find_client(&c.id).await.expect("find").is_none());
    assert!(s.list_clients().await.expect("list").is_empty());
}

async fn codes_are_used_once(s: Arc<dyn Store>) {
    let c = client("moodle");
    s.commit(vec![Change::Oidc(OidcChange::InsertClient { client: c.clone(), secret_hash: None, at: ts(0) })])
        .await
        .expect("client");
    let (a, session) = signed_in(&s, "petrova").await;
    let code = CodeRecord {
        code_hash: "code-1".into(),
        client_id: c.id.clone(),
        account_id: a.id.clone(),
        session_hash: session,
        redirect_uri: c.redirect_uris[0].clone(),
        scope: "openid".into(),
        nonce: Some("n".into()),
        code_challenge: Some("challenge".into()),
        auth_time: ts(0),
        created_at: ts(0),
        expires_at: ts(60_000),
        used_at: None,
    };
    s.commit(vec![Change::Oidc(OidcChange::InsertCode(code.clone()))]).await.expect("code");
    assert_eq!(s.find_code("code-1").await.expect("find"), Some(code.clone()));
    let use_it = || Change::Oidc(OidcChange::UseCode { code_hash: "code-1".into(), at: ts(5) });
    s.commit(vec![use_it()]).await.expect("first use");
    assert!(s.commit(vec![use_it()]).await.is_err(), "a used code cannot be used again");
    assert_eq!(s.find_code("code-1").await.expect("find").expect("kept").used_at, Some(ts(5)));
    assert!(s.find_code("no-such-code").await.expect("find").is_none());
}

async fn tokens_carry_their_account_and_end(s: Arc<dyn Store>) {
    let c = client("moodle");
    s.commit(vec![Change::Oidc(OidcChange::InsertClient { client: c.clone(), secret_hash: None, at: ts(0) })])
        .await
        .expect("client");
    let (a, _) = signed_in(&s, "petrova").await;
    let access = token("at-1", TokenKind::Access, "moodle", Some(&a), None);
    let refresh = token("rt-1", TokenKind::Refresh, "moodle", Some(&a), Some("fam-1"));
    let service = token("at-svc", TokenKind::Access, "moodle", None, None);
    let inserts = [&access, &refresh, &service].map(|t| Change::Oidc(OidcChange::InsertToken(t.clone())));
    s.commit(inserts.into()).await.expect("tokens");

    // The token and its account in one read; a client's own token has no account.
    let (t, owner) = s.find_token_with_account("at-1").await.expect("find").expect("present");
    assert_eq!((t, owner), (access.clone(), Some(a.clone())));
    assert_eq!(s.find_token_with_account("at-svc").await.expect("find"), Some((service.clone(), None)));
    assert_eq!(s.find_token_with_account("nope").await.expect("find"), None);
    assert_eq!(s.find_token("rt-1").await.expect("find"), Some(refresh.clone()));

    // Rotation marks the old refresh token; revoking its family ends the rest.
    s.commit(vec![Change::Oidc(OidcChange::RotateRefresh { token_hash: "rt-1".into(), at: ts(10) })])
        .await
        .expect("rotate");
    assert_eq!(s.find_token("rt-1").await.expect("find").expect("kept").rotated_at, Some(ts(10)));
    let mut next = token("rt-2", TokenKind::Refresh, "moodle", Some(&a), Some("fam-1"));
    next.created_at = ts(10);
    s.commit(vec![
        Change::Oidc(OidcChange::InsertToken(next)),
        Change::Oidc(OidcChange::RevokeFamily { family_id: "fam-1".into(), at: ts(20) }),
    ])
    .await
    .expect("revoke family");
    assert_eq!(s.find_token("rt-2").await.expect("find").expect("kept").revoked_at, Some(ts(20)));

    // Ending the account's tokens reaches the access token, seen through the joined read.
    s.commit(vec![Change::Oidc(OidcChange::RevokeAccountTokens { account_id: a.id.clone(), at: ts(30) })])
        .await
        .expect("revoke account");
    let (t, owner) = s.find_token_with_account("at-1").await.expect("find").expect("present");
    assert_eq!((t.revoked_at, owner.map(|o| o.login)), (Some(ts(30)), Some(a.login.clone())));
    assert_eq!(s.find_token("at-svc").await.expect("find").expect("kept").revoked_at, None, "not the account's");
}
