//! `GET|POST /rules`: the rules of the environment and the "I accept" form.
//!
//! After signing in (and after the second factor and a forced password change), a person
//! who has not accepted the current version is sent here before anything else by
//! [`gate`], which the personal account, `/authorize` and forward-auth's `/auth/continue`
//! call; accepting leads on to where they were going (a local path only, invariant 8).
//! Declining signs them out.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::HttpError;
use super::extract::{ClientInfo, Form, SESSION_COOKIE, Signed, local_path, urlencode};
use super::i18n::Lang;
use super::{AppState, csrf_ok, host_cookie, pages};
use crate::app::{App, AppError, CurrentSession};

/// Where the person must go first if they have not accepted the current rules: a
/// redirect to `/rules` that comes back to `next`, or `None` to go on.
pub async fn gate(app: &App, s: &CurrentSession, next: &str) -> Result<Option<Response>, AppError> {
    if !app.must_accept_rules(&s.account.id).await? {
        return Ok(None);
    }
    Ok(Some(Redirect::to(&format!("/rules?next={}", urlencode(local_path(Some(next))))).into_response()))
}

#[derive(Deserialize)]
pub struct RulesQuery {
    next: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    Signed(s): Signed,
    Query(q): Query<RulesQuery>,
) -> Result<Response, HttpError> {
    let next = local_path(q.next.as_deref()).to_owned();
    if s.account.password_must_change {
        // The issued password is changed first, then the rules.
        let back = format!("/rules?next={}", urlencode(&next));
        return Ok(Redirect::to(&format!("/account/password?next={}", urlencode(&back))).into_response());
    }
    render(&state, lang, &s, &next, None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    lang: Lang,
    s: &CurrentSession,
    next: &str,
    flash: Option<&str>,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let app = &state.app;
    let current = app.current_rules().await.map_err(HttpError::app(lang))?;
    let Some(current) = current else {
        // Nothing was published: nothing to accept.
        return Ok(Redirect::to(next).into_response());
    };
    let pending = app.must_accept_rules(&s.account.id).await.map_err(HttpError::app(lang))?;
    let accepted_before =
        pending && !app.rule_acceptances(&s.account.id).await.map_err(HttpError::app(lang))?.is_empty();
    let view = pages::RulesView { version: &current, pending, accepted_before, next, flash };
    Ok((status, pages::rules(lang, &s.token.csrf_token(), &view)).into_response())
}

#[derive(Deserialize)]
pub struct RulesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    answer: String,
    next: Option<String>,
}

pub async fn answer(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<RulesForm>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&f.csrf, &s.token.csrf_token()) {
        return Err(HttpError::Csrf(lang));
    }
    let next = local_path(f.next.as_deref()).to_owned();
    let ip = client.ip_string();
    match f.answer.as_str() {
        "accept" => {
            let version: i64 = f.version.parse().map_err(|_| HttpError::BadRequest(StatusCode::BAD_REQUEST, lang))?;
            match state.app.accept_rules(&s, version, ip.as_deref()).await {
                Ok(()) => {
                    tracing::info!(login = %s.account.login, version, "rules accepted");
                    Ok(Redirect::to(&next).into_response())
                }
                Err(AppError::Conflict(_)) => {
                    render(&state, lang, &s, &next, Some(lang.t().rules_stale), StatusCode::CONFLICT).await
                }
                Err(e) => Err(HttpError::App(e, lang)),
            }
        }
        "decline" => {
            state.app.decline_rules(&s, ip.as_deref()).await.map_err(HttpError::app(lang))?;
            tracing::info!(login = %s.account.login, "rules declined: signed out");
            let mut resp = pages::rules_declined(lang).into_response();
            resp.headers_mut().append(header::SET_COOKIE, host_cookie(SESSION_COOKIE, "", Some(0)));
            Ok(resp)
        }
        _ => Err(HttpError::BadRequest(StatusCode::BAD_REQUEST, lang)),
    }
}
