//! The version for the visually impaired, as Russian educational sites offer it:
//! larger type, high contrast, links and states that do not rely on colour. A link on
//! every page switches it on or off; the choice is a cookie kept for a year, so it works
//! before signing in and survives signing out.
//!
//! The mode is read from the cookie once per request by [`remember_mode`] and held for the
//! request's task, so that every page's frame (`pages::layout`), error pages included,
//! follows it without each handler passing it on.

use axum::extract::{Path, Query, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::HttpError;
use super::extract::{cookie, local_path};
use super::i18n::Lang;

/// The cookie that remembers the choice.
pub const VIEW_COOKIE: &str = "propusk_view";
/// Its value in the version for the visually impaired.
pub const LOW_VISION: &str = "low-vision";
/// How long the choice is remembered: a year.
const REMEMBER_SECS: u64 = 365 * 86_400;

tokio::task_local! {
    static LOW_VISION_MODE: bool;
}

/// Whether the page being rendered is in the version for the visually impaired.
pub fn low_vision() -> bool {
    LOW_VISION_MODE.try_with(|on| *on).unwrap_or(false)
}

/// Middleware: reads the mode from the request's cookie for everything rendered while
/// answering it.
pub async fn remember_mode(req: Request, next: Next) -> Response {
    let on = cookie(req.headers(), VIEW_COOKIE) == Some(LOW_VISION);
    LOW_VISION_MODE.scope(on, next.run(req)).await
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /view/low-vision` and `GET /view/standard`: remembers the choice and returns to
/// the page it was made on (a local path only, invariant 8).
pub async fn switch(lang: Lang, Path(mode): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let value = match mode.as_str() {
        LOW_VISION => LOW_VISION,
        "standard" => "standard",
        _ => return HttpError::NotFound(lang).into_response(),
    };
    let next = match q.next.as_deref() {
        Some(n) => local_path(Some(n)),
        None => "/",
    };
    let mut resp = Redirect::to(next).into_response();
    let cookie = format!("{VIEW_COOKIE}={value}; Path=/; Max-Age={REMEMBER_SECS}; SameSite=Lax; Secure; HttpOnly");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_mode_holds_for_the_request_only() {
        assert!(!low_vision());
        assert!(LOW_VISION_MODE.scope(true, async { low_vision() }).await);
        assert!(!LOW_VISION_MODE.scope(false, async { low_vision() }).await);
        assert!(!low_vision());
    }
}
