//! The OpenID Connect provider on the wire: discovery, JWKS, authorization, token,
//! UserInfo, introspection, revocation and end-session endpoints.
//!
//! OAuth errors on the token, introspection and revocation endpoints are JSON per
//! RFC 6749 §5.2, produced here by [`OAuthError`]'s `IntoResponse`; the browser-facing
//! endpoints use the pages and `HttpError` like the rest of `http`.

mod authorize;
mod discovery;
mod logout;
mod resource;
mod token;

use std::collections::HashMap;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use super::AppState;
use crate::app::oidc::{ClientCredentials, OAuthError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::configuration))
        .route("/jwks", get(discovery::jwks))
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/token", post(token::token))
        .route("/userinfo", get(resource::userinfo).post(resource::userinfo))
        .route("/introspect", post(resource::introspect))
        .route("/revoke", post(resource::revoke))
        .route("/logout", get(logout::get).post(logout::post))
}

/// Request parameters with the OAuth rules: a repeated parameter is an error
/// (RFC 6749 §3.1), an empty one counts as absent.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| OAuthError::invalid_request("the parameters are not URL-encoded"))?;
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }
}

/// Reads a form body, insisting on its media type (RFC 6749 §3.2).
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let text = std::str::from_utf8(body).map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
    Params::parse(text)
}

/// The client's credentials from `Authorization: Basic` or the body, never both
/// (RFC 6749 §2.3.1).
pub fn client_credentials(headers: &HeaderMap, p: &Params) -> Result<ClientCredentials, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    match basic {
        Some(b64) => {
            if p.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method"));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            let decode = |s: &str| -> Result<String, OAuthError> {
                let v: Vec<(String, String)> =
                    serde_urlencoded::from_str(&format!("v={s}")).map_err(|_| OAuthError::invalid_client())?;
                Ok(v.into_iter().next().map(|(_, v)| v).unwrap_or_default())
            };
            let id = decode(id)?;
            if p.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
            }
            Ok(ClientCredentials { client_id: Some(id), secret: Some(decode(secret)?) })
        }
        None => Ok(ClientCredentials { client_id: p.get("client_id"), secret: p.get("client_secret") }),
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "error": self.code, "error_description": self.description });
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"propusk\""));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // As the pages' 503 (invariant 6): the store or the hasher is expected back shortly.
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// A JSON answer that must not be cached (RFC 6749 §5.1).
pub fn no_store_json(v: impl serde::Serialize) -> Response {
    let mut resp = axum::Json(v).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}
