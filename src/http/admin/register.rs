//! Registering a group from a file and the credential slips: upload, review
//! (a dry run), confirm, print. The slips are in the confirmation's answer only: the
//! passwords are stored nowhere, so the same slips cannot be printed twice. Slips are
//! then marked as handed over, each once.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, check_csrf, page, tr};
use crate::app::{AppError, ImportReport, IssuedCredential};
use crate::domain::console::Permission;
use crate::domain::lifecycle::RowAction;
use crate::domain::time::Timestamp;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::extract::{Form, urlencode};
use crate::http::i18n::Lang;
use crate::http::pages::Flash;
use crate::roster::{Format, Mapping};

pub const REGISTER_PATH: &str = "/admin/register";

fn invalid(lang: Lang, m: impl Into<String>) -> HttpError {
    HttpError::App(AppError::Invalid(m.into()), lang)
}

pub async fn form_page(c: Console) -> Result<Response, HttpError> {
    let lang = c.lang;
    if !c.user.may(Permission::BulkRegister) {
        return Err(HttpError::App(AppError::Forbidden, lang));
    }
    Ok(page(&c, tr(lang, "Регистрация группы", "Register a group"), REGISTER_PATH, None, upload_form(&c))
        .into_response())
}

fn upload_form(c: &Console) -> Markup {
    let lang = c.lang;
    html! {
        p { (tr(lang,
            "Загрузите список в формате выгрузки реестра (CSV из 1С, XLSX или JSON). Сначала propusk покажет, что будет сделано; учётные записи создаются только после подтверждения.",
            "Upload a list in the register's export format (CSV from 1C, XLSX or JSON). propusk first shows what would be done; accounts are created only when you confirm.")) }
        form.card method="post" action=(REGISTER_PATH) enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(c.csrf());
            input type="hidden" name="step" value="review";
            div.field {
                label for="file" { (tr(lang, "Файл списка", "List file")) }
                input #file name="file" type="file" required accept=".csv,.xlsx,.json,text/csv,application/json";
            }
            div.field {
                label for="format" { (tr(lang, "Формат", "Format")) }
                select #format name="format" {
                    option value="csv" { "CSV (1С)" }
                    option value="xlsx" { "XLSX" }
                    option value="json" { "JSON" }
                }
            }
            div.field {
                label for="group" { (tr(lang, "Учебная группа (для строк без группы)", "Study group (for rows without one)")) }
                input #group name="group" type="text" maxlength="64";
            }
            button.primary type="submit" { (tr(lang, "Проверить список", "Check the list")) }
        }
    }
}

/// What the upload form posts.
#[derive(Default)]
struct Upload {
    csrf: String,
    step: String,
    format: String,
    group: String,
    file_name: String,
    file: Vec<u8>,
}

