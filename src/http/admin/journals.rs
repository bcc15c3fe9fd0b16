//! The credential journal and the audit log in the console: a period with
//! filters, page by page; the chains' check, naming where one breaks; exports as CSV or
//! JSON. The listing is also the printable page for a period (print style sheet).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::{Console, page, tr};
use crate::app::AppError;
use crate::app::audit::ExportFormat;
use crate::domain::chain::ChainLog;
use crate::domain::time::Timestamp;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::extract::urlencode;
use crate::http::pages::Flash;
use crate::ports::audit::{AuditQuery, JournalQuery};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct JournalParams {
    log: String,
    from: String,
    to: String,
    actor: String,
    subject: String,
    action: String,
    after: Option<i64>,
    format: String,
}

fn day(s: &str, field: &str, end: bool) -> Result<Option<Timestamp>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| AppError::Invalid(format!("{field}: YYYY-MM-DD")))?;
    let d = if end { d.succ_opt().unwrap_or(d) } else { d };
    Ok(Some(Timestamp::from_millis(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0))))
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty() && s.chars().count() <= 100)
}

pub async fn show(
    State(state): State<AppState>,
    c: Console,
    Query(p): Query<JournalParams>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let log = if p.log == "journal" { ChainLog::Journal } else { ChainLog::Audit };
    let from = day(&p.from, "from", false).map_err(c.err())?;
    let to = day(&p.to, "to", true).map_err(c.err())?;
    let query_string = format!(
        "log={}&from={}&to={}&actor={}&subject={}&action={}",
        log.as_str(),
        urlencode(&p.from),
        urlencode(&p.to),
        urlencode(&p.actor),
        urlencode(&p.subject),
        urlencode(&p.action)
    );
    let filters = html! {
        form.filters.noprint method="get" action="/admin/journal" {
            div.field {
                label for="log" { (tr(lang, "Журнал", "Log")) }
                select #log name="log" {
                    option value="audit" selected[log == ChainLog::Audit] { (tr(lang, "журнал событий", "audit log")) }
                    option value="journal" selected[log == ChainLog::Journal] { (tr(lang, "журнал выдачи учётных данных", "credential journal")) }
                }
            }
            div.field { label for="from" { (tr(lang, "С (дата)", "From (date)")) } input #from name="from" type="date" value=(p.from); }
            div.field { label for="to" { (tr(lang, "По (дата)", "To (date)")) } input #to name="to" type="date" value=(p.to); }
            div.field { label for="actor" { (tr(lang, "Кто (логин)", "Actor (login)")) } input #actor name="actor" type="text" maxlength="100" value=(p.actor); }
            div.field { label for="subject" { (tr(lang, "О ком (логин)", "Subject (login)")) } input #subject name="subject" type="text" maxlength="100" value=(p.subject); }
            @if log == ChainLog::Audit {
                div.field { label for="action" { (tr(lang, "Действие (начало)", "Action (prefix)")) } input #action name="action" type="text" maxlength="100" value=(p.action); }
            }
            button type="submit" { (tr(lang, "Показать", "Show")) }
        }
        p.noprint {
            a href="/admin/journal/verify" { (tr(lang, "Проверить целостность журналов", "Check the journals' integrity")) }
            " · "
            @if from.is_some() && to.is_some() {
                a href={ "/admin/journal?" (query_string) "&format=csv" } download { (tr(lang, "Выгрузить CSV за период", "Export CSV for the period")) }
                " · "
                a href={ "/admin/journal?" (query_string) "&format=json" } download { (tr(lang, "Выгрузить JSON за период", "Export JSON for the period")) }
            } @else {
                (tr(lang, "Для выгрузки укажите период.", "Choose a period to export."))
            }
        }
    };
    if p.format == "csv" || p.format == "json" {
        let (Some(from), Some(to)) = (from, to) else {
            return Err(HttpError::App(
                AppError::Invalid(tr(lang, "Укажите период: с и по.", "Give the period: from and to.").into()),
                lang,
            ));
        };
        let format = if p.format == "csv" { ExportFormat::Csv } else { ExportFormat::Json };
        let bytes = state.app.console_export(&c.user, log, from, to, format).await.map_err(c.err())?;
        let (ctype, ext) =
            if p.format == "csv" { ("text/csv; charset=utf-8", "csv") } else { ("application/json", "json") };
        let name = format!("attachment; filename=\"propusk-{}-{}-{}.{ext}\"", log.as_str(), p.from.trim(), p.to.trim());
        return Ok(
            ([(header::CONTENT_TYPE, ctype.to_owned()), (header::CONTENT_DISPOSITION, name)], bytes).into_response()
        );
    }
    let body = match log {
        ChainLog::Audit => {
            let q = AuditQuery {
                from,
                to,
                actor: opt(&p.actor),
                subject: opt(&p.subject),
                action: opt(&p.action),
                outcome: None,
                after_seq: p.after,
                newest_first: true,
                limit: 100,
            };
            let page = state.app.console_audit(&c.user, &q).await.map_err(c.err())?;
            html! {
                (filters)
                table {
                    caption { (tr(lang, "Журнал событий", "Audit log")) }
                    thead { tr {
                        th scope="col" { "№" }
                        th scope="col" { (tr(lang, "Время (UTC)", "Time (UTC)")) }
                        th scope="col" { (tr(lang, "Кто", "Actor")) }
                        th scope="col" { (tr(lang, "Действие", "Action")) }
                        th scope="col" { (tr(lang, "О ком", "Subject")) }
                        th scope="col" { (tr(lang, "Адрес", "Address")) }
                        th scope="col" { (tr(lang, "Результат", "Outcome")) }
                        th scope="col" { (tr(lang, "Подробности", "Detail")) }
                    } }
                    tbody { @for e in &page.entries { tr {
                        td { (e.seq) } td { (e.at.to_human()) } td { (e.actor) } td { code { (e.action) } }
                        td { (e.subject.as_deref().unwrap_or("—")) } td { (e.ip.as_deref().unwrap_or("—")) }
                        td { (e.outcome) } td { (e.detail) }
                    } } }
                }
                @if let Some(next) = page.next {
                    p.noprint { a href={ "/admin/journal?" (query_string) "&after=" (next) } rel="next" { (tr(lang, "Дальше →", "More →")) } }
                }
            }
        }
        ChainLog::Journal => {
            let q = JournalQuery {
                from,
                to,
                issued_by: opt(&p.actor),
                subject_login: opt(&p.subject),
                kind: None,
                channel: None,
                after_seq: p.after,
                newest_first: true,
                limit: 100,
            };
            let page = state.app.console_journal(&c.user, &q).await.map_err(c.err())?;
            html! {
                (filters)
                table {
                    caption { (tr(lang, "Журнал выдачи учётных данных", "Credential journal")) }
                    thead { tr {
                        th scope="col" { "№" }
                        th scope="col" { (tr(lang, "Выдано (UTC)", "Issued (UTC)")) }
                        th scope="col" { (tr(lang, "Кому", "To")) }
                        th scope="col" { (tr(lang, "Кем", "By")) }
                        th scope="col" { (tr(lang, "Вид", "Kind")) }
                        th scope="col" { (tr(lang, "Способ", "Channel")) }
                        th scope="col" { (tr(lang, "Действует до", "Expires")) }
                        th scope="col" { (tr(lang, "Получено", "Received")) }
                    } }
                    tbody { @for e in &page.entries { tr {
                        td { (e.seq) } td { (e.issued_at.to_human()) } td { (e.subject_login) } td { (e.issued_by) }
                        td { (e.kind) } td { (e.channel) } td { (e.expires_at.to_human()) }
                        td { (e.received_at.map(|r| r.to_human()).unwrap_or_else(|| "—".into())) }
                    } } }
                }
                @if let Some(next) = page.next {
                    p.noprint { a href={ "/admin/journal?" (query_string) "&after=" (next) } rel="next" { (tr(lang, "Дальше →", "More →")) } }
                }
            }
        }
    };
    Ok(page(&c, tr(lang, "Журналы", "Journals"), "/admin/journal", None, body).into_response())
}

pub async fn verify(State(state): State<AppState>, c: Console) -> Result<Response, HttpError> {
    let lang = c.lang;
    let reports = state.app.console_verify(&c.user).await.map_err(c.err())?;
    let intact = reports.iter().all(|r| r.intact);
    let flash = if intact {
        Flash::Notice(tr(
            lang,
            "Оба журнала целы: ни одна запись не изменена, не удалена и не переставлена.",
            "Both journals are intact: no entry was changed, removed or reordered.",
        ))
    } else {
        Flash::Error(tr(
            lang,
            "Целостность журнала нарушена. Сообщите уполномоченному по безопасности.",
            "A journal's integrity is broken. Tell the security officer.",
        ))
    };
    let body = html! {
        table {
            caption { (tr(lang, "Проверка цепочек", "Chain check")) }
            thead { tr {
                th scope="col" { (tr(lang, "Журнал", "Log")) }
                th scope="col" { (tr(lang, "Проверено записей", "Entries checked")) }
                th scope="col" { (tr(lang, "Итог", "Result")) }
                th scope="col" { (tr(lang, "Где нарушение", "Where it breaks")) }
                th scope="col" { (tr(lang, "Последний хеш", "Last hash")) }
            } }
            tbody { @for r in &reports { tr {
                th scope="row" { (match r.log { ChainLog::Audit => tr(lang, "журнал событий", "audit log"), ChainLog::Journal => tr(lang, "журнал выдачи", "credential journal") }) }
                td { (r.entries_checked) }
                td { @if r.intact { (tr(lang, "цел", "intact")) } @else { strong { (tr(lang, "НАРУШЕН", "BROKEN")) } } }
                td { @if let Some(b) = &r.first_break { "№ " (b.seq) ": " (b.kind.as_str()) " — " (b.what) } @else { "—" } }
                td { code { (r.head.last_hash) } }
            } } }
        }
        p { a href="/admin/journal" { (tr(lang, "К журналам", "Back to the journals")) } }
    };
    Ok(page(&c, tr(lang, "Целостность журналов", "Journals' integrity"), "/admin/journal", Some(flash), body)
        .into_response())
}
