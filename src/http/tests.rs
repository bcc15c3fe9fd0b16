//! Router tests without a socket: requests go straight into the axum `Router`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use super::{AppState, router};
use crate::app::{Actor, testing};
use crate::domain::account::{NewAccount, Role};
use crate::domain::journal::Channel;

async fn state() -> AppState {
    let (app, _) = testing::app().await;
    let limits = crate::config::RawConfig::default().validate().expect("defaults").rate_limits;
    AppState {
        app: Arc::new(app),
        trusted_proxies: Arc::new(Vec::new()),
        limits: Arc::new(super::limit::Limits::new(&limits)),
        console_clients: Arc::new(Vec::new()),
    }
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = router(state.clone()).oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let s = state().await;
    for path in ["/sign-in", "/nope", "/healthz"] {
        let (_, h, _) = send(&s, get(path)).await;
        let csp = h.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
        assert_eq!(h.get(header::CACHE_CONTROL).map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{path}");
    }
}

#[tokio::test]
async fn signed_in_pages_send_strangers_to_sign_in_and_back() {
    let s = state().await;
    for path in ["/account", "/account/password"] {
        let (status, h, _) = send(&s, get(path)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let to = h.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(to, format!("/sign-in?next={}", path.replace('/', "%2F")));
    }
    // A forged or stale cookie is the same as none.
    let req = Request::get("/account")
        .header(header::COOKIE, format!("__Host-propusk={}", "x".repeat(43)))
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&s, req).await.0, StatusCode::SEE_OTHER);
    let (status, h, _) = send(&s, get("/")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h.get(header::LOCATION).map(|v| v.as_bytes()), Some(&b"/sign-in"[..]));
}

#[tokio::test]
async fn the_sign_in_page_is_accessible_and_localised() {
    let s = state().await;
    let (status, h, body) = send(&s, get("/sign-in?next=/account")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.get(header::SET_COOKIE).is_some(), "an anti-forgery cookie is set");
    for want in [
        "<html lang=\"ru\">",
        "<label for=\"login\">Логин</label>",
        "<label for=\"password\">Пароль</label>",
        "autocomplete=\"current-password\"",
        "href=\"#main\"",
    ] {
        assert!(body.contains(want), "lacks {want}");
    }
    let req = Request::get("/sign-in").header(header::ACCEPT_LANGUAGE, "en").body(Body::empty()).expect("req");
    let (_, _, body) = send(&s, req).await;
    assert!(body.contains("<html lang=\"en\">") && body.contains("<label for=\"login\">Login</label>"));
    let req = Request::get("/sign-in").header(header::COOKIE, "propusk_lang=en").body(Body::empty()).expect("req");
    assert!(send(&s, req).await.2.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn a_sign_in_through_the_router_sets_a_host_cookie() {
    let s = state().await;
    let new = NewAccount {
        login: "router.user".into(),
        full_name: "Маршрутов Роман".into(),
        roles: vec![Role::Student],
        ..NewAccount::default()
    };
    let cred = s.app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add");
    let token = "t".repeat(43);
    let body = format!("csrf={token}&login=router.user&password={}&next=%2Faccount", cred.password.expose());
    let req = Request::post("/sign-in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("__Host-propusk-csrf={token}"))
        .body(Body::from(body))
        .expect("request");
    let (status, h, _) = send(&s, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = h.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(cookie.starts_with("__Host-propusk=") && cookie.contains("Secure; HttpOnly; SameSite=Lax"));
    assert_eq!(h.get(header::LOCATION).map(|v| v.as_bytes()), Some(&b"/account/password"[..]));
}

#[tokio::test]
async fn health_and_readiness() {
    let s = state().await;
    let (status, _, body) = send(&s, get("/healthz")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    let (status, _, body) = send(&s, get("/readyz")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready\n"));
}
