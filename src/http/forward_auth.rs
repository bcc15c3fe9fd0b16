//! Forward-auth for self-hosted apps behind a reverse proxy (nginx `auth_request`,
//! Traefik ForwardAuth, Caddy `forward_auth`): `GET /auth/verify` answers whether the
//! person behind a proxied request may use the resource it belongs to,
//! `GET /auth/continue` sends them back after signing in, and `GET /auth/callback`
//! (the app host's `/.propusk/callback`, passed on by the proxy) trades a one-time
//! handoff code for a cookie of that host, since propusk's own `__Host-` cookie never
//! reaches another host.
//!
//! The original request is read from `X-Original-URL` (nginx) or `X-Forwarded-Proto`,
//! `X-Forwarded-Host` and `X-Forwarded-Uri` (Traefik, Caddy), believed only from a
//! configured trusted proxy; from anyone else the request belongs to no resource and is
//! refused, and no callback is answered. The return address after sign-in must be a
//! forward-auth address of the catalogue: no open redirect. No decision is made here:
//! `App::verify_forward`, `App::continue_to` and `App::redeem_handoff` decide.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{SESSION_COOKIE, Signed, cookie, urlencode};
use super::i18n::Lang;
use super::{AppState, host_cookie, pages};
use crate::app::ForwardAuth;

/// The host session cookie on a protected app's host (set by its callback).
pub const HOST_SESSION_COOKIE: &str = "__Host-propusk-host";

pub const REMOTE_USER: &str = "remote-user";
pub const REMOTE_NAME: &str = "remote-name";
pub const REMOTE_EMAIL: &str = "remote-email";
pub const REMOTE_GROUPS: &str = "remote-groups";

#[derive(Deserialize)]
pub struct VerifyQuery {
    /// `1`: answer "not signed in" with a redirect to sign-in (Traefik, Caddy) instead of
    /// 401 (nginx, which redirects by its own `error_page`).
    redirect: Option<String>,
}

/// The proxied request as the proxy saw it: scheme, host (maybe with a port), path.
#[derive(Debug, PartialEq, Eq)]
struct Original {
    scheme: String,
    host: String,
    path: String,
}

impl Original {
    fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The original request from the proxy's headers (only call for a trusted peer).
fn original(h: &HeaderMap) -> Option<Original> {
    if let Some(url) = header_str(h, "x-original-url") {
        let (scheme, rest) = url.split_once("://")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        return Some(Original { scheme: scheme.to_ascii_lowercase(), host: host.to_owned(), path: path.to_owned() });
    }
    let host = header_str(h, "x-forwarded-host")?;
    let path = header_str(h, "x-forwarded-uri").unwrap_or("/");
    let scheme = header_str(h, "x-forwarded-proto").unwrap_or("https").to_ascii_lowercase();
    Some(Original { scheme, host: host.to_owned(), path: path.to_owned() })
}

/// The original request, if `req` came from a trusted proxy and names one.
fn proxied(state: &AppState, req: &Request) -> Option<Original> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let trusted = peer.is_some_and(|ip| state.trusted_proxies.iter().any(|n| n.contains(&ip)));
    if !trusted {
        tracing::debug!(?peer, "forward-auth request from a peer that is not a trusted proxy");
        return None;
    }
    original(req.headers()).filter(|o| matches!(o.scheme.as_str(), "http" | "https"))
}

