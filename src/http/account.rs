//! The personal account (ЛК): overview, password change, ending sessions.
//!
//! While an issued password has not been changed, every page here leads to the
//! password form (D-2).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::HttpError;
use super::extract::{ClientInfo, Form, Signed, local_path, urlencode};
use super::i18n::Lang;
use super::{AppState, csrf_ok, pages};
use crate::app::AppError;
use crate::domain::ids::SessionTokenHash;
use crate::domain::password::Password;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    lang: Lang,
    Signed(s): Signed,
    Query(q): Query<Done>,
) -> Result<Response, HttpError> {
    if s.account.password_must_change {
        return Ok(Redirect::to("/account/password").into_response());
    }
    let here = q.done.as_deref().map_or("/account".to_owned(), |d| format!("/account?done={}", urlencode(d)));
    if let Some(to_rules) = super::rules::gate(&state.app, &s, &here).await.map_err(HttpError::app(lang))? {
        return Ok(to_rules);
    }
    let o = state.app.account_overview(&s).await.map_err(HttpError::app(lang))?;
    let t = lang.t();
    let notice = match q.done.as_deref() {
        Some("password") => Some(t.password_changed),
        Some("session") => Some(t.session_ended),
        Some("others") => Some(t.other_sessions_ended),
        _ => None,
    };
    Ok(pages::account(lang, &s.token.csrf_token(), &o, notice).into_response())
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

pub async fn password_page(lang: Lang, Signed(s): Signed, Query(q): Query<Next>) -> Response {
    let next = q.next.as_deref().map(|n| local_path(Some(n)));
    pages::change_password(lang, &s.token.csrf_token(), s.account.password_must_change, None, next).into_response()
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    next: Option<String>,
}

pub async fn change_password(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<PasswordForm>,
) -> Result<Response, HttpError> {
    let csrf = s.token.csrf_token();
    if !csrf_ok(&f.csrf, &csrf) {
        return Err(HttpError::Csrf(lang));
    }
    let result = state
        .app
        .change_password(
            &s,
            Password::new(f.current),
            Password::new(f.new),
            Password::new(f.confirm),
            client.ip_string().as_deref(),
        )
        .await;
    let message = match result {
        Ok(()) => {
            let to = f.next.as_deref().map_or("/account?done=password", |n| local_path(Some(n)));
            return Ok(Redirect::to(to).into_response());
        }
        Err(AppError::PasswordRejected(p)) => lang.password_problem(p),
        Err(AppError::WrongCurrentPassword) => lang.t().wrong_current_password.to_owned(),
        Err(e) => return Err(HttpError::App(e, lang)),
    };
    let next = f.next.as_deref().map(|n| local_path(Some(n)));
    let page = pages::change_password(lang, &csrf, s.account.password_must_change, Some(&message), next);
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    session: String,
}

pub async fn end_session(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<EndForm>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&f.csrf, &s.token.csrf_token()) {
        return Err(HttpError::Csrf(lang));
    }
    let target = SessionTokenHash::parse(&f.session).ok_or(HttpError::BadRequest(StatusCode::BAD_REQUEST, lang))?;
    let to = if target == s.hash { "/sign-in?signed_out=1" } else { "/account?done=session" };
    state.app.end_session(&s, target, client.ip_string().as_deref()).await.map_err(HttpError::app(lang))?;
    Ok(Redirect::to(to).into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn end_other_sessions(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&f.csrf, &s.token.csrf_token()) {
        return Err(HttpError::Csrf(lang));
    }
    state.app.end_other_sessions(&s, client.ip_string().as_deref()).await.map_err(HttpError::app(lang))?;
    Ok(Redirect::to("/account?done=others").into_response())
}
