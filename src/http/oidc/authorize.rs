//! `GET|POST /authorize` (OIDC Core §3.1.2.1: both methods).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Params, form_params};
use crate::app::oidc::{AuthOutcome, AuthRequest, AuthorizeError};
use crate::http::extract::{MaybeSigned, urlencode};
use crate::http::i18n::Lang;
use crate::http::{AppState, pages};

pub async fn get(State(state): State<AppState>, lang: Lang, MaybeSigned(s): MaybeSigned, uri: Uri) -> Response {
    handle(&state, lang, s.as_ref(), Params::parse(uri.query().unwrap_or(""))).await
}

pub async fn post(
    State(state): State<AppState>,
    lang: Lang,
    MaybeSigned(s): MaybeSigned,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&state, lang, s.as_ref(), form_params(&headers, &body)).await
}

async fn handle(
    state: &AppState,
    lang: Lang,
    session: Option<&crate::app::CurrentSession>,
    params: Result<Params, crate::app::oidc::OAuthError>,
) -> Response {
    let t = lang.t();
    let Ok(p) = params else {
        return (StatusCode::BAD_REQUEST, pages::error(lang, t.bad_request, false)).into_response();
    };
    let req = AuthRequest {
        client_id: p.get("client_id"),
        redirect_uri: p.get("redirect_uri"),
        response_type: p.get("response_type"),
        scope: p.get("scope"),
        state: p.get("state"),
        nonce: p.get("nonce"),
        code_challenge: p.get("code_challenge"),
        code_challenge_method: p.get("code_challenge_method"),
        prompt: p.get("prompt"),
        max_age: p.get("max_age"),
        login_hint: p.get("login_hint"),
        response_mode: p.get("response_mode"),
        request: p.get("request"),
        request_uri: p.get("request_uri"),
    };
    // Where to come back after signing in: the same request, without what forced it.
    let back = {
        let mut kept: Vec<(&str, String)> = Vec::new();
        for k in [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "login_hint",
            "response_mode",
        ] {
            if let Some(v) = p.get(k) {
                kept.push((k, v));
            }
        }
        if let Some(prompt) = p.get("prompt").filter(|v| v == "none") {
            kept.push(("prompt", prompt));
        }
        format!("/authorize?{}", serde_urlencoded::to_string(&kept).unwrap_or_default())
    };
    match state.app.authorize(req, session).await {
        Ok(AuthOutcome::SignIn { force, login_hint }) => {
            let mut to = format!("/sign-in?next={}", urlencode(&back));
            if force {
                to.push_str("&force=1");
            }
            if let Some(h) = login_hint {
                to.push_str(&format!("&login={}", urlencode(&h)));
            }
            Redirect::to(&to).into_response()
        }
        Ok(AuthOutcome::ChangePassword) => {
            Redirect::to(&format!("/account/password?next={}", urlencode(&back))).into_response()
        }
        Ok(AuthOutcome::AcceptRules) => Redirect::to(&format!("/rules?next={}", urlencode(&back))).into_response(),
        Ok(AuthOutcome::Refused { client_name, resource }) => {
            let title = resource.as_deref().map_or(client_name.as_str(), |r| pages::resource_title(lang, r));
            (StatusCode::FORBIDDEN, pages::refused(lang, title, resource.as_ref().map(|r| &r.owner))).into_response()
        }
        Ok(AuthOutcome::Code { redirect_uri, code, state: st }) => {
            let mut q = vec![("code", code)];
            if let Some(s) = st {
                q.push(("state", s));
            }
            q.push(("iss", state.app.issuer.clone()));
            Redirect::to(&with_query(&redirect_uri, &q)).into_response()
        }
        Err(AuthorizeError::Page(kind)) => {
            let message = match kind {
                "unknown_client" => t.unknown_client,
                "bad_redirect_uri" => t.bad_redirect_uri,
                _ => t.unavailable,
            };
            (StatusCode::BAD_REQUEST, pages::error(lang, message, false)).into_response()
        }
        Err(AuthorizeError::Redirect { redirect_uri, error, description, state: st }) => {
            let mut q = vec![("error", error.to_owned()), ("error_description", description)];
            if let Some(s) = st {
                q.push(("state", s));
            }
            q.push(("iss", state.app.issuer.clone()));
            Redirect::to(&with_query(&redirect_uri, &q)).into_response()
        }
    }
}

/// `uri` with `q` appended to its query (RFC 6749 §3.1.2: the registered query is kept).
fn with_query(uri: &str, q: &[(&str, String)]) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", serde_urlencoded::to_string(q).unwrap_or_default())
}