pub async fn verify(State(state): State<AppState>, Query(q): Query<VerifyQuery>, req: Request) -> Response {
    let Some(original) = proxied(&state, &req) else {
        return plain(StatusCode::FORBIDDEN, "no resource");
    };
    let headers = req.headers();
    let (session, host_session) = (cookie(headers, SESSION_COOKIE), cookie(headers, HOST_SESSION_COOKIE));
    let outcome = match state.app.verify_forward(session, host_session, &original.host, &original.path).await {
        Ok(o) => o,
        Err(e) => return unavailable(&e),
    };
    match outcome {
        ForwardAuth::UnknownResource => plain(StatusCode::FORBIDDEN, "no resource"),
        ForwardAuth::SignIn => {
            let next = format!("/auth/continue?rd={}", urlencode(&original.url()));
            let to = format!("{}/sign-in?next={}", state.app.issuer, urlencode(&next));
            if q.redirect.as_deref() == Some("1") {
                return Redirect::to(&to).into_response();
            }
            // nginx sends the browser on with `error_page 401 =302 $propusk_sign_in`, the
            // address taken from this answer's Location (encoded here, where it is easy).
            let mut resp = plain(StatusCode::UNAUTHORIZED, "sign in");
            if let Ok(v) = HeaderValue::from_str(&to) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        ForwardAuth::Refused(r) => {
            tracing::info!(resource = %r.id, "forward-auth refused by the policy");
            plain(StatusCode::FORBIDDEN, "refused")
        }
        ForwardAuth::Allowed { identity, .. } => {
            let mut resp = plain(StatusCode::OK, "ok");
            let h = resp.headers_mut();
            let mut put = |name: &'static str, value: &str| {
                // Non-ASCII names go as UTF-8 bytes, which HTTP allows as field content.
                if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                    h.insert(HeaderName::from_static(name), v);
                }
            };
            put(REMOTE_USER, &identity.login);
            if let Some(n) = &identity.name {
                put(REMOTE_NAME, n);
            }
            if let Some(e) = &identity.email {
                put(REMOTE_EMAIL, e);
            }
            if let Some(g) = &identity.groups {
                put(REMOTE_GROUPS, &g.join(","));
            }
            resp
        }
    }
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    rd: Option<String>,
}

/// After sign-in: back to the proxied address, if it is one of the catalogue's; on
/// another host, through that host's callback with a one-time handoff code.
pub async fn continue_to(State(state): State<AppState>, Signed(s): Signed, Query(q): Query<ContinueQuery>) -> Response {
    let Some(rd) = q.rd.as_deref() else {
        return Redirect::to("/account").into_response();
    };
    if s.account.password_must_change {
        // Forward-auth refuses until the issued password is changed: change it first.
        let next = format!("/auth/continue?rd={}", urlencode(rd));
        return Redirect::to(&format!("/account/password?next={}", urlencode(&next))).into_response();
    }
    match super::rules::gate(&state.app, &s, &format!("/auth/continue?rd={}", urlencode(rd))).await {
        Ok(Some(to_rules)) => return to_rules,
        Ok(None) => {}
        Err(e) => return unavailable(&e),
    }
    match state.app.continue_to(&s, rd).await {
        Ok(Some(to)) => Redirect::to(&to).into_response(),
        Ok(None) => Redirect::to("/account").into_response(),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
}

/// The protected host's `/.propusk/callback`, passed on by its proxy: a handoff code
/// becomes a cookie of that host, and the person goes on to the address they asked for.
pub async fn callback(
    State(state): State<AppState>,
    lang: Lang,
    Query(q): Query<CallbackQuery>,
    req: Request,
) -> Response {
    let Some(original) = proxied(&state, &req) else {
        return plain(StatusCode::FORBIDDEN, "no resource");
    };
    let code = q.code.as_deref().unwrap_or_default();
    match state.app.redeem_handoff(code, &original.host).await {
        Ok(Some(r)) => {
            let mut resp = Redirect::to(&r.return_to).into_response();
            let cookie = host_cookie(HOST_SESSION_COOKIE, r.token.expose(), Some(r.max_age.as_secs()));
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Ok(None) => {
            tracing::info!(host = %original.host, "forward-auth handoff code refused");
            let page = pages::error(lang, lang.t().handoff_refused, false);
            let mut resp = (StatusCode::BAD_REQUEST, page).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => unavailable(&e),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn unavailable(e: &crate::app::AppError) -> Response {
    tracing::error!(error = %e, "forward-auth decision failed");
    let mut resp = plain(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_request_comes_from_either_header_style() {
        let mut h = HeaderMap::new();
        h.insert("x-original-url", HeaderValue::from_static("HTTPS://timetable.college.example/edit/x?y=1"));
        let o = original(&h).expect("nginx style");
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.path.as_str()),
            ("https", "timetable.college.example", "/edit/x?y=1")
        );
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("timetable.college.example:8443"));
        h.insert("x-forwarded-uri", HeaderValue::from_static("/group/IS-21"));
        let o = original(&h).expect("traefik style");
        assert_eq!(o.url(), "https://timetable.college.example:8443/group/IS-21");
        assert_eq!(original(&HeaderMap::new()), None);
    }
}
