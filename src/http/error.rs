//! The one place where errors become HTTP responses: an exhaustive `match`, the cause
//! logged, the person shown a clear page in their language, never a trace or SQL.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::i18n::Lang;
use super::pages;
use crate::app::AppError;

#[derive(Debug)]
pub enum HttpError {
    App(AppError, Lang),
    /// A form without a valid anti-forgery token.
    Csrf(Lang),
    /// A form or query that could not be read (malformed, wrong type, too large).
    BadRequest(StatusCode, Lang),
    NotFound(Lang),
}

impl HttpError {
    pub fn app(lang: Lang) -> impl FnOnce(AppError) -> HttpError {
        move |e| HttpError::App(e, lang)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, lang, message, sign_in_link) = match &self {
            HttpError::App(e, lang) => {
                let t = lang.t();
                match e {
                    AppError::InvalidCredentials => {
                        (StatusCode::UNAUTHORIZED, *lang, t.invalid_credentials.to_owned(), true)
                    }
                    AppError::AccountDisabled(s) => {
                        (StatusCode::FORBIDDEN, *lang, lang.account_disabled(*s).to_owned(), false)
                    }
                    AppError::IssuedPasswordExpired => {
                        (StatusCode::FORBIDDEN, *lang, t.issued_expired.to_owned(), false)
                    }
                    AppError::WrongCurrentPassword => {
                        (StatusCode::BAD_REQUEST, *lang, t.wrong_current_password.to_owned(), false)
                    }
                    AppError::PasswordRejected(p) => (StatusCode::BAD_REQUEST, *lang, lang.password_problem(*p), false),
                    AppError::Profile(p) => (StatusCode::BAD_REQUEST, *lang, p.to_string(), false),
                    AppError::Client(p) => (StatusCode::BAD_REQUEST, *lang, p.to_string(), false),
                    AppError::BadLogoutRequest => (StatusCode::BAD_REQUEST, *lang, t.bad_logout.to_owned(), false),
                    AppError::Invalid(why) => (StatusCode::BAD_REQUEST, *lang, why.clone(), false),
                    AppError::NotFound(_) => (StatusCode::NOT_FOUND, *lang, t.not_found.to_owned(), false),
                    AppError::Forbidden => (StatusCode::FORBIDDEN, *lang, t.forbidden.to_owned(), false),
                    AppError::Conflict(_) => (StatusCode::CONFLICT, *lang, t.bad_request.to_owned(), false),
                    AppError::Busy => (StatusCode::SERVICE_UNAVAILABLE, *lang, t.busy.to_owned(), false),
                    AppError::TooManyAttempts(_) => {
                        (StatusCode::TOO_MANY_REQUESTS, *lang, t.too_many_attempts.to_owned(), false)
                    }
                    AppError::Unavailable(cause) => {
                        tracing::error!(%cause, "store unavailable");
                        (StatusCode::SERVICE_UNAVAILABLE, *lang, t.unavailable.to_owned(), false)
                    }
                    AppError::DirectoryUnavailable(cause) => {
                        tracing::error!(%cause, "directory unavailable");
                        (StatusCode::SERVICE_UNAVAILABLE, *lang, t.directory_unavailable.to_owned(), false)
                    }
                    AppError::DirectoryPasswordExpired => {
                        (StatusCode::FORBIDDEN, *lang, t.directory_password_expired.to_owned(), false)
                    }
                    AppError::Internal(cause) => {
                        tracing::error!(%cause, "internal error");
                        (StatusCode::INTERNAL_SERVER_ERROR, *lang, t.internal.to_owned(), false)
                    }
                }
            }
            HttpError::Csrf(lang) => (StatusCode::FORBIDDEN, *lang, lang.t().csrf_failed.to_owned(), true),
            HttpError::BadRequest(status, lang) => {
                let t = lang.t();
                let m = if *status == StatusCode::PAYLOAD_TOO_LARGE { t.too_large } else { t.bad_request };
                (*status, *lang, m.to_owned(), false)
            }
            HttpError::NotFound(lang) => (StatusCode::NOT_FOUND, *lang, lang.t().not_found.to_owned(), false),
        };
        let mut resp = (status, pages::error(lang, &message, sign_in_link)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let HttpError::App(AppError::TooManyAttempts(wait), _) = &self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        }
        resp
    }
}
