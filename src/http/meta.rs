//! Everything around the pages: home, language switch, health, static files, 404.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::HttpError;
use super::extract::{LANG_COOKIE, MaybeSigned, local_path};
use super::i18n::Lang;
use crate::app::AppError;

pub async fn home(MaybeSigned(s): MaybeSigned) -> Redirect {
    Redirect::to(if s.is_some() { "/account" } else { "/sign-in" })
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Remembers the chosen language for a year and returns to the page it was chosen on.
pub async fn switch_language(lang: Lang, Path(code): Path<String>, Query(q): Query<Next>) -> Response {
    let Some(chosen) = Lang::from_code(&code) else {
        return HttpError::NotFound(lang).into_response();
    };
    let next = match q.next.as_deref() {
        Some(n) => local_path(Some(n)),
        None => "/",
    };
    let mut resp = Redirect::to(next).into_response();
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; Secure", chosen.code());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The process can serve: its store answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(AppError::DirectoryUnavailable(why)) => {
            tracing::warn!(%why, "not ready: directory");
            (StatusCode::SERVICE_UNAVAILABLE, format!("directory unavailable: {why}\n")).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../static/propusk.css"),
    )
        .into_response()
}

/// The site's icon (browsers ask for one on every site; without it, a 404 each time).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        include_str!("../../static/favicon.svg"),
    )
        .into_response()
}

pub async fn not_found(lang: Lang) -> HttpError {
    HttpError::NotFound(lang)
}
