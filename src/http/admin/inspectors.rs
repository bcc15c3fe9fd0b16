//! Inspectors' accounts (D-11): one form creates a read-only account that ends after at
//! most 30 days; the scheduler blocks it when its time is up.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{Console, check_csrf, issued_page, page, tr};
use crate::app::console::InspectorForm;
use crate::domain::console::INSPECTOR_MAX_DAYS;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::extract::Form;

pub async fn list(State(state): State<AppState>, c: Console) -> Result<Response, HttpError> {
    let lang = c.lang;
    let all = state.app.inspectors(&c.user).await.map_err(c.err())?;
    let body = html! {
        p { (tr(lang,
            "Учётная запись проверяющего даёт только просмотр консоли (пользователи, журналы, отчёты) и закрывается автоматически.",
            "An inspector's account can only view the console (users, journals, reports) and closes by itself.")) }
        form.card method="post" action="/admin/inspectors" {
            input type="hidden" name="csrf" value=(c.csrf());
            div.field { label for="i-login" { (tr(lang, "Логин", "Login")) } input #i-login name="login" type="text" required maxlength="64" autocapitalize="none" spellcheck="false"; }
            div.field { label for="i-name" { (tr(lang, "ФИО", "Full name")) } input #i-name name="full_name" type="text" required maxlength="200"; }
            div.field { label for="i-email" { (tr(lang, "Эл. почта", "Email")) } input #i-email name="email" type="email" maxlength="200"; }
            div.field { label for="i-purpose" { (tr(lang, "Основание проверки", "Purpose of the inspection")) } input #i-purpose name="purpose" type="text" required maxlength="200"; }
            div.field { label for="i-days" { (tr(lang, "Срок, дней (не более 30)", "Days (at most 30)")) }
                input #i-days name="days" type="number" min="1" max=(INSPECTOR_MAX_DAYS) value="7" required; }
            button.primary type="submit" { (tr(lang, "Создать учётную запись проверяющего", "Create the inspector's account")) }
        }
        table {
            caption { (tr(lang, "Учётные записи проверяющих", "Inspectors' accounts")) }
            thead { tr {
                th scope="col" { (tr(lang, "Логин", "Login")) }
                th scope="col" { (tr(lang, "ФИО", "Full name")) }
                th scope="col" { (tr(lang, "Основание", "Purpose")) }
                th scope="col" { (tr(lang, "До (UTC)", "Until (UTC)")) }
                th scope="col" { (tr(lang, "Состояние", "Status")) }
            } }
            tbody { @for (r, a) in &all { tr {
                td { a href={ "/admin/users/" (a.login) } { (a.login) } }
                td { (a.full_name) }
                td { (r.purpose) }
                td { (r.expires_at.to_human()) }
                td { @if r.expired_at.is_some() { (tr(lang, "закрыта", "ended")) } @else { (lang.account_status(a.status)) } }
            } } }
        }
    };
    Ok(page(&c, tr(lang, "Проверяющие", "Inspectors"), "/admin/inspectors", None, body).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    c: Console,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let days = get("days")
        .trim()
        .parse::<u32>()
        .map_err(|_| HttpError::App(crate::app::AppError::Invalid(format!("days: 1–{INSPECTOR_MAX_DAYS}")), lang))?;
    let form = InspectorForm {
        login: get("login"),
        full_name: get("full_name"),
        email: Some(get("email")),
        purpose: get("purpose"),
        days,
    };
    let issued = state.app.create_inspector(&c.user, form).await.map_err(c.err())?;
    let title = tr(lang, "Учётная запись проверяющего создана", "The inspector's account is created");
    Ok(issued_page(&c, title, &[issued], &state.app.issuer).into_response())
}
