//! The environment's reports with charts drawn on the server as accessible SVG,
//! each with its data table, and the list of people entitled to each library system
//! exportable as CSV.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::{Console, tr};
use crate::domain::account::AccountStatus;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::i18n::Lang;
use crate::ports::console::DayCount;

#[derive(Deserialize)]
pub struct ReportQuery {
    #[serde(default = "thirty")]
    days: u32,
}

fn thirty() -> u32 {
    30
}

fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// A horizontal bar chart: one bar per row, its value written beside it, so that
/// nothing depends on colour; the SVG has a title and a description for screen
/// readers, and the same numbers are in the table next to it.
fn bar_chart(id: &str, title: &str, rows: &[(String, i64)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let row_h = 22;
    let label_w = 170;
    let bar_w = 300;
    let height = (rows.len().max(1) * row_h + 10) as i64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" aria-labelledby=\"{id}-t\" \
         viewBox=\"0 0 {} {height}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\"><title id=\"{id}-t\">{}</title>",
        label_w + bar_w + 80,
        maud::html! { (title) }.into_string()
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = i * row_h + 5;
        let w = (*v as f64 / max as f64 * bar_w as f64).round() as i64;
        let label = maud::html! { (label) }.into_string();
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"chart-label\">{label}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"{}\" class=\"chart-bar\"></rect>\
             <text x=\"{}\" y=\"{}\" class=\"chart-value\">{v}</text>",
            y + 15,
            row_h - 6,
            label_w + w + 6,
            y + 15
        ));
    }
    svg.push_str("</svg>");
    html! { figure.chart aria-labelledby={ (id) "-c" } { figcaption id={ (id) "-c" } { (title) } (PreEscaped(svg)) } }
}

/// Day counts as (day → key → count), every day of the period present.
fn by_day(rows: &[DayCount], since_day: i64, today: i64) -> BTreeMap<i64, BTreeMap<String, i64>> {
    let mut m: BTreeMap<i64, BTreeMap<String, i64>> = (since_day..=today).map(|d| (d, BTreeMap::new())).collect();
    for r in rows {
        *m.entry(r.day).or_default().entry(r.key.clone()).or_default() += r.count;
    }
    m
}

fn day_table(lang: Lang, caption: &str, data: &BTreeMap<i64, BTreeMap<String, i64>>) -> Markup {
    let keys: Vec<String> = {
        let mut k: Vec<String> = data.values().flat_map(|m| m.keys().cloned()).collect();
        k.sort();
        k.dedup();
        k
    };
    html! {
        table {
            caption { (caption) }
            thead { tr {
                th scope="col" { (tr(lang, "День (UTC)", "Day (UTC)")) }
                @for k in &keys { th scope="col" { (k) } }
                th scope="col" { (tr(lang, "Всего", "Total")) }
            } }
            tbody { @for (day, m) in data { tr {
                th scope="row" { (day_label(*day)) }
                @for k in &keys { td { (m.get(k).copied().unwrap_or(0)) } }
                td { (m.values().sum::<i64>()) }
            } } }
        }
    }
}

pub async fn page_handler(state: &AppState, c: &Console, days: u32) -> Result<Markup, HttpError> {
    let lang = c.lang;
    let r = state.app.reports(&c.user, days).await.map_err(c.err())?;
    let since_day = r.since.as_millis() / 86_400_000;
    let today = state.app.clock.now().as_millis() / 86_400_000;
    let sign_ins = by_day(&r.sign_ins, since_day, today);
    let resources = by_day(&r.resource_sign_ins, since_day, today);
    let security = by_day(&r.security, since_day, today);
    let role_rows: Vec<(String, i64)> =
        r.by_role.iter().map(|row| (lang.role(row.role).to_owned(), row.total)).collect();
    let sign_in_rows: Vec<(String, i64)> = sign_ins.iter().map(|(d, m)| (day_label(*d), m.values().sum())).collect();
    Ok(html! {
        form.filters method="get" action="/admin/reports" {
            div.field {
                label for="days" { (tr(lang, "Период, дней", "Period, days")) }
                input #days name="days" type="number" min="1" max="366" value=(days.clamp(1, 366));
            }
            button type="submit" { (tr(lang, "Показать", "Show")) }
        }
        section aria-labelledby="h-accounts" {
            h2 #h-accounts { (tr(lang, "Учётные записи по ролям и состояниям", "Accounts by role and status")) }
            p { (tr(lang, "Всего учётных записей: ", "Accounts in all: ")) strong { (r.total_accounts) } }
            (bar_chart("chart-roles", tr(lang, "Учётные записи по ролям", "Accounts by role"), &role_rows))
            table {
                caption { (tr(lang, "Учётные записи по ролям и состояниям", "Accounts by role and status")) }
                thead { tr {
                    th scope="col" { (tr(lang, "Роль", "Role")) }
                    @for s in AccountStatus::ALL { th scope="col" { (lang.account_status(s)) } }
                    th scope="col" { (tr(lang, "Всего", "Total")) }
                } }
                tbody { @for row in &r.by_role { tr {
                    th scope="row" { (lang.role(row.role)) }
                    @for v in &row.by_status { td { (v) } }
                    td { (row.total) }
                } } }
            }
        }
        section aria-labelledby="h-signins" {
            h2 #h-signins { (tr(lang, "Входы по дням", "Sign-ins per day")) }
            (bar_chart("chart-signins", tr(lang, "Попытки входа по дням", "Sign-in attempts per day"), &sign_in_rows))
            (day_table(lang, tr(lang, "Попытки входа по дням и результату", "Sign-in attempts per day and outcome"), &sign_ins))
        }
        section aria-labelledby="h-resources" {
            h2 #h-resources { (tr(lang, "Входы в ресурсы по дням", "Sign-ins to resources per day")) }
            (day_table(lang, tr(lang, "Входы через OpenID Connect по клиентам", "OpenID Connect sign-ins by client"), &resources))
        }
        section aria-labelledby="h-security" {
            h2 #h-security { (tr(lang, "Блокировки и сообщения о компрометации", "Lockouts and compromise reports")) }
            (day_table(lang, tr(lang, "События безопасности по дням", "Security events per day"), &security))
        }
        section aria-labelledby="h-deprov" {
            h2 #h-deprov { (tr(lang, "Прекращение доступа: сроки", "Deprovisioning deadlines")) }
            table {
                caption { (tr(lang, "Случаи прекращения доступа", "Deprovisioning cases")) }
                tbody {
                    tr { th scope="row" { (tr(lang, "Открыто", "Open")) } td { (r.deprovisioning.open) } }
                    tr { th scope="row" { (tr(lang, "Закрыто в срок", "Closed in time")) } td { (r.deprovisioning.closed_in_time) } }
                    tr { th scope="row" { (tr(lang, "Нарушения сроков", "Deadline violations")) } td { (r.deprovisioning.violations) } }
                }
            }
        }
    })
}

