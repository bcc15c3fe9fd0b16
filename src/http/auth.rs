//! Signing in and out.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use rand::RngCore as _;
use serde::Deserialize;

use super::error::HttpError;
use super::extract::{ClientInfo, Form, MaybeSigned, PRE_CSRF_COOKIE, SESSION_COOKIE, Signed, cookie, local_path};
use super::i18n::Lang;
use super::{AppState, csrf_ok, host_cookie, pages};
use crate::app::{AppError, DeviceToken, SignInRequest, SignInStep};
use crate::domain::password::Password;

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
    /// Ask for the password even when signed in (`prompt=login`, `max_age`).
    force: Option<String>,
    /// Prefill the login (`login_hint`).
    login: Option<String>,
}

/// The sign-in form. A fresh anti-forgery cookie is set when the browser has none.
pub async fn sign_in_page(
    State(state): State<AppState>,
    MaybeSigned(session): MaybeSigned,
    lang: Lang,
    Query(q): Query<SignInQuery>,
    headers: HeaderMap,
) -> Response {
    let next = local_path(q.next.as_deref()).to_owned();
    if session.is_some() && q.force.is_none() {
        return Redirect::to(&next).into_response();
    }
    let notice = q.signed_out.is_some().then_some(lang.t().signed_out);
    let login: String = q.login.unwrap_or_default().chars().take(64).collect();
    // announcements for everyone (and maintenance windows) above the form. A
    // store that does not answer must not keep anyone from the form.
    let banner = match state.app.announcements_for(None).await {
        Ok(list) => super::admin::notices::banner_on(lang, &list, true),
        Err(e) => {
            tracing::warn!(error = %e, "announcements could not be read");
            maud::Markup::default()
        }
    };
    form_response_with(&headers, lang, StatusCode::OK, None, notice, &login, &next, banner)
}

fn form_response(
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
    login: &str,
    next: &str,
) -> Response {
    form_response_with(headers, lang, status, error, notice, login, next, maud::Markup::default())
}

#[allow(clippy::too_many_arguments)]
fn form_response_with(
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
    login: &str,
    next: &str,
    banner: maud::Markup,
) -> Response {
    let existing = cookie(headers, PRE_CSRF_COOKIE).filter(|v| v.len() == 43).map(str::to_owned);
    let token = existing.clone().unwrap_or_else(|| {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    });
    let mut resp = (status, pages::sign_in(lang, &token, error, notice, login, next, banner)).into_response();
    if existing.is_none() {
        resp.headers_mut().append(header::SET_COOKIE, host_cookie(PRE_CSRF_COOKIE, &token, None));
    }
    resp
}

/// The sign-in form answering "wrong login or password" (401): also the answer of a
/// second-factor step refused by a lock (D-1, no enumeration).
pub(super) fn invalid_credentials_page(headers: &HeaderMap, lang: Lang, login: &str, next: &str) -> Response {
    let t = lang.t();
    form_response(headers, lang, StatusCode::UNAUTHORIZED, Some(t.invalid_credentials), None, login, next)
}

/// The known-device cookie: set after a successful sign-in, it gives this browser's
/// later sign-ins to the same account priority on the password hashing pool.
pub const DEVICE_COOKIE: &str = "__Host-propusk-device";

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    /// The box of a notice to acknowledge before sign-in (D-4).
    acknowledged: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, HttpError> {
    let expected = cookie(&headers, PRE_CSRF_COOKIE).unwrap_or("");
    if !csrf_ok(&form.csrf, expected) {
        return Err(HttpError::Csrf(lang));
    }
    if let Err(wait) = state.limits.sign_in(client.ip, &form.login) {
        return Err(HttpError::App(AppError::TooManyAttempts(wait), lang));
    }
    let next = local_path(form.next.as_deref()).to_owned();
    let login_echo: String = form.login.trim().chars().take(64).collect();
    // D-4: while a notice to acknowledge is in force, nobody signs in without its box.
    if form.acknowledged.as_deref() != Some("on") {
        let list = state.app.announcements_for(None).await.map_err(HttpError::app(lang))?;
        if list.iter().any(|a| a.kind == crate::ports::console::AnnouncementKind::SignInNotice) {
            let banner = super::admin::notices::banner_on(lang, &list, true);
            let msg = if lang == Lang::Ru {
                "Подтвердите, что ознакомились с уведомлением перед входом."
            } else {
                "Confirm that you have read the notice before signing in."
            };
            return Ok(form_response_with(
                &headers,
                lang,
                StatusCode::BAD_REQUEST,
                Some(msg),
                None,
                &login_echo,
                &next,
                banner,
            ));
        }
    }
    let req = SignInRequest {
        login: form.login,
        password: Password::new(form.password),
        ip: client.ip_string(),
        user_agent: client.user_agent,
    };
    let t = lang.t();
    let device = cookie(&headers, DEVICE_COOKIE).and_then(DeviceToken::from_cookie);
    match state.app.sign_in_start(req, device, &next).await {
        // D-5: an administrator continues with the second factor.
        Ok(SignInStep::SecondFactor(p)) => Ok(super::second_factor::pending_response(&p)),
        Ok(SignInStep::Done(signed, device)) => {
            tracing::info!(login = %signed.account.login, ip = ?client.ip, "signed in");
            let to = if signed.account.password_must_change {
                if next == "/account" {
                    "/account/password".to_owned()
                } else {
                    format!("/account/password?next={}", super::extract::urlencode(&next))
                }
            } else {
                next.clone()
            };
            let mut resp = Redirect::to(&to).into_response();
            let max_age = state.app.settings.session_limits.absolute.as_secs();
            resp.headers_mut()
                .append(header::SET_COOKIE, host_cookie(SESSION_COOKIE, signed.token.expose(), Some(max_age)));
            if let Some(d) = device {
                let remember = state.app.settings.devices.remember.as_secs();
                resp.headers_mut().append(header::SET_COOKIE, host_cookie(DEVICE_COOKIE, d.expose(), Some(remember)));
            }
            Ok(resp)
        }
        Err(AppError::InvalidCredentials) => {
            tracing::info!(ip = ?client.ip, "sign-in failed");
            Ok(form_response(
                &headers,
                lang,
                StatusCode::UNAUTHORIZED,
                Some(t.invalid_credentials),
                None,
                &login_echo,
                &next,
            ))
        }
        Err(AppError::AccountDisabled(s)) => Ok(form_response(
            &headers,
            lang,
            StatusCode::FORBIDDEN,
            Some(lang.account_disabled(s)),
            None,
            &login_echo,
            &next,
        )),
        Err(AppError::IssuedPasswordExpired) => {
            Ok(form_response(&headers, lang, StatusCode::FORBIDDEN, Some(t.issued_expired), None, &login_echo, &next))
        }
        Err(e) => Err(HttpError::App(e, lang)),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientInfo,
    Signed(s): Signed,
    Form(form): Form<CsrfForm>,
) -> Result<Response, HttpError> {
    if !csrf_ok(&form.csrf, &s.token.csrf_token()) {
        return Err(HttpError::Csrf(lang));
    }
    state.app.sign_out(&s, client.ip_string().as_deref()).await.map_err(HttpError::app(lang))?;
    let mut resp = Redirect::to("/sign-in?signed_out=1").into_response();
    resp.headers_mut().append(header::SET_COOKIE, host_cookie(SESSION_COOKIE, "", Some(0)));
    Ok(resp)
}
