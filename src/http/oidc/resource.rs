//! UserInfo (OIDC Core §5.3, bearer per RFC 6750), introspection (RFC 7662) and
//! revocation (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{client_credentials, form_params, no_store_json};
use crate::app::oidc::OAuthError;
use crate::http::AppState;

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    // RFC 6750 §2.1 header, or §2.2 form body on POST.
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    let token = match from_header {
        Some(t) => Some(t),
        None if !body.is_empty() => form_params(&headers, &body).ok().and_then(|p| p.get("access_token")),
        None => None,
    };
    let Some(token) = token else { return bearer_error(None) };
    match state.app.userinfo(&token).await {
        Ok(Some(claims)) => no_store_json(claims),
        Ok(None) => bearer_error(Some("invalid_token")),
        Err(e) => e.into_response(),
    }
}

/// RFC 6750 §3: 401 with a `WWW-Authenticate: Bearer` challenge.
fn bearer_error(code: Option<&str>) -> Response {
    let challenge = match code {
        Some(c) => format!("Bearer realm=\"propusk\", error=\"{c}\""),
        None => "Bearer realm=\"propusk\"".to_owned(),
    };
    let mut resp = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

pub async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let p = form_params(&headers, &body)?;
        let client = state.app.authenticate_client(&client_credentials(&headers, &p)?).await?;
        if client.kind != crate::domain::oidc::ClientKind::Confidential {
            return Err(OAuthError::invalid_client());
        }
        let token = p.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        Ok::<_, OAuthError>(state.app.introspect(&client, &token).await?.0)
    };
    match run.await {
        Ok(v) => no_store_json(v),
        Err(e) => e.into_response(),
    }
}

pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let p = form_params(&headers, &body)?;
        let client = state.app.authenticate_client(&client_credentials(&headers, &p)?).await?;
        let token = p.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        state.app.revoke(&client, &token).await
    };
    match run.await {
        // RFC 7009 §2.2: 200, whether or not the token was known.
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response(),
        Err(e) => e.into_response(),
    }
}
