//! Extractors: the client's address (forwarded headers believed only from trusted
//! proxies), the page language, cookies, forms with readable errors, and the session.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::HttpError;
use super::i18n::Lang;
use crate::app::CurrentSession;
use crate::domain::ids::SessionToken;

pub const SESSION_COOKIE: &str = "__Host-propusk";
pub const PRE_CSRF_COOKIE: &str = "__Host-propusk-csrf";
pub const LANG_COOKIE: &str = "propusk_lang";

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Who is asking: address and user agent, for the sign-in log.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// The client address: the peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(xff) = forwarded_for else {
        return Some(peer);
    };
    let mut hops = xff.split(',').rev().map(str::trim);
    for hop in hops.by_ref() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // A malformed hop: nothing to its left can be believed.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let xff = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(256).collect());
        Ok(ClientInfo { ip: client_ip(peer, xff, &state.trusted_proxies), user_agent })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(l) = cookie(&parts.headers, LANG_COOKIE).and_then(Lang::from_code) {
            return Ok(l);
        }
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        Ok(Lang::from_accept_language(accept))
    }
}

/// A URL-encoded form whose rejection is a readable page in the person's language.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let lang = Lang::from_request_parts(&mut parts, state).await.unwrap_or(Lang::Ru);
        let req = Request::from_parts(parts, body);
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Form(v)),
            Err(rejection) => {
                let status = rejection.status();
                tracing::debug!(%status, "rejected form");
                let status = if status == StatusCode::PAYLOAD_TOO_LARGE { status } else { StatusCode::BAD_REQUEST };
                Err(HttpError::BadRequest(status, lang))
            }
        }
    }
}

/// The signed-in person, or a redirect to the sign-in page.
pub struct Signed(pub CurrentSession);

/// The signed-in person, if any.
pub struct MaybeSigned(pub Option<CurrentSession>);

impl FromRequestParts<AppState> for MaybeSigned {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).and_then(SessionToken::from_cookie) else {
            return Ok(MaybeSigned(None));
        };
        match state.app.current_session(token).await {
            Ok(s) => Ok(MaybeSigned(s)),
            Err(e) => {
                let lang = Lang::from_request_parts(parts, state).await.unwrap_or(Lang::Ru);
                Err(HttpError::App(e, lang).into_response())
            }
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match MaybeSigned::from_request_parts(parts, state).await? {
            MaybeSigned(Some(s)) => Ok(Signed(s)),
            MaybeSigned(None) => {
                let next = parts.uri.path();
                Err(Redirect::to(&format!("/sign-in?next={}", urlencode(next))).into_response())
            }
        }
    }
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|v| v[1..].to_owned()).unwrap_or_default()
}

/// A redirect target from a form or query: a local path, never another site.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control)
                && p.len() <= 4096 =>
        {
            p
        }
        _ => "/account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net"), "192.0.2.1/32".parse().expect("net")];
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let cases = [
            (ip("203.0.113.5"), Some("198.51.100.9"), ip("203.0.113.5")),
            (ip("10.1.1.1"), Some("198.51.100.9"), ip("198.51.100.9")),
            (ip("10.1.1.1"), Some("6.6.6.6, 198.51.100.9, 192.0.2.1"), ip("198.51.100.9")),
            (ip("10.1.1.1"), Some("garbage"), ip("10.1.1.1")),
            (ip("10.1.1.1"), None, ip("10.1.1.1")),
            (ip("10.1.1.1"), Some("10.2.2.2"), ip("10.1.1.1")),
            (None, Some("198.51.100.9"), None),
        ];
        for (peer, xff, want) in cases {
            assert_eq!(client_ip(peer, xff, &trusted), want, "{peer:?} {xff:?}");
        }
    }

    #[test]
    fn redirects_stay_on_this_site() {
        for bad in ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x", "/a\nb"] {
            assert_eq!(local_path(Some(bad)), "/account", "{bad:?}");
        }
        assert_eq!(local_path(Some("/account/password")), "/account/password");
        assert_eq!(local_path(None), "/account");
    }
}
