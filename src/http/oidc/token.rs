//! `POST /token` (RFC 6749 §3.2): authenticates the client, then hands the grant to its
//! use case.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{client_credentials, form_params, no_store_json};
use crate::app::oidc::{CodeExchange, OAuthError};
use crate::http::AppState;
use crate::http::extract::ClientInfo;

pub async fn token(State(state): State<AppState>, client: ClientInfo, headers: HeaderMap, body: Bytes) -> Response {
    // an address that keeps failing client authentication is slowed down.
    if let Err(wait) = state.limits.client_auth_allowed(client.ip) {
        let mut resp = OAuthError::new("slow_down", "too many failed client authentications").into_response();
        *resp.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        resp.headers_mut().insert(axum::http::header::RETRY_AFTER, wait.as_secs().max(1).into());
        return resp;
    }
    match run(&state, &client, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, from: &ClientInfo, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let p = form_params(headers, body)?;
    let grant = p.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let client = match state.app.authenticate_client(&client_credentials(headers, &p)?).await {
        Ok(c) => c,
        Err(e) => {
            if e.code == "invalid_client" {
                state.limits.client_auth_failed(from.ip);
            }
            return Err(e);
        }
    };
    let response = match grant.as_str() {
        "authorization_code" => {
            let req = CodeExchange {
                code: p.get("code"),
                redirect_uri: p.get("redirect_uri"),
                code_verifier: p.get("code_verifier"),
            };
            state.app.exchange_code(&client, req).await?
        }
        "refresh_token" => state.app.refresh(&client, p.get("refresh_token"), p.get("scope")).await?,
        "client_credentials" => state.app.client_credentials(&client, p.get("scope")).await?,
        _ => return Err(OAuthError::new("unsupported_grant_type", "this grant type is not supported")),
    };
    Ok(no_store_json(response))
}
