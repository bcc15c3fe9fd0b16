//! "I cannot sign in": the public form that files a request, and the console's
//! queue where an administrator takes it and closes it with an outcome.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{Console, check_csrf, page, tr};
use crate::app::console::RequestForm;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::extract::{ClientInfo, Form};
use crate::http::i18n::Lang;
use crate::http::pages::{self, Flash, Frame};
use crate::ports::console::RequestStatus;

pub const PUBLIC_PATH: &str = "/access-request";

fn form_markup(lang: Lang, csrf: &str, f: &RequestForm) -> maud::Markup {
    html! {
        p { (tr(lang,
            "Если вы забыли пароль, потеряли лист с учётными данными или не можете войти по другой причине, оставьте обращение. Администратор ЭИОС свяжется с вами по указанному контакту; пароль по почте или телефону не сообщается.",
            "If you forgot your password, lost your credential slip or cannot sign in for another reason, file a request. The administrator will contact you; a password is never sent by mail or told by phone.")) }
        form.card method="post" action=(PUBLIC_PATH) {
            input type="hidden" name="csrf" value=(csrf);
            div.field { label for="r-login" { (tr(lang, "Логин (если помните)", "Login (if you remember it)")) }
                input #r-login name="login" type="text" required maxlength="64" value=(f.login) autocapitalize="none" spellcheck="false"; }
            div.field { label for="r-name" { (tr(lang, "ФИО", "Full name")) }
                input #r-name name="full_name" type="text" required maxlength="200" value=(f.full_name) autocomplete="name"; }
            div.field { label for="r-contact" { (tr(lang, "Как с вами связаться (почта или телефон)", "How to reach you (email or phone)")) }
                input #r-contact name="contact" type="text" required maxlength="200" value=(f.contact); }
            div.field { label for="r-message" { (tr(lang, "Что случилось", "What happened")) }
                textarea #r-message name="message" maxlength="2000" rows="4" { (f.message) } }
            button.primary type="submit" { (tr(lang, "Отправить обращение", "Send the request")) }
        }
        p { a href="/sign-in" { (tr(lang, "Вернуться ко входу", "Back to sign-in")) } }
    }
}

fn public_frame(lang: Lang) -> Frame<'static> {
    Frame { lang, title: tr(lang, "Не могу войти", "I cannot sign in"), signed_in: None, here: PUBLIC_PATH }
}

pub async fn public_request_page(headers: HeaderMap, lang: Lang) -> Response {
    pages::with_pre_csrf(&headers, |csrf| {
        pages::layout(&public_frame(lang), None, form_markup(lang, csrf, &RequestForm::default()))
    })
}

#[derive(Deserialize)]
pub struct PublicForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: RequestForm,
}

pub async fn public_request_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    lang: Lang,
    client: ClientInfo,
    Form(f): Form<PublicForm>,
) -> Result<Response, HttpError> {
    let expected = crate::http::extract::cookie(&headers, crate::http::extract::PRE_CSRF_COOKIE).unwrap_or("");
    if !crate::http::csrf_ok(&f.csrf, expected) {
        return Err(HttpError::Csrf(lang));
    }
    if let Err(wait) = state.limits.report(client.ip) {
        return Err(HttpError::App(crate::app::AppError::TooManyAttempts(wait), lang));
    }
    match state.app.file_request(f.form.clone(), client.ip_string().as_deref()).await {
        Ok(_) => {
            let body = html! {
                p role="status" { (tr(lang,
                    "Обращение принято. Администратор ЭИОС свяжется с вами по указанному контакту.",
                    "Your request is filed. The administrator will contact you.")) }
                p { a href="/sign-in" { (tr(lang, "Вернуться ко входу", "Back to sign-in")) } }
            };
            Ok(pages::layout(&public_frame(lang), None, body).into_response())
        }
        Err(crate::app::AppError::Invalid(msg)) => {
            let resp = pages::with_pre_csrf(&headers, |csrf| {
                pages::layout(&public_frame(lang), Some(Flash::Error(&msg)), form_markup(lang, csrf, &f.form))
            });
            Ok((StatusCode::BAD_REQUEST, resp).into_response())
        }
        Err(e) => Err(HttpError::App(e, lang)),
    }
}

#[derive(Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    all: bool,
    done: Option<String>,
}

