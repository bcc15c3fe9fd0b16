//! The second factor's routes (D-5): the step after a right password of an
//! administrator (code, or enrolment and recovery codes), and the account page's part.
//!
//! The pending sign-in travels in its own `__Host-` cookie (five minutes, HttpOnly); the
//! forms carry the sign-in form's anti-forgery token. A lock at the code step answers
//! with the sign-in page exactly as a wrong password does.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{DEVICE_COOKIE, invalid_credentials_page};
use super::error::HttpError;
use super::extract::{ClientInfo, Form, PRE_CSRF_COOKIE, SESSION_COOKIE, Signed, cookie};
use super::i18n::Lang;
use super::pages_second_factor as pages;
use super::{AppState, csrf_ok, host_cookie};
use crate::app::{AppError, CodeOutcome, DeviceToken, PENDING_TTL, PendingStep, SignedIn};
use crate::ports::second_factor::PendingStage;

/// The cookie that binds a pending sign-in to this browser.
pub const PENDING_COOKIE: &str = "__Host-propusk-2fa";

/// After a right password of an administrator: keep the pending sign-in, ask for the code.
pub fn pending_response(p: &PendingStep) -> Response {
    let mut resp = Redirect::to("/sign-in/second-factor").into_response();
    let cookie = host_cookie(PENDING_COOKIE, &p.token, Some(PENDING_TTL.as_secs()));
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

/// A session: its cookie, the device cookie, the pending cookie cleared, and the way on
/// (the password form first while an issued password is unchanged, D-2).
pub fn session_response(state: &AppState, signed: &SignedIn, device: Option<DeviceToken>, next: &str) -> Response {
    let to = if signed.account.password_must_change {
        if next == "/account" {
            "/account/password".to_owned()
        } else {
            format!("/account/password?next={}", super::extract::urlencode(next))
        }
    } else {
        next.to_owned()
    };
    let mut resp = Redirect::to(&to).into_response();
    let max_age = state.app.settings.session_limits.absolute.as_secs();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, host_cookie(SESSION_COOKIE, signed.token.expose(), Some(max_age)));
    if let Some(d) = device {
        let remember = state.app.settings.devices.remember.as_secs();
        h.append(header::SET_COOKIE, host_cookie(DEVICE_COOKIE, d.expose(), Some(remember)));
    }
    h.append(header::SET_COOKIE, host_cookie(PENDING_COOKIE, "", Some(0)));
    resp
}

fn start_again() -> Response {
    let mut resp = Redirect::to("/sign-in").into_response();
    resp.headers_mut().append(header::SET_COOKIE, host_cookie(PENDING_COOKIE, "", Some(0)));
    resp
}

fn pre_csrf(headers: &HeaderMap) -> &str {
    cookie(headers, PRE_CSRF_COOKIE).unwrap_or("")
}

