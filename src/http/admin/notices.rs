//! Announcements and maintenance windows: text in Russian and English, audience
//! by role (or everyone, then shown on the sign-in page too), start and end.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, check_csrf, page, tr};
use crate::app::AppError;
use crate::app::console::AnnouncementForm;
use crate::domain::account::Role;
use crate::domain::time::Timestamp;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::extract::Form;
use crate::http::i18n::Lang;
use crate::http::pages::Flash;
use crate::ports::console::{Announcement, AnnouncementKind};

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn kind_label(lang: Lang, k: AnnouncementKind) -> &'static str {
    match k {
        AnnouncementKind::Notice => tr(lang, "объявление", "notice"),
        AnnouncementKind::Maintenance => tr(lang, "технические работы", "maintenance"),
        AnnouncementKind::SignInNotice => tr(lang, "уведомление перед входом", "notice before sign-in"),
    }
}

/// The id of the sign-in form, which a notice's acknowledgement box joins (D-4).
pub const SIGN_IN_FORM: &str = "sign-in-form";

/// Announcements as shown above a page's content (sign-in page, personal account). On
/// the sign-in page a notice to acknowledge (D-4) carries a required box that belongs
/// to the sign-in form; elsewhere such notices are not shown.
pub fn banner(lang: Lang, list: &[Announcement]) -> Markup {
    banner_on(lang, list, false)
}

