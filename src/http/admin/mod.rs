//! The administrators' console at `/admin` (R-5–, D-11) and its
//! JSON API at `/api/admin` (described by `/api/admin/openapi.json`).
//!
//! Every page needs a live session of an account whose roles open part of the console
//! (`domain::console`), that passed the second factor (D-5) and changed its issued
//! password; every post needs the session's anti-forgery token. What a role may do is
//! decided again by the use case, which audits a refusal.

mod api;
mod inspectors;
mod journals;
pub mod notices;
mod register;
mod reports;
pub mod requests;
mod users;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::AppState;
use super::error::HttpError;
use super::extract::{ClientInfo, Signed};
use super::i18n::Lang;
use super::pages::{self, Flash, Frame};
use crate::app::console::ConsoleUser;
use crate::app::{AppError, CurrentSession};
use crate::domain::console::Permission;

pub use register::REGISTER_PATH;
pub use requests::{public_request_page, public_request_post};

/// Largest register file the console accepts (a 2,000-person intake is ~250 KB).
pub const REGISTER_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/users", get(users::list))
        .route("/admin/users/new", get(users::new_page).post(users::create))
        .route("/admin/users/{login}", get(users::view))
        .route("/admin/users/{login}/{action}", post(users::act))
        .route(
            REGISTER_PATH,
            get(register::form_page).post(register::upload).layer(DefaultBodyLimit::max(REGISTER_BODY_LIMIT)),
        )
        .route("/admin/slips", get(register::batches))
        .route("/admin/slips/{at}", get(register::batch))
        .route("/admin/slips/{at}/handed-over", post(register::hand_over))
        .route("/admin/requests", get(requests::queue))
        .route("/admin/requests/{id}", post(requests::update))
        .route("/admin/notices", get(notices::list).post(notices::create))
        .route("/admin/notices/{id}/withdraw", post(notices::withdraw))
        .route("/admin/reports", get(reports::show))
        .route("/admin/library", get(reports::library))
        .route("/admin/inspectors", get(inspectors::list).post(inspectors::create))
        .route("/admin/journal", get(journals::show))
        .route("/admin/journal/verify", get(journals::verify))
        .merge(api::routes())
}

/// Console text in the page's language.
pub(crate) fn tr(lang: Lang, ru: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Ru { ru } else { en }
}

/// A person in the console: the session, what the roles allow, and the request's language.
pub struct Console {
    pub session: CurrentSession,
    pub user: ConsoleUser,
    pub lang: Lang,
}

impl Console {
    pub fn csrf(&self) -> String {
        self.session.token.csrf_token()
    }

    pub fn err(&self) -> impl FnOnce(AppError) -> HttpError {
        HttpError::app(self.lang)
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_request_parts(parts, state).await.unwrap_or(Lang::Ru);
        let Signed(session) = Signed::from_request_parts(parts, state).await?;
        let client = ClientInfo::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        if session.account.password_must_change {
            return Err(Redirect::to(&format!("/account/password?next={}", parts.uri.path())).into_response());
        }
        let Some(user) = ConsoleUser::of(&session, client.ip_string()) else {
            let _ = state
                .app
                .audit_refused(session.account.login.as_str(), client.ip_string().as_deref(), "no console role")
                .await;
            return Err(HttpError::App(AppError::Forbidden, lang).into_response());
        };
        // D-5: an administrative session must have passed the second factor.
        if session.second_factor_at.is_none() {
            let _ = state
                .app
                .audit_refused(session.account.login.as_str(), client.ip_string().as_deref(), "no second factor")
                .await;
            let msg = tr(
                lang,
                "Для работы в консоли нужен второй фактор. Выйдите и войдите снова с кодом из приложения.",
                "The console needs the second factor. Sign out and sign in again with a code from your app.",
            );
            let page = pages::error(lang, msg, true);
            return Err((axum::http::StatusCode::FORBIDDEN, page).into_response());
        }
        Ok(Console { session, user, lang })
    }
}