async fn read_upload(mut m: Multipart, lang: Lang) -> Result<Upload, HttpError> {
    let mut u = Upload::default();
    let bad = || HttpError::BadRequest(axum::http::StatusCode::BAD_REQUEST, lang);
    while let Some(field) = m.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                u.file_name = field.file_name().unwrap_or("").chars().take(200).collect();
                u.file = field.bytes().await.map_err(|_| bad())?.to_vec();
            }
            "data" => {
                let text = field.text().await.map_err(|_| bad())?;
                u.file = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| {
                    invalid(lang, tr(lang, "Повреждённые данные формы.", "The form's data is damaged."))
                })?;
            }
            "csrf" | "step" | "format" | "group" | "file_name" => {
                let v = field.text().await.map_err(|_| bad())?;
                match name.as_str() {
                    "csrf" => u.csrf = v,
                    "step" => u.step = v,
                    "format" => u.format = v,
                    "group" => u.group = v,
                    _ => u.file_name = v.chars().take(200).collect(),
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(u)
}

pub async fn upload(State(state): State<AppState>, c: Console, m: Multipart) -> Result<Response, HttpError> {
    let lang = c.lang;
    let u = read_upload(m, lang).await?;
    check_csrf(&state, &c, &u.csrf).await?;
    if u.file.is_empty() {
        return Err(invalid(lang, tr(lang, "Файл пуст или не выбран.", "The file is empty or was not chosen.")));
    }
    let format: Format = u.format.parse().map_err(|_| invalid(lang, "format: csv, xlsx, json"))?;
    let mapping_file = state.app.lifecycle.roster_mapping_file.as_ref().filter(|_| !matches!(format, Format::Json));
    let mapping = match mapping_file {
        Some(path) => Mapping::load(path).map_err(|e| {
            tracing::error!(error = %e, "the roster mapping file cannot be loaded");
            HttpError::App(AppError::Unavailable("the roster mapping is not valid".into()), lang)
        })?,
        None => Mapping::default(),
    };
    let bytes = u.file.clone();
    let rows = tokio::task::spawn_blocking(move || crate::roster::read(&bytes, format, &mapping))
        .await
        .map_err(|_| HttpError::App(AppError::Internal("reading the file failed".into()), lang))?
        .map_err(|e| invalid(lang, format!("{}: {e}", tr(lang, "Файл не прочитан", "The file cannot be read"))))?;
    let confirm = u.step == "confirm";
    let group = Some(u.group.clone()).filter(|g| !g.trim().is_empty());
    let source = if u.file_name.is_empty() { "console upload".to_owned() } else { u.file_name.clone() };
    let report = state.app.bulk_register(&c.user, rows, group, !confirm, &source).await.map_err(c.err())?;
    if confirm && report.applied {
        let title = tr(lang, "Листы с учётными данными", "Credential slips");
        let batch_link = report.issued.first().map(|i| i.issue.issued_at);
        let mut markup = slips_markup(lang, &report.issued, &state.app.issuer);
        if let Some(at) = batch_link {
            markup = html! {
                (markup)
                p.noprint { a href={ "/admin/slips/" (at.as_millis()) "?by=" (urlencode(&c.user.actor.name)) } {
                    (tr(lang, "Отметить выдачу листов", "Mark the slips as handed over")) } }
            };
        }
        let summary = format!("{} {}", tr(lang, "Создано учётных записей:", "Accounts created:"), report.issued.len());
        return Ok(page(&c, title, "/admin/slips", Some(Flash::Notice(&summary)), markup).into_response());
    }
    Ok(review(&c, &u, &report).into_response())
}

fn action_label(lang: Lang, a: &RowAction) -> &'static str {
    match a {
        RowAction::Create { .. } => tr(lang, "создать", "create"),
        RowAction::AlreadyErased => tr(lang, "уже удалён", "already erased"),
        _ => tr(lang, "изменить", "change"),
    }
}

fn review(c: &Console, u: &Upload, report: &ImportReport) -> Markup {
    let lang = c.lang;
    let data = base64::engine::general_purpose::STANDARD.encode(&u.file);
    let creates = report.changes.iter().filter(|p| matches!(p.action, RowAction::Create { .. })).count();
    let has_errors = !report.errors.is_empty();
    let flash = if has_errors {
        Some(Flash::Error(tr(
            lang,
            "В списке есть ошибки: исправьте файл и загрузите снова. Пока они есть, ничего не будет создано.",
            "The list has errors: correct the file and upload it again. Nothing is created while they remain.",
        )))
    } else {
        None
    };
    let body = html! {
        p { (tr(lang, "Строк в файле: ", "Rows in the file: ")) (report.rows)
            "; " (tr(lang, "новых людей: ", "new people: ")) (creates)
            "; " (tr(lang, "изменений: ", "changes: ")) (report.changes.len() - creates)
            "; " (tr(lang, "без изменений: ", "unchanged: ")) (report.unchanged) }
        @if has_errors {
            section aria-labelledby="h-errors" {
                h2 #h-errors { (tr(lang, "Ошибки", "Errors")) }
                table {
                    caption.visually-hidden { (tr(lang, "Ошибки в строках", "Row errors")) }
                    thead { tr { th scope="col" { (tr(lang, "Строка", "Line")) } th scope="col" { (tr(lang, "Поле", "Field")) } th scope="col" { (tr(lang, "Проблема", "Problem")) } } }
                    tbody { @for e in &report.errors { tr { td { (e.line) } td { (e.field.unwrap_or("—")) } td { (e.problem) } } } }
                }
            }
        }
        section aria-labelledby="h-plan" {
            h2 #h-plan { (tr(lang, "Что будет сделано", "What will be done")) }
            table {
                caption.visually-hidden { (tr(lang, "Планируемые изменения", "Planned changes")) }
                thead { tr {
                    th scope="col" { (tr(lang, "Строка", "Line")) }
                    th scope="col" { (tr(lang, "Номер в реестре", "Register number")) }
                    th scope="col" { (tr(lang, "Логин", "Login")) }
                    th scope="col" { (tr(lang, "Действие", "Action")) }
                } }
                tbody { @for p in &report.changes { tr {
                    td { (p.line) }
                    td { (p.external_id) }
                    td { (p.login.as_deref().unwrap_or("—")) }
                    td { (action_label(lang, &p.action)) }
                } } }
            }
        }
        @if !has_errors && !report.changes.is_empty() {
            form.card method="post" action=(REGISTER_PATH) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(c.csrf());
                input type="hidden" name="step" value="confirm";
                input type="hidden" name="format" value=(u.format);
                input type="hidden" name="group" value=(u.group);
                input type="hidden" name="file_name" value=(u.file_name);
                input type="hidden" name="data" value=(data);
                button.primary type="submit" { (tr(lang, "Подтвердить и создать учётные записи", "Confirm and create the accounts")) }
            }
        }
        p { a href=(REGISTER_PATH) { (tr(lang, "Загрузить другой файл", "Upload another file")) } }
    };
    page(c, tr(lang, "Проверка списка", "Review the list"), REGISTER_PATH, flash, body)
}

