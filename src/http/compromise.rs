//! "My account is compromised": a public form that needs only the login and the
//! lock code from the credential slip, and a button in the personal account confirmed
//! with the password. Either way the account is blocked at once everywhere.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::HttpError;
use super::extract::{ClientInfo, Form, PRE_CSRF_COOKIE, SESSION_COOKIE, Signed, cookie};
use super::i18n::Lang;
use super::{AppState, csrf_ok, host_cookie, pages};
use crate::app::AppError;
use crate::domain::password::Password;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn public_page(lang: Lang, headers: HeaderMap, Query(q): Query<Done>) -> Response {
    let done = q.done.is_some().then_some(lang.t().compromised_done);
    pages::with_pre_csrf(&headers, |csrf| pages::compromised_public(lang, csrf, done))
}

#[derive(Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    code: String,
}

pub async fn public_report(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    headers: HeaderMap,
    Form(f): Form<ReportForm>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&f.csrf, cookie(&headers, PRE_CSRF_COOKIE).unwrap_or("")) {
        return Err(HttpError::Csrf(lang));
    }
    if let Err(wait) = state.limits.report(client.ip) {
        return Err(HttpError::App(AppError::TooManyAttempts(wait), lang));
    }
    let ip = client.ip_string();
    state.app.report_compromise_by_code(&f.login, &f.code, ip.as_deref()).await.map_err(HttpError::app(lang))?;
    Ok(pages::compromised_public(lang, &f.csrf, Some(lang.t().compromised_done)).into_response())
}

pub async fn account_page(lang: Lang, Signed(s): Signed) -> Response {
    pages::compromised_signed_in(lang, &s.token.csrf_token(), None).into_response()
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn account_report(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, HttpError> {
    let csrf = s.token.csrf_token();
    if !csrf_ok(&f.csrf, &csrf) {
        return Err(HttpError::Csrf(lang));
    }
    let ip = client.ip_string();
    match state.app.report_compromise(&s, Password::new(f.password), ip.as_deref()).await {
        Ok(()) => {
            let mut resp = Redirect::to("/compromised?done=1").into_response();
            resp.headers_mut().append(header::SET_COOKIE, host_cookie(SESSION_COOKIE, "", Some(0)));
            Ok(resp)
        }
        Err(AppError::WrongCurrentPassword) => {
            let page = pages::compromised_signed_in(lang, &csrf, Some(lang.t().wrong_current_password));
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(HttpError::App(e, lang)),
    }
}