fn status_label(lang: Lang, s: RequestStatus) -> &'static str {
    match s {
        RequestStatus::New => tr(lang, "новое", "new"),
        RequestStatus::InProgress => tr(lang, "в работе", "in progress"),
        RequestStatus::Done => tr(lang, "выполнено", "done"),
        RequestStatus::Rejected => tr(lang, "отклонено", "rejected"),
    }
}

pub async fn queue(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<QueueQuery>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let list = state.app.requests(&c.user, q.all).await.map_err(c.err())?;
    let csrf = c.csrf();
    let flash = q.done.as_ref().map(|_| Flash::Notice(tr(lang, "Обращение обновлено.", "The request is updated.")));
    let body = html! {
        p {
            @if q.all { a href="/admin/requests" { (tr(lang, "Только открытые", "Open ones only")) } }
            @else { a href="/admin/requests?all=true" { (tr(lang, "Все обращения", "All requests")) } }
        }
        @if list.is_empty() { p { (tr(lang, "Обращений нет.", "No requests.")) } }
        @for r in &list {
            article.card aria-labelledby={ "req-" (r.id) } {
                h2 id={ "req-" (r.id) } { (r.full_name) " · " code { (r.login) } }
                dl {
                    dt { (tr(lang, "Поступило (UTC)", "Filed (UTC)")) } dd { (r.created_at.to_human()) }
                    dt { (tr(lang, "Контакт", "Contact")) } dd { (r.contact) }
                    dt { (tr(lang, "Сообщение", "Message")) } dd { (r.message) }
                    dt { (tr(lang, "Состояние", "Status")) } dd { (status_label(lang, r.status)) }
                    @if let Some(a) = &r.assignee { dt { (tr(lang, "Исполнитель", "Assignee")) } dd { (a) } }
                    @if let Some(o) = &r.outcome { dt { (tr(lang, "Результат", "Outcome")) } dd { (o) } }
                }
                @if r.status == RequestStatus::New {
                    form.inline method="post" action={ "/admin/requests/" (r.id) } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="to" value="in_progress";
                        button type="submit" { (tr(lang, "Взять в работу", "Take it")) }
                    }
                }
                @if r.status.is_open() {
                    form method="post" action={ "/admin/requests/" (r.id) } {
                        input type="hidden" name="csrf" value=(csrf);
                        div.field {
                            label for={ "out-" (r.id) } { (tr(lang, "Результат (что сделано)", "Outcome (what was done)")) }
                            input id={ "out-" (r.id) } name="outcome" type="text" required maxlength="2000";
                        }
                        button type="submit" name="to" value="done" { (tr(lang, "Выполнено", "Done")) }
                        " "
                        button type="submit" name="to" value="rejected" { (tr(lang, "Отклонить", "Reject")) }
                    }
                }
            }
        }
    };
    Ok(page(&c, tr(lang, "Обращения «не могу войти»", "\"I cannot sign in\" requests"), "/admin/requests", flash, body)
        .into_response())
}

pub async fn update(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    let to = f.get("to").and_then(|t| RequestStatus::parse(t)).ok_or_else(|| {
        HttpError::App(crate::app::AppError::Invalid("to: in_progress, done or rejected".into()), c.lang)
    })?;
    let outcome = f.get("outcome").map(String::as_str).unwrap_or("");
    state.app.move_request(&c.user, &id, to, outcome).await.map_err(c.err())?;
    Ok(Redirect::to("/admin/requests?done=1").into_response())
}