/// Printable credential slips, one per person: login, initial password, lock code,
/// where to sign in, an extract of the rules and when the password expires (D-2).
pub fn slips_markup(lang: Lang, slips: &[IssuedCredential], base: &str) -> Markup {
    html! {
        div.slips {
            @for s in slips {
                article.slip aria-label={ (tr(lang, "Лист с учётными данными: ", "Credential slip: ")) (s.account.full_name) } {
                    h2 { (s.account.full_name) }
                    @if let Some(g) = &s.account.study_group { p { (tr(lang, "Группа: ", "Group: ")) (g) } }
                    dl {
                        dt { (tr(lang, "Адрес входа", "Sign-in address")) } dd { code { (base) "/sign-in" } }
                        dt { (tr(lang, "Логин", "Login")) } dd { code.secret { (s.account.login) } }
                        dt { (tr(lang, "Временный пароль", "Temporary password")) } dd { code.secret { (s.password.expose()) } }
                        dt { (tr(lang, "Код блокировки", "Lock code")) } dd { code.secret { (s.lock_code) } }
                        dt { (tr(lang, "Пароль действует до (UTC)", "The password works until (UTC)")) } dd { (s.issue.expires_at.to_human()) }
                    }
                    p.rules { (tr(lang,
                        "При первом входе смените пароль и примите правила ЭИОС. Никому не сообщайте пароль. Если пароль мог узнать кто-то другой, заблокируйте учётную запись кодом блокировки на странице «Моя учётная запись скомпрометирована» и обратитесь к администратору.",
                        "At first sign-in, change the password and accept the rules of the environment. Never tell anyone your password. If someone else may know it, lock the account with the lock code on the \"My account is compromised\" page and contact the administrator.")) }
                    p.hint { (tr(lang, "Выдано (UTC): ", "Issued (UTC): ")) (s.issue.issued_at.to_human()) ", " (s.issue.issued_by) }
                }
            }
        }
    }
}

