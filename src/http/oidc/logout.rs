//! `GET|POST /logout`: RP-Initiated Logout 1.0. Without an `id_token_hint` for the
//! current session, the person confirms on a page first, so a stray link cannot sign
//! anyone out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Params, form_params};
use crate::app::oidc::{LogoutOutcome, LogoutRequest};
use crate::http::error::HttpError;
use crate::http::extract::{ClientInfo, MaybeSigned, SESSION_COOKIE};
use crate::http::i18n::Lang;
use crate::http::{AppState, csrf_ok, host_cookie, pages};

pub async fn get(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    MaybeSigned(s): MaybeSigned,
    uri: Uri,
) -> Response {
    match Params::parse(uri.query().unwrap_or("")) {
        Ok(p) => handle(&state, lang, &client, s.as_ref(), &p, false).await,
        Err(_) => HttpError::BadRequest(StatusCode::BAD_REQUEST, lang).into_response(),
    }
}

pub async fn post(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    MaybeSigned(s): MaybeSigned,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(p) = form_params(&headers, &body) else {
        return HttpError::BadRequest(StatusCode::BAD_REQUEST, lang).into_response();
    };
    let confirmed = p.get("confirm").is_some();
    if confirmed {
        let expected = s.as_ref().map(|s| s.token.csrf_token()).unwrap_or_default();
        if !csrf_ok(&p.get("csrf").unwrap_or_default(), &expected) {
            return HttpError::Csrf(lang).into_response();
        }
    }
    handle(&state, lang, &client, s.as_ref(), &p, confirmed).await
}

async fn handle(
    state: &AppState,
    lang: Lang,
    client: &ClientInfo,
    session: Option<&crate::app::CurrentSession>,
    p: &Params,
    confirmed: bool,
) -> Response {
    let req = LogoutRequest {
        id_token_hint: p.get("id_token_hint"),
        client_id: p.get("client_id"),
        post_logout_redirect_uri: p.get("post_logout_redirect_uri"),
        state: p.get("state"),
    };
    match state.app.end_session_request(&req, session, confirmed, client.ip_string().as_deref()).await {
        Ok(LogoutOutcome::Confirm) => {
            let csrf = session.map(|s| s.token.csrf_token()).unwrap_or_default();
            pages::confirm_logout(lang, &csrf, &req).into_response()
        }
        Ok(LogoutOutcome::Done { redirect }) => {
            let to = redirect.unwrap_or_else(|| "/sign-in?signed_out=1".to_owned());
            let mut resp = Redirect::to(&to).into_response();
            if session.is_some() {
                resp.headers_mut().append(header::SET_COOKIE, host_cookie(SESSION_COOKIE, "", Some(0)));
            }
            resp
        }
        Err(e) => HttpError::App(e, lang).into_response(),
    }
}