pub fn banner_on(lang: Lang, list: &[Announcement], sign_in_page: bool) -> Markup {
    let list: Vec<&Announcement> =
        list.iter().filter(|a| sign_in_page || a.kind != AnnouncementKind::SignInNotice).collect();
    html! {
        @if !list.is_empty() {
            section.announcements aria-label=(tr(lang, "Объявления", "Announcements")) {
                @for a in &list {
                    div.flash.notice {
                        p {
                            strong { (kind_label(lang, a.kind)) ": " }
                            @if lang == Lang::En && !a.text_en.is_empty() { (a.text_en) } @else { (a.text_ru) }
                        }
                        @if a.kind == AnnouncementKind::Maintenance {
                            p.hint { (tr(lang, "С ", "From ")) (a.starts_at.to_human()) (tr(lang, " по ", " to ")) (a.ends_at.to_human()) " (UTC)" }
                        }
                        @if a.kind == AnnouncementKind::SignInNotice {
                            div.check {
                                input type="checkbox" id={ "ack-" (a.id) } name="acknowledged" value="on" required form=(SIGN_IN_FORM);
                                label for={ "ack-" (a.id) } { (tr(lang, "Я ознакомлен(а) с уведомлением", "I have read the notice")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn form(c: &Console) -> Markup {
    let lang = c.lang;
    html! {
        form.card method="post" action="/admin/notices" {
            input type="hidden" name="csrf" value=(c.csrf());
            div.field {
                label for="kind" { (tr(lang, "Вид", "Kind")) }
                select #kind name="kind" {
                    option value="notice" { (kind_label(lang, AnnouncementKind::Notice)) }
                    option value="maintenance" { (kind_label(lang, AnnouncementKind::Maintenance)) }
                    option value="sign_in_notice" { (kind_label(lang, AnnouncementKind::SignInNotice)) }
                }
            }
            div.field { label for="text_ru" { (tr(lang, "Текст (по-русски)", "Text (Russian)")) }
                textarea #text_ru name="text_ru" required maxlength="2000" rows="3" {} }
            div.field { label for="text_en" { (tr(lang, "Текст (по-английски, необязательно)", "Text (English, optional)")) }
                textarea #text_en name="text_en" maxlength="2000" rows="3" {} }
            fieldset {
                legend { (tr(lang, "Для кого (ничего не выбрано — для всех, и на странице входа)", "For whom (none chosen: everyone, the sign-in page too)")) }
                @for r in Role::ALL {
                    div.check {
                        input type="checkbox" id={ "aud-" (r.as_str()) } name={ "aud_" (r.as_str()) } value="on";
                        label for={ "aud-" (r.as_str()) } { (lang.role(r)) }
                    }
                }
            }
            div.field { label for="starts" { (tr(lang, "Начало (UTC)", "Start (UTC)")) }
                input #starts name="starts" type="datetime-local" required; }
            div.field { label for="ends" { (tr(lang, "Окончание (UTC)", "End (UTC)")) }
                input #ends name="ends" type="datetime-local" required; }
            button.primary type="submit" { (tr(lang, "Опубликовать", "Publish")) }
        }
    }
}

pub async fn list(State(state): State<AppState>, c: Console, Query(d): Query<Done>) -> Result<Response, HttpError> {
    let lang = c.lang;
    let all = state.app.console_announcements(&c.user).await.map_err(c.err())?;
    let csrf = c.csrf();
    let flash = d.done.as_ref().map(|_| Flash::Notice(tr(lang, "Сохранено.", "Saved.")));
    let body = html! {
        (form(&c))
        h2 { (tr(lang, "Действующие и будущие", "Current and upcoming")) }
        table {
            caption.visually-hidden { (tr(lang, "Объявления", "Announcements")) }
            thead { tr {
                th scope="col" { (tr(lang, "Вид", "Kind")) }
                th scope="col" { (tr(lang, "Текст", "Text")) }
                th scope="col" { (tr(lang, "Для кого", "Audience")) }
                th scope="col" { (tr(lang, "Период (UTC)", "Period (UTC)")) }
                th scope="col" { span.visually-hidden { (tr(lang, "Снять", "Withdraw")) } }
            } }
            tbody { @for a in &all { tr {
                td { (kind_label(lang, a.kind)) }
                td { (a.text_ru) }
                td { @if a.audience.is_empty() { (tr(lang, "все", "everyone")) } @else { (a.audience.join(", ")) } }
                td { (a.starts_at.to_human()) " — " (a.ends_at.to_human()) }
                td {
                    @if let Some(w) = a.withdrawn_at { (tr(lang, "снято ", "withdrawn ")) (w.to_human()) } @else {
                        form.inline method="post" action={ "/admin/notices/" (a.id) "/withdraw" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" aria-label={ (tr(lang, "Снять: ", "Withdraw: ")) (a.text_ru) } { (tr(lang, "Снять", "Withdraw")) }
                        }
                    }
                }
            } } }
        }
    };
    Ok(page(&c, tr(lang, "Объявления", "Announcements"), "/admin/notices", flash, body).into_response())
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`) as UTC.
pub fn parse_datetime(s: &str, field: &str) -> Result<Timestamp, AppError> {
    let s = s.trim();
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::Invalid(format!("{field}: YYYY-MM-DDTHH:MM")))?;
    Ok(Timestamp::from_millis(t.and_utc().timestamp_millis()))
}

pub async fn create(
    State(state): State<AppState>,
    c: Console,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let form = AnnouncementForm {
        kind: AnnouncementKind::parse(&get("kind")).ok_or_else(|| {
            HttpError::App(AppError::Invalid("kind: notice, maintenance or sign_in_notice".into()), c.lang)
        })?,
        text_ru: get("text_ru"),
        text_en: get("text_en"),
        audience: Role::ALL
            .into_iter()
            .filter(|r| f.contains_key(&format!("aud_{}", r.as_str())))
            .map(|r| r.as_str().to_owned())
            .collect(),
        starts_at: parse_datetime(&get("starts"), "starts").map_err(c.err())?,
        ends_at: parse_datetime(&get("ends"), "ends").map_err(c.err())?,
    };
    state.app.announce(&c.user, form).await.map_err(c.err())?;
    Ok(Redirect::to("/admin/notices?done=1").into_response())
}

pub async fn withdraw(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    state.app.withdraw_announcement(&c.user, &id).await.map_err(c.err())?;
    Ok(Redirect::to("/admin/notices?done=1").into_response())
}