pub async fn batches(State(state): State<AppState>, c: Console) -> Result<Response, HttpError> {
    let lang = c.lang;
    let list = state.app.slip_batches(&c.user).await.map_err(c.err())?;
    let body = html! {
        p { (tr(lang,
            "Каждая выдача — запись в журнале. Отметьте лист как выданный, когда передали его владельцу; первый вход владельца отмечает получение.",
            "Each issue is a journal entry. Mark a slip as handed over when you give it to its owner; the owner's first sign-in marks it received.")) }
        table {
            caption.visually-hidden { (tr(lang, "Выдачи листов", "Slip batches")) }
            thead { tr {
                th scope="col" { (tr(lang, "Выдано (UTC)", "Issued (UTC)")) }
                th scope="col" { (tr(lang, "Кем", "By")) }
                th scope="col" { (tr(lang, "Листов", "Slips")) }
                th scope="col" { (tr(lang, "Передано", "Handed over")) }
                th scope="col" { (tr(lang, "Получено", "Received")) }
            } }
            tbody { @for b in &list { tr {
                td { a href={ "/admin/slips/" (b.issued_at.as_millis()) "?by=" (urlencode(&b.issued_by)) } { (b.issued_at.to_human()) } }
                td { (b.issued_by) }
                td { (b.count) }
                td { (b.handed_over) }
                td { (b.received) }
            } } }
        }
    };
    Ok(page(&c, tr(lang, "Листы с учётными данными", "Credential slips"), "/admin/slips", None, body).into_response())
}

#[derive(Deserialize)]
pub struct By {
    #[serde(default)]
    by: String,
    done: Option<String>,
}

pub async fn batch(
    State(state): State<AppState>,
    c: Console,
    Path(at): Path<i64>,
    Query(q): Query<By>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let list = state.app.slip_batch(&c.user, &q.by, Timestamp::from_millis(at)).await.map_err(c.err())?;
    let flash =
        q.done.as_ref().map(|_| Flash::Notice(tr(lang, "Отметки записаны в журнал.", "The marks are recorded.")));
    let body = html! {
        form method="post" action={ "/admin/slips/" (at) "/handed-over" } {
            input type="hidden" name="csrf" value=(c.csrf());
            input type="hidden" name="by" value=(q.by);
            table {
                caption.visually-hidden { (tr(lang, "Листы выдачи", "Slips of the batch")) }
                thead { tr {
                    th scope="col" { (tr(lang, "Передан", "Handed over")) }
                    th scope="col" { "№" }
                    th scope="col" { (tr(lang, "ФИО", "Full name")) }
                    th scope="col" { (tr(lang, "Логин", "Login")) }
                    th scope="col" { (tr(lang, "Группа", "Group")) }
                    th scope="col" { (tr(lang, "Получен (первый вход)", "Received (first sign-in)")) }
                } }
                tbody { @for s in &list { tr {
                    td {
                        @match s.handed_over_at {
                            Some(t) => { (t.to_human()) " · " (s.handed_over_by.as_deref().unwrap_or("")) }
                            None => {
                                input type="checkbox" id={ "seq-" (s.entry.seq) } name={ "seq_" (s.entry.seq) } value="on";
                                label.visually-hidden for={ "seq-" (s.entry.seq) } { (tr(lang, "Передан: ", "Handed over: ")) (s.full_name) }
                            }
                        }
                    }
                    td { (s.entry.seq) }
                    td { (s.full_name) }
                    td { (s.entry.issue.subject_login) }
                    td { (s.study_group.as_deref().unwrap_or("—")) }
                    td { (s.entry.received_at.map(|r| r.to_human()).unwrap_or_else(|| "—".into())) }
                } } }
            }
            button.primary type="submit" { (tr(lang, "Отметить выбранные как переданные", "Mark the chosen ones as handed over")) }
        }
    };
    Ok(page(&c, tr(lang, "Выдача листов", "Slips of one batch"), "/admin/slips", flash, body).into_response())
}

pub async fn hand_over(
    State(state): State<AppState>,
    c: Console,
    Path(at): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    let by = f.get("by").cloned().unwrap_or_default();
    let batch = state.app.slip_batch(&c.user, &by, Timestamp::from_millis(at)).await.map_err(c.err())?;
    let chosen: Vec<i64> = f.keys().filter_map(|k| k.strip_prefix("seq_")).filter_map(|s| s.parse().ok()).collect();
    if chosen.iter().any(|s| !batch.iter().any(|b| b.entry.seq == *s)) {
        return Err(invalid(c.lang, tr(c.lang, "Лист не из этой выдачи.", "A slip is not of this batch.")));
    }
    state.app.mark_handed_over(&c.user, &chosen).await.map_err(c.err())?;
    Ok(Redirect::to(&format!("/admin/slips/{at}?by={}&done=1", urlencode(&by))).into_response())
}