pub async fn show(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<ReportQuery>,
) -> Result<Response, HttpError> {
    let body = page_handler(&state, &c, q.days).await?;
    Ok(super::page(&c, tr(c.lang, "Отчёты", "Reports"), "/admin/reports", None, body).into_response())
}

#[derive(Deserialize)]
pub struct LibraryQuery {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    format: String,
}

/// A CSV cell: quoted per RFC 4180, and a leading `= + - @` (or tab, CR) neutralised
/// with an apostrophe so that a spreadsheet does not run it as a formula.
pub fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_owned() };
    format!("\"{}\"", v.replace('"', "\"\""))
}

pub async fn library(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<LibraryQuery>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let systems = state.app.library_systems();
    let chosen = if q.resource.is_empty() {
        systems.first().map(|r| r.id.as_str().to_owned()).unwrap_or_default()
    } else {
        q.resource.clone()
    };
    let list = state.app.library_list(&c.user, &chosen).await.map_err(c.err())?;
    if q.format == "csv" {
        let mut out = String::from("\"login\",\"full_name\",\"roles\",\"study_group\",\"department\",\"email\"\r\n");
        for e in &list {
            let cells = [
                e.login.as_str(),
                e.full_name.as_str(),
                &e.roles.to_csv(),
                e.study_group.as_deref().unwrap_or(""),
                e.department.as_deref().unwrap_or(""),
                e.email.as_deref().unwrap_or(""),
            ];
            out.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        let name = format!("attachment; filename=\"{chosen}-entitled.csv\"");
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)],
            out,
        )
            .into_response());
    }
    let shown = 500;
    let body = html! {
        form.filters method="get" action="/admin/library" {
            div.field {
                label for="resource" { (tr(lang, "Электронная библиотечная система", "Library system")) }
                select #resource name="resource" {
                    @for r in &systems { option value=(r.id.as_str()) selected[r.id.as_str() == chosen] { (crate::http::pages::resource_title(lang, r)) } }
                }
            }
            button type="submit" { (tr(lang, "Показать", "Show")) }
        }
        p { (tr(lang, "Имеют доступ: ", "Entitled: ")) strong { (list.len()) } ". "
            a href={ "/admin/library?format=csv&resource=" (chosen) } download { (tr(lang, "Выгрузить CSV", "Export CSV")) } }
        @if list.len() > shown { p.hint { (tr(lang, "Показаны первые 500; полный список — в CSV.", "The first 500 are shown; the CSV has everyone.")) } }
        table {
            caption.visually-hidden { (tr(lang, "Имеющие доступ", "Entitled people")) }
            thead { tr {
                th scope="col" { (tr(lang, "Логин", "Login")) }
                th scope="col" { (tr(lang, "ФИО", "Full name")) }
                th scope="col" { (tr(lang, "Роли", "Roles")) }
                th scope="col" { (tr(lang, "Группа", "Group")) }
                th scope="col" { (tr(lang, "Подразделение", "Department")) }
            } }
            tbody { @for e in list.iter().take(shown) { tr {
                td { (e.login) }
                td { (e.full_name) }
                td { (e.roles.iter().map(|r| lang.role(r)).collect::<Vec<_>>().join(", ")) }
                td { (e.study_group.as_deref().unwrap_or("—")) }
                td { (e.department.as_deref().unwrap_or("—")) }
            } } }
        }
    };
    Ok(super::page(
        &c,
        tr(lang, "Доступ к электронным библиотечным системам", "Access to library systems"),
        "/admin/library",
        None,
        body,
    )
    .into_response())
}
