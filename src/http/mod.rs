//! HTTP: routes, extractors, pages and the mapping of errors to responses.
//!
//! Handlers turn requests into use-case calls on [`App`] and results into pages. No SQL
//! or LDAP here, and no business rule: a handler decides only what to show.

mod account;
pub mod admin;
mod auth;
mod compromise;
mod display;
pub mod error;
pub mod extract;
mod forward_auth;
pub mod i18n;
pub mod limit;
mod meta;
pub mod metrics;
mod oidc;
pub mod pages;
pub mod pages_second_factor;
mod roster;
mod rules;
mod second_factor;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts as _, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use ipnet::IpNet;
use subtle::ConstantTimeEq as _;

use crate::app::App;

/// Largest request body accepted; every form of propusk is far smaller.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Largest register file accepted by `/api/roster/import` (50,000 rows of CSV are ~6 MB).
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    /// Shared, not cloned: every request takes the state.
    pub app: Arc<App>,
    pub trusted_proxies: Arc<Vec<IpNet>>,
    pub limits: Arc<limit::Limits>,
    /// Service clients of the console's API (`console.api_clients`) and their roles.
    pub console_clients: Arc<Vec<(String, crate::domain::Role)>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(meta::home))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/sign-in/second-factor", get(second_factor::page).post(second_factor::submit))
        .route("/sign-in/second-factor/saved", post(second_factor::saved))
        .route("/account/second-factor", get(second_factor::account_page))
        .route("/account/second-factor/reenrol", post(second_factor::reenrol))
        .route("/account/second-factor/confirm", post(second_factor::confirm))
        .route("/account/second-factor/recovery", post(second_factor::recovery))
        .route("/account", get(account::overview))
        .route("/account/password", get(account::password_page).post(account::change_password))
        .route("/account/sessions/end", post(account::end_session))
        .route("/account/sessions/end-others", post(account::end_other_sessions))
        .route("/account/compromised", get(compromise::account_page).post(compromise::account_report))
        .route("/compromised", get(compromise::public_page).post(compromise::public_report))
        .route(admin::requests::PUBLIC_PATH, get(admin::public_request_page).post(admin::public_request_post))
        .route("/auth/verify", get(forward_auth::verify))
        .route("/auth/continue", get(forward_auth::continue_to))
        .route("/auth/callback", get(forward_auth::callback))
        .route("/lang/{code}", get(meta::switch_language))
        .route("/view/{mode}", get(display::switch))
        .route("/rules", get(rules::page).post(rules::answer))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/static/propusk.css", get(meta::stylesheet))
        .route("/static/favicon.svg", get(meta::favicon))
        .route("/favicon.ico", get(meta::favicon))
        .merge(oidc::routes())
        .merge(admin::routes())
        .route(roster::IMPORT_PATH, post(roster::import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)))
        // Metrics by route template: the route layer sees which route matched.
        .route_layer(axum::middleware::from_fn(metrics::mark_route))
        .fallback(meta::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn(display::remember_mode))
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// Headers every response carries: no framing, no sniffing, no referrer, no caching of
/// pages with personal data, and a content policy that allows only propusk's own style.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Reads the whole request body (at most [`BODY_LIMIT`]) within `limit` before the
/// handler runs. A client that trickles its body (a slow-request attack) is answered
/// 408 and its connection closed when the time is up, instead of holding a task and a
/// connection for as long as it likes; a body that is too large is answered 413.
/// Layered on by `server.rs` with `server.body_timeout_seconds`.
pub async fn read_body_within(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let lang = i18n::Lang::from_request_parts(&mut parts, &()).await.unwrap_or(i18n::Lang::Ru);
    let max = match parts.uri.path() {
        roster::IMPORT_PATH => IMPORT_BODY_LIMIT,
        admin::REGISTER_PATH => admin::REGISTER_BODY_LIMIT,
        _ => BODY_LIMIT,
    };
    let status = match tokio::time::timeout(limit, collect_body(body, max)).await {
        Ok(Ok(bytes)) => return next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(status)) => status,
        Err(_) => {
            tracing::info!(path = %parts.uri.path(), "request body not received in time: connection closed");
            StatusCode::REQUEST_TIMEOUT
        }
    };
    let mut resp = error::HttpError::BadRequest(status, lang).into_response();
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

async fn collect_body(mut body: Body, max: usize) -> Result<Bytes, StatusCode> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Constant-time comparison of a posted anti-forgery token with the expected one.
fn csrf_ok(posted: &str, expected: &str) -> bool {
    !expected.is_empty() && posted.len() == expected.len() && bool::from(posted.as_bytes().ct_eq(expected.as_bytes()))
}

/// `Set-Cookie` for a `__Host-` cookie: Secure, whole site, no domain.
fn host_cookie(name: &str, value: &str, max_age_secs: Option<u64>) -> HeaderValue {
    let age = max_age_secs.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax{age}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}