/// Checks a posted anti-forgery token; a failure is audited and answered 403.
pub async fn check_csrf(state: &AppState, c: &Console, posted: &str) -> Result<(), HttpError> {
    if super::csrf_ok(posted, &c.csrf()) {
        return Ok(());
    }
    let _ = state
        .app
        .audit_refused(&c.user.actor.name, c.user.actor.ip.as_deref(), "anti-forgery token missing or wrong")
        .await;
    Err(HttpError::Csrf(c.lang))
}

/// The console's sections, each shown only to those whose roles open it.
fn sections(lang: Lang) -> [(&'static str, &'static str, Permission); 9] {
    [
        ("/admin/users", tr(lang, "Пользователи", "Users"), Permission::ViewUsers),
        ("/admin/register", tr(lang, "Регистрация группы", "Register a group"), Permission::BulkRegister),
        ("/admin/slips", tr(lang, "Листы с учётными данными", "Credential slips"), Permission::BulkRegister),
        ("/admin/requests", tr(lang, "Обращения", "Requests"), Permission::HandleRequests),
        ("/admin/notices", tr(lang, "Объявления", "Announcements"), Permission::ManageNotices),
        ("/admin/reports", tr(lang, "Отчёты", "Reports"), Permission::ViewReports),
        ("/admin/journal", tr(lang, "Журналы", "Journals"), Permission::ViewJournals),
        ("/admin/library", tr(lang, "Доступ к ЭБС", "Library access"), Permission::ViewLibraryList),
        ("/admin/inspectors", tr(lang, "Проверяющие", "Inspectors"), Permission::ManageInspectors),
    ]
}

/// A console page: the site frame with the console's navigation above the content.
pub fn page(c: &Console, title: &str, here: &str, flash: Option<Flash<'_>>, body: Markup) -> Markup {
    let csrf = c.csrf();
    let frame = Frame { lang: c.lang, title, signed_in: Some(&csrf), here };
    let nav_label = tr(c.lang, "Разделы консоли", "Console sections");
    pages::layout(
        &frame,
        flash,
        html! {
            nav.console aria-label=(nav_label) {
                ul {
                    li { a href="/admin" aria-current=[(here == "/admin").then_some("page")] { (tr(c.lang, "Консоль", "Console")) } }
                    @for (href, label, p) in sections(c.lang) {
                        @if c.user.may(p) {
                            li { a href=(href) aria-current=[(here.starts_with(href)).then_some("page")] { (label) } }
                        }
                    }
                    li { a href="/account" { (tr(c.lang, "Личный кабинет", "Personal account")) } }
                }
            }
            (body)
        },
    )
}

async fn dashboard(
    axum::extract::State(state): axum::extract::State<AppState>,
    c: Console,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let open_requests = if c.user.may(Permission::HandleRequests) {
        Some(state.app.requests(&c.user, false).await.map_err(c.err())?.len())
    } else {
        None
    };
    let body = html! {
        p { (tr(lang, "Вы вошли как ", "Signed in as ")) strong { (c.session.account.full_name) } " (" code { (c.session.account.login) } ")." }
        ul.cards {
            @for (href, label, p) in sections(lang) {
                @if c.user.may(p) {
                    li { a href=(href) { (label) } }
                }
            }
        }
        @if let Some(n) = open_requests {
            p { (tr(lang, "Открытых обращений: ", "Open requests: ")) strong { (n) } }
        }
    };
    Ok(page(&c, tr(lang, "Консоль администратора", "Administrators' console"), "/admin", None, body).into_response())
}

/// The page shown once with credentials just issued (a reset, a restore, a new person
/// or an inspector): the secret is in this answer and nowhere else.
pub fn issued_page(c: &Console, title: &str, slips: &[crate::app::IssuedCredential], base: &str) -> Markup {
    let lang = c.lang;
    page(
        c,
        title,
        "/admin/slips",
        Some(Flash::Notice(tr(
            lang,
            "Учётные данные показаны один раз. Распечатайте или передайте их сейчас: повторно их показать нельзя, только выдать новые.",
            "The credentials are shown once. Print or hand them over now: they cannot be shown again, only issued anew.",
        ))),
        register::slips_markup(lang, slips, base),
    )
}
