//! The OpenID Connect provider end to end: the `openidconnect` crate as the relying
//! party, through the real server over TLS, with the person signing in through the HTML
//! form; back-channel logout received by a listener of the test.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;

/// A listener for back-channel logout tokens on a loopback port.
async fn logout_listener() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                let token = body.strip_prefix("logout_token=").unwrap_or("").to_owned();
                sink.lock().expect("lock").push(token);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}/bcl"), got)
}

fn register(server: &Server, id: &str, alg: &str, backchannel: &str) -> String {
    let out = server.cli(&[
        "client",
        "add",
        id,
        "--name",
        "Moodle",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--post-logout-redirect-uri",
        "http://127.0.0.1:9/bye",
        "--scopes",
        "openid profile email roles groups offline_access",
        "--id-token-alg",
        alg,
        "--backchannel-logout-uri",
        backchannel,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["client_secret"].as_str().expect("secret").to_owned()
}

/// Follows the browser's way from the authorization URL to the code, signing in (and
/// changing the issued password) through the HTML forms.
async fn browser_code(
    server: &Server,
    browser: &reqwest::Client,
    auth_url: &str,
    login: &str,
    pw: &str,
) -> openidconnect::url::Url {
    let mut next = auth_url.to_owned();
    for _ in 0..10 {
        let r = browser.get(&next).send().await.expect("get");
        if r.status() == StatusCode::OK {
            let page = r.text().await.expect("body");
            let csrf = input_value(&page, "csrf").expect("csrf");
            let r = if page.contains("name=\"new\"") {
                let back = input_value(&page, "next").expect("next");
                browser
                    .post(server.url("/account/password"))
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("current", pw),
                        ("new", "Облако-над-рекой-7"),
                        ("confirm", "Облако-над-рекой-7"),
                        ("next", back.as_str()),
                    ])
                    .send()
                    .await
                    .expect("change")
            } else {
                let back = input_value(&page, "next").expect("next");
                browser
                    .post(server.url("/sign-in"))
                    .form(&[("csrf", csrf.as_str()), ("login", login), ("password", pw), ("next", back.as_str())])
                    .send()
                    .await
                    .expect("sign in")
            };
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "form refused");
            next = server.url(&location(&r));
            continue;
        }
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
        let loc = location(&r);
        if loc.starts_with("http://127.0.0.1:9/cb") {
            return openidconnect::url::Url::parse(&loc).expect("callback url");
        }
        next = if loc.starts_with('/') { server.url(&loc) } else { loc };
    }
    panic!("no code after 10 steps");
}

#[tokio::test]
async fn a_relying_party_completes_the_whole_flow() {
    let server = Server::start(&[]);
    let (bcl, received) = logout_listener().await;
    let issued = add_user(&server, "rp.student", "Клиентова Ирина", "student");
    let secret = register(&server, "moodle", "RS256", &bcl);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(server.ca()).expect("ca")).expect("pem");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(ca)
        .build()
        .expect("client");

    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).expect("issuer"), &http)
        .await
        .expect("discovery");
    let client =
        CoreClient::from_provider_metadata(meta, ClientId::new("moodle".into()), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:9/cb".into()).expect("redirect"))
            .set_revocation_url(RevocationUrl::new(server.url("/revoke")).expect("revocation"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = server.client();
    let callback = browser_code(&server, &browser, auth_url.as_str(), "rp.student", &issued).await;
    let q: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
    assert_eq!(q.get("state"), Some(csrf.secret()));
    assert_eq!(q.get("iss"), Some(&server.base), "RFC 9207 iss");
    let code = q.get("code").expect("code").clone();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("valid ID token");
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("rp.student"));
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .expect("userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());

    // The code works once.
    let again = client.exchange_code(AuthorizationCode::new(code)).expect("endpoint").request_async(&http).await;
    assert!(again.is_err(), "a replayed code is refused");
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("refresh token"))
        .expect("endpoint")
        .request_async(&http)
        .await;
    assert!(refreshed.is_err(), "tokens from a replayed code are revoked");

    // A fresh sign-in flow, then refresh, revocation and logout.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let callback = browser_code(&server, &browser, auth_url.as_str(), "rp.student", "unused").await;
    let code = callback.query_pairs().find(|(k, _)| k == "code").expect("code").1.into_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("single sign-on: no password asked");
    let id_token = tokens.id_token().expect("id token").clone();
    id_token.claims(&client.id_token_verifier(), &nonce).expect("valid");
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("refresh"))
        .expect("endpoint")
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
    client
        .revoke_token(openidconnect::core::CoreRevocableToken::AccessToken(refreshed.access_token().clone()))
        .expect("revocation endpoint")
        .request_async(&http)
        .await
        .expect("revoke");
    let info: Result<CoreUserInfoClaims, _> =
        client.user_info(refreshed.access_token().clone(), None).expect("endpoint").request_async(&http).await;
    assert!(info.is_err(), "a revoked access token is refused at once");

    // RP-initiated logout with the ID token as hint; then the back-channel token arrives.
    let logout = format!(
        "{}?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        server.url("/logout"),
        id_token.to_string(),
        propusk::http::extract::urlencode("http://127.0.0.1:9/bye")
    );
    let r = browser.get(&logout).send().await.expect("logout");
    assert_eq!(location(&r), "http://127.0.0.1:9/bye?state=bye");
    assert_eq!(browser.get(server.url("/account")).send().await.expect("get").status(), StatusCode::SEE_OTHER);
    let token = wait_for(&received).await;
    let jwks: serde_json::Value = http.get(server.url("/jwks")).send().await.expect("jwks").json().await.expect("json");
    let claims = verify_logout_token(&token, &jwks);
    assert_eq!(claims["aud"], "moodle");
    assert_eq!(claims["iss"], server.base.as_str());
    assert!(claims["sid"].is_string() && claims["sub"] == *claims.get("sub").expect("sub"));
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    let r = client
        .exchange_refresh_token(refreshed.refresh_token().expect("refresh"))
        .expect("e")
        .request_async(&http)
        .await;
    assert!(r.is_err(), "the session's refresh tokens end with it");
}

#[tokio::test]
async fn es256_id_tokens_verify_against_the_published_keys() {
    let server = Server::start(&[]);
    let issued = add_user(&server, "es.user", "Эллиптова Ева", "teacher");
    let secret = register(&server, "mail", "ES256", "http://127.0.0.1:9/bcl");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(server.ca()).expect("ca")).expect("pem");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).expect("issuer"), &http)
        .await
        .expect("discovery");
    let client =
        CoreClient::from_provider_metadata(meta, ClientId::new("mail".into()), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:9/cb".into()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let callback = browser_code(&server, &server.client(), auth_url.as_str(), "es.user", &issued).await;
    let code = callback.query_pairs().find(|(k, _)| k == "code").expect("code").1.into_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("exchange");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    tokens.id_token().expect("id token").claims(&verifier, &nonce).expect("ES256 verifies");
}

async fn wait_for(received: &Arc<Mutex<Vec<String>>>) -> String {
    for _ in 0..100 {
        if let Some(t) = received.lock().expect("lock").first().cloned() {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no back-channel logout within 10 s");
}

/// Checks a logout token with an independent JWT library against the JWKS.
fn verify_logout_token(token: &str, jwks: &serde_json::Value) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid.as_str()).expect("published key");
    let key =
        jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
            .expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["moodle"]);
    v.required_spec_claims = ["exp", "iat", "iss", "aud", "sub"].iter().map(|s| s.to_string()).collect();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).expect("valid logout token").claims
}