/// The page of the pending sign-in: the code, enrolment, or the saved-codes button.
pub async fn page(State(state): State<AppState>, lang: Lang, headers: HeaderMap) -> Result<Response, HttpError> {
    let Some(token) = cookie(&headers, PENDING_COOKIE) else { return Ok(start_again()) };
    let Some(view) = state.app.pending_sign_in(token).await.map_err(HttpError::app(lang))? else {
        return Ok(start_again());
    };
    let csrf = pre_csrf(&headers);
    if csrf.is_empty() {
        return Ok(start_again());
    }
    Ok(match (view.stage, &view.enrolment) {
        (PendingStage::Enrol, Some(e)) => pages::enrol(lang, csrf, e, None),
        (PendingStage::Saved, _) => pages::recovery_codes(lang, csrf, &[], true),
        _ => pages::code(lang, csrf, None),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&form.csrf, pre_csrf(&headers)) {
        return Err(HttpError::Csrf(lang));
    }
    let Some(token) = cookie(&headers, PENDING_COOKIE) else { return Ok(start_again()) };
    // The same per-address and per-login brakes as the password form.
    if let Err(wait) = state.limits.sign_in(client.ip, token) {
        return Err(HttpError::App(AppError::TooManyAttempts(wait), lang));
    }
    let device = cookie(&headers, DEVICE_COOKIE).and_then(DeviceToken::from_cookie);
    let code: String = form.code.chars().take(64).collect();
    // For a lock's answer, which must be the wrong-password page to the letter.
    let before = state.app.pending_sign_in(token).await.map_err(HttpError::app(lang))?;
    match state.app.submit_second_factor(token, &code, device).await {
        Ok(CodeOutcome::Done(signed, device, next)) => {
            tracing::info!(login = %signed.account.login, ip = ?client.ip, "signed in with a second factor");
            Ok(session_response(&state, &signed, device, &next))
        }
        Ok(CodeOutcome::Enrolled(codes)) => {
            Ok(pages::recovery_codes(lang, pre_csrf(&headers), &codes, true).into_response())
        }
        Ok(CodeOutcome::Wrong) => {
            let s = lang.second_factor();
            let view = state.app.pending_sign_in(token).await.map_err(HttpError::app(lang))?;
            let csrf = pre_csrf(&headers);
            let page = match view.as_ref().and_then(|v| v.enrolment.as_ref()) {
                Some(e) => pages::enrol(lang, csrf, e, Some(s.wrong_code)),
                None => pages::code(lang, csrf, Some(s.wrong_code)),
            };
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(AppError::InvalidCredentials) => {
            tracing::info!(ip = ?client.ip, "second factor refused: account locked");
            let (login, next) = before.map(|v| (v.login.as_str().to_owned(), v.next)).unwrap_or_default();
            let mut resp = invalid_credentials_page(&headers, lang, &login, &next);
            resp.headers_mut().append(header::SET_COOKIE, host_cookie(PENDING_COOKIE, "", Some(0)));
            Ok(resp)
        }
        Err(AppError::NotFound(_)) => Ok(start_again()),
        Err(e) => Err(HttpError::App(e, lang)),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// "I have saved them": the enrolment at sign-in ends in a session.
pub async fn saved(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&form.csrf, pre_csrf(&headers)) {
        return Err(HttpError::Csrf(lang));
    }
    let Some(token) = cookie(&headers, PENDING_COOKIE) else { return Ok(start_again()) };
    let device = cookie(&headers, DEVICE_COOKIE).and_then(DeviceToken::from_cookie);
    match state.app.finish_enrolment(token, device).await {
        Ok((signed, device, next)) => Ok(session_response(&state, &signed, device, &next)),
        Err(AppError::NotFound(_)) => Ok(start_again()),
        Err(e) => Err(HttpError::App(e, lang)),
    }
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The account page's part.
pub async fn account_page(
    State(state): State<AppState>,
    lang: Lang,
    Signed(s): Signed,
    Query(q): Query<Done>,
) -> Result<Response, HttpError> {
    if s.account.password_must_change {
        return Ok(Redirect::to("/account/password").into_response());
    }
    let st = state.app.second_factor_status(&s.account).await.map_err(HttpError::app(lang))?;
    let notice = q.done.is_some().then_some(lang.second_factor().reenrolled);
    Ok(pages::account(lang, &s.token.csrf_token(), &st, notice, None).into_response())
}

async fn account_error(state: &AppState, lang: Lang, s: &crate::app::CurrentSession) -> Result<Response, HttpError> {
    let st = state.app.second_factor_status(&s.account).await.map_err(HttpError::app(lang))?;
    let page = pages::account(lang, &s.token.csrf_token(), &st, None, Some(lang.second_factor().wrong_code));
    Ok((StatusCode::UNAUTHORIZED, page).into_response())
}

pub async fn reenrol(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<CodeForm>,
) -> Result<Response, HttpError> {
    let csrf = s.token.csrf_token();
    if !csrf_ok(&f.csrf, &csrf) {
        return Err(HttpError::Csrf(lang));
    }
    let ip = client.ip_string();
    match state.app.propose_reenrolment(&s, &f.code, ip.as_deref()).await.map_err(HttpError::app(lang))? {
        Some(e) => Ok(pages::reenrol(lang, &csrf, &e, None).into_response()),
        None => account_error(&state, lang, &s).await,
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    proposal: String,
    #[serde(default)]
    code: String,
}

pub async fn confirm(
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
    match state.app.confirm_reenrolment(&s, &f.proposal, &f.code, ip.as_deref()).await {
        Ok(Some(codes)) => Ok(pages::recovery_codes(lang, &csrf, &codes, false).into_response()),
        Ok(None) | Err(AppError::NotFound(_)) => account_error(&state, lang, &s).await,
        Err(e) => Err(HttpError::App(e, lang)),
    }
}

pub async fn recovery(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(f): Form<CodeForm>,
) -> Result<Response, HttpError> {
    let csrf = s.token.csrf_token();
    if !csrf_ok(&f.csrf, &csrf) {
        return Err(HttpError::Csrf(lang));
    }
    let ip = client.ip_string();
    match state.app.regenerate_recovery_codes(&s, &f.code, ip.as_deref()).await.map_err(HttpError::app(lang))? {
        Some(codes) => Ok(pages::recovery_codes(lang, &csrf, &codes, false).into_response()),
        None => account_error(&state, lang, &s).await,
    }
}
