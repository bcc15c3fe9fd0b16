//! Forward-auth for self-hosted apps behind a reverse proxy (nginx `auth_request`,
//! Traefik ForwardAuth, Caddy `forward_auth`): `GET /auth/verify` answers whether the
//! person behind a proxied request may use the resource it belongs to,
//! and `GET /auth/continue` sends them back after signing in.
//!
//! The original request is read from `X-Original-URL` (nginx) or `X-Forwarded-Proto`,
//! `X-Forwarded-Host` and `X-Forwarded-Uri` (Traefik, Caddy), believed only from a
//! configured trusted proxy; from anyone else the request belongs to no resource and is
//! refused. The return address after sign-in must be a forward-auth address of the
//! catalogue: no open redirect. No decision is made here: `App::forward_auth` decides.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::extract::{SESSION_COOKIE, Signed, cookie, urlencode};
use crate::app::ForwardAuth;
use crate::domain::ids::SessionToken;

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

pub async fn verify(State(state): State<AppState>, Query(q): Query<VerifyQuery>, req: Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let trusted = peer.is_some_and(|ip| state.trusted_proxies.iter().any(|n| n.contains(&ip)));
    let headers = req.headers();
    let original = if trusted { original(headers) } else { None };
    let Some(original) = original.filter(|o| matches!(o.scheme.as_str(), "http" | "https")) else {
        if !trusted {
            tracing::debug!(?peer, "forward-auth request from a peer that is not a trusted proxy");
        }
        return plain(StatusCode::FORBIDDEN, "no resource");
    };
    let session = match cookie(headers, SESSION_COOKIE).and_then(SessionToken::from_cookie) {
        Some(token) => match state.app.current_session(token).await {
            Ok(s) => s,
            Err(e) => return unavailable(&e),
        },
        None => None,
    };
    let outcome = match state.app.forward_auth(session.as_ref(), &original.host, &original.path).await {
        Ok(o) => o,
        Err(e) => return unavailable(&e),
    };
    match outcome {
        ForwardAuth::UnknownResource => plain(StatusCode::FORBIDDEN, "no resource"),
        ForwardAuth::SignIn if q.redirect.as_deref() == Some("1") => {
            let next = format!("/auth/continue?rd={}", urlencode(&original.url()));
            let to = format!("{}/sign-in?next={}", state.app.issuer, urlencode(&next));
            Redirect::to(&to).into_response()
        }
        ForwardAuth::SignIn => plain(StatusCode::UNAUTHORIZED, "sign in"),
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

/// After sign-in: back to the proxied address, if it is one of the catalogue's.
pub async fn continue_to(State(state): State<AppState>, _: Signed, Query(q): Query<ContinueQuery>) -> Response {
    match q.rd.as_deref() {
        Some(rd) if state.app.is_catalogue_url(rd) => Redirect::to(rd).into_response(),
        _ => Redirect::to("/account").into_response(),
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
