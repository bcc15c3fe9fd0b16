//! People in the console: search and filter, one person's page, and the actions on it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{Console, check_csrf, issued_page, page, tr};
use crate::domain::account::{AccountStatus, NewAccount, Role, Roles};
use crate::domain::console::Permission;
use crate::domain::time::Timestamp;
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::extract::{Form, urlencode};
use crate::http::i18n::Lang;
use crate::http::pages::Flash;
use crate::ports::AccountFilter;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    page: u32,
}

/// The console's filter from a query; an unknown role or status is a clear error.
pub fn filter_of(q: &ListQuery, lang: Lang) -> Result<AccountFilter, HttpError> {
    let bad = |m: String| HttpError::App(crate::app::AppError::Invalid(m), lang);
    let role = match q.role.trim() {
        "" => None,
        r => Some(r.parse::<Role>().map_err(|e| bad(e.to_string()))?),
    };
    let status = match q.status.trim() {
        "" => None,
        s => Some(s.parse::<AccountStatus>().map_err(|e| bad(e.to_string()))?),
    };
    let text = Some(q.q.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 100) {
        return Err(bad("q: at most 100 characters".into()));
    }
    let group = Some(q.group.trim().to_owned()).filter(|g| !g.is_empty());
    Ok(AccountFilter {
        role,
        status,
        study_group: group,
        text,
        limit: crate::app::console::PAGE,
        offset: q.page.min(100_000).saturating_mul(crate::app::console::PAGE),
    })
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let filter = filter_of(&q, lang)?;
    let found = state.app.console_users(&c.user, filter).await.map_err(c.err())?;
    let pages_total = (found.total as u32).div_ceil(found.limit.max(1)).max(1);
    let link = |p: u32| {
        format!(
            "/admin/users?q={}&role={}&status={}&group={}&page={p}",
            urlencode(&q.q),
            urlencode(&q.role),
            urlencode(&q.status),
            urlencode(&q.group)
        )
    };
    let body = html! {
        form.filters method="get" action="/admin/users" role="search" {
            div.field {
                label for="q" { (tr(lang, "Логин или ФИО", "Login or name")) }
                input #q name="q" type="search" value=(q.q) maxlength="100";
            }
            div.field {
                label for="role" { (tr(lang, "Роль", "Role")) }
                select #role name="role" {
                    option value="" { (tr(lang, "любая", "any")) }
                    @for r in Role::ALL { option value=(r.as_str()) selected[q.role == r.as_str()] { (lang.role(r)) } }
                }
            }
            div.field {
                label for="status" { (tr(lang, "Состояние", "Status")) }
                select #status name="status" {
                    option value="" { (tr(lang, "любое", "any")) }
                    @for s in AccountStatus::ALL { option value=(s.as_str()) selected[q.status == s.as_str()] { (lang.account_status(s)) } }
                }
            }
            div.field {
                label for="group" { (tr(lang, "Группа", "Group")) }
                input #group name="group" type="text" value=(q.group) maxlength="64";
            }
            button type="submit" { (tr(lang, "Найти", "Search")) }
        }
        @if c.user.may(Permission::ManageUsers) {
            p { a href="/admin/users/new" { (tr(lang, "Зарегистрировать пользователя", "Register a person")) } }
        }
        p role="status" { (tr(lang, "Найдено: ", "Found: ")) (found.total) }
        table {
            caption.visually-hidden { (tr(lang, "Пользователи", "Users")) }
            thead { tr {
                th scope="col" { (tr(lang, "Логин", "Login")) }
                th scope="col" { (tr(lang, "ФИО", "Full name")) }
                th scope="col" { (tr(lang, "Роли", "Roles")) }
                th scope="col" { (tr(lang, "Группа", "Group")) }
                th scope="col" { (tr(lang, "Состояние", "Status")) }
            } }
            tbody {
                @for a in &found.users {
                    tr {
                        td { a href={ "/admin/users/" (a.login) } { (a.login) } }
                        td { (a.full_name) }
                        td { (a.roles.iter().map(|r| lang.role(r)).collect::<Vec<_>>().join(", ")) }
                        td { (a.study_group.as_deref().unwrap_or("—")) }
                        td { (lang.account_status(a.status)) }
                    }
                }
            }
        }
        nav aria-label=(tr(lang, "Страницы", "Pages")) {
            p {
                @if q.page > 0 { a href=(link(q.page - 1)) rel="prev" { (tr(lang, "← Назад", "← Previous")) } " " }
                (tr(lang, "Страница ", "Page ")) (q.page + 1) " / " (pages_total)
                @if q.page + 1 < pages_total { " " a href=(link(q.page + 1)) rel="next" { (tr(lang, "Вперёд →", "Next →")) } }
            }
        }
    };
    Ok(page(&c, tr(lang, "Пользователи", "Users"), "/admin/users", None, body).into_response())
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn view(
    State(state): State<AppState>,
    c: Console,
    Path(login): Path<String>,
    Query(d): Query<Done>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    let v = state.app.console_user(&c.user, &login).await.map_err(c.err())?;
    let a = &v.account;
    let csrf = c.csrf();
    let manage = c.user.may(Permission::ManageUsers);
    let security = c.user.may(Permission::ManageSecurity);
    let resources: Vec<_> = state.app.policies().catalogue().to_vec();
    let base = format!("/admin/users/{}", a.login);
    let notice = d
        .done
        .as_deref()
        .map(|_| tr(lang, "Готово: изменение записано в журнал.", "Done: the change is recorded in the audit log."));
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".to_owned());
    let body = html! {
        section aria-labelledby="h-profile" {
            h2 #h-profile { (tr(lang, "Профиль", "Profile")) }
            dl.profile {
                dt { (tr(lang, "ФИО", "Full name")) } dd { (a.full_name) }
                dt { (tr(lang, "Логин", "Login")) } dd { code { (a.login) } }
                dt { (tr(lang, "Эл. почта", "Email")) } dd { (opt(&a.email)) }
                dt { (tr(lang, "Роли", "Roles")) } dd { (a.roles.iter().map(|r| lang.role(r)).collect::<Vec<_>>().join(", ")) }
                dt { (tr(lang, "Группа", "Group")) } dd { (opt(&a.study_group)) }
                dt { (tr(lang, "Подразделение", "Department")) } dd { (opt(&a.department)) }
                dt { (tr(lang, "Номер в реестре", "Register number")) } dd { (opt(&a.external_id)) }
                dt { (tr(lang, "Состояние", "Status")) } dd { strong { (lang.account_status(a.status)) } }
                dt { (tr(lang, "Активных сеансов", "Live sessions")) } dd { (v.live_sessions) }
                dt { (tr(lang, "Второй фактор", "Second factor")) }
                dd {
                    @match v.second_factor_enrolled_at {
                        Some(t) => { (tr(lang, "подключён ", "enrolled ")) (t.to_human()) "; " (tr(lang, "резервных кодов: ", "recovery codes left: ")) (v.recovery_codes_left) }
                        None => { @if v.second_factor_required { strong { (tr(lang, "не подключён (будет запрошен при входе)", "not enrolled (asked at sign-in)")) } } @else { (tr(lang, "не требуется", "not required")) } }
                    }
                }
                dt { (tr(lang, "Правила ЭИОС приняты", "Rules accepted")) }
                dd {
                    @if v.rules_accepted.is_empty() { (tr(lang, "ещё нет", "not yet")) }
                    @for r in &v.rules_accepted { (tr(lang, "редакция ", "version ")) (r.version) ", " (r.at.to_human()) " UTC" br; }
                }
                @if let Some(until) = v.inspector_until {
                    dt { (tr(lang, "Доступ проверяющего до", "Inspector until")) } dd { (until.to_human()) }
                }
            }
        }
        @if manage || security {
            section aria-labelledby="h-actions" {
                h2 #h-actions { (tr(lang, "Действия", "Actions")) }
                @if manage && !a.roles.contains(Role::Inspector) {
                    form.card method="post" action={ (base) "/roles" } {
                        input type="hidden" name="csrf" value=(csrf);
                        fieldset {
                            legend { (tr(lang, "Роли", "Roles")) }
                            @for r in Role::ALL.into_iter().filter(|r| *r != Role::Inspector) {
                                div.check {
                                    input type="checkbox" id={ "role-" (r.as_str()) } name={ "role_" (r.as_str()) } value="on" checked[a.roles.contains(r)];
                                    label for={ "role-" (r.as_str()) } { (lang.role(r)) }
                                }
                            }
                        }
                        button type="submit" { (tr(lang, "Сохранить роли", "Save roles")) }
                    }
                }
                @if manage {
                    @if a.status == AccountStatus::Active {
                        form.card method="post" action={ (base) "/suspend" } {
                            input type="hidden" name="csrf" value=(csrf);
                            div.field {
                                label for="suspend-reason" { (tr(lang, "Причина приостановки", "Reason for suspension")) }
                                input #suspend-reason name="reason" type="text" required maxlength="200";
                            }
                            button type="submit" { (tr(lang, "Приостановить", "Suspend")) }
                        }
                    }
                    @if a.status == AccountStatus::Suspended {
                        form.card method="post" action={ (base) "/activate" } {
                            input type="hidden" name="csrf" value=(csrf);
                            div.field {
                                label for="activate-reason" { (tr(lang, "Причина возобновления", "Reason for activation")) }
                                input #activate-reason name="reason" type="text" required maxlength="200";
                            }
                            button type="submit" { (tr(lang, "Возобновить", "Activate")) }
                        }
                    }
                    form.card method="post" action={ (base) "/reset-password" } {
                        input type="hidden" name="csrf" value=(csrf);
                        p { (tr(lang, "Новый временный пароль действует 72 часа и должен быть сменён при входе.", "A new temporary password works for 72 hours and must be changed at sign-in.")) }
                        button type="submit" { (tr(lang, "Выдать новый пароль", "Issue a new password")) }
                    }
                    form.card method="post" action={ (base) "/restrict" } {
                        input type="hidden" name="csrf" value=(csrf);
                        div.field {
                            label for="restrict-resource" { (tr(lang, "Ресурс", "Resource")) }
                            select #restrict-resource name="resource" {
                                @for r in &resources { option value=(r.id.as_str()) { (crate::http::pages::resource_title(lang, r)) } }
                            }
                        }
                        div.field {
                            label for="restrict-reason" { (tr(lang, "Причина ограничения", "Reason for the restriction")) }
                            input #restrict-reason name="reason" type="text" required maxlength="200";
                        }
                        div.field {
                            label for="restrict-until" { (tr(lang, "До (необязательно)", "Until (optional)")) }
                            input #restrict-until name="until" type="date";
                        }
                        button type="submit" { (tr(lang, "Ограничить доступ", "Restrict access")) }
                    }
                }
                @if security && v.second_factor_enrolled_at.is_some() {
                    form.card method="post" action={ (base) "/reset-second-factor" } {
                        input type="hidden" name="csrf" value=(csrf);
                        div.field {
                            label for="reset-2fa-reason" { (tr(lang, "Причина сброса второго фактора", "Reason for resetting the second factor")) }
                            input #reset-2fa-reason name="reason" type="text" required maxlength="200";
                        }
                        button type="submit" { (tr(lang, "Сбросить второй фактор", "Reset the second factor")) }
                    }
                }
                @if security {
                    @if a.status == AccountStatus::Locked {
                        form.card method="post" action={ (base) "/unlock" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (tr(lang, "Разблокировать", "Unlock")) }
                        }
                    }
                    @if a.status == AccountStatus::Compromised || a.status == AccountStatus::Locked {
                        form.card method="post" action={ (base) "/restore" } {
                            input type="hidden" name="csrf" value=(csrf);
                            p { (tr(lang, "Восстановление выдаёт новый пароль и код блокировки.", "Restoring issues a new password and lock code.")) }
                            button type="submit" { (tr(lang, "Восстановить доступ", "Restore access")) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-restrictions" {
            h2 #h-restrictions { (tr(lang, "Ограничения доступа", "Access restrictions")) }
            @if v.restrictions.is_empty() { p { (tr(lang, "Нет.", "None.")) } } @else {
                table {
                    caption.visually-hidden { (tr(lang, "Ограничения доступа", "Access restrictions")) }
                    thead { tr {
                        th scope="col" { (tr(lang, "Ресурс", "Resource")) }
                        th scope="col" { (tr(lang, "Причина", "Reason")) }
                        th scope="col" { (tr(lang, "До", "Until")) }
                        th scope="col" { (tr(lang, "Кем", "By")) }
                        @if manage { th scope="col" { span.visually-hidden { (tr(lang, "Снять", "Lift")) } } }
                    } }
                    tbody { @for r in &v.restrictions { tr {
                        td { (r.resource.as_str()) }
                        td { (r.reason) }
                        td { (r.until.map(|u| u.to_human()).unwrap_or_else(|| "—".into())) }
                        td { (r.set_by) }
                        @if manage { td {
                            form.inline method="post" action={ (base) "/unrestrict" } {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="hidden" name="resource" value=(r.resource.as_str());
                                label.visually-hidden for={ "lift-" (r.resource.as_str()) } { (tr(lang, "Причина снятия", "Reason for lifting")) }
                                input id={ "lift-" (r.resource.as_str()) } name="reason" type="text" required maxlength="200"
                                    placeholder=(tr(lang, "причина", "reason"));
                                button type="submit" { (tr(lang, "Снять", "Lift")) }
                            }
                        } }
                    } } }
                }
            }
        }
        section aria-labelledby="h-sessions" {
            h2 #h-sessions { (tr(lang, "Активные сеансы", "Live sessions")) }
            @if v.sessions.is_empty() { p { (tr(lang, "Нет.", "None.")) } } @else {
                table {
                    caption.visually-hidden { (tr(lang, "Активные сеансы", "Live sessions")) }
                    thead { tr {
                        th scope="col" { (tr(lang, "Начат (UTC)", "Started (UTC)")) }
                        th scope="col" { (tr(lang, "Последнее действие (UTC)", "Last seen (UTC)")) }
                        th scope="col" { (tr(lang, "Адрес", "Address")) }
                        th scope="col" { (tr(lang, "Устройство", "Device")) }
                        th scope="col" { (tr(lang, "Второй фактор", "Second factor")) }
                    } }
                    tbody { @for s in &v.sessions { tr {
                        td { (s.created_at.to_human()) }
                        td { (s.last_seen_at.to_human()) }
                        td { (s.ip.as_deref().unwrap_or("—")) }
                        td { (s.user_agent.as_deref().map(|u| u.chars().take(80).collect::<String>()).unwrap_or_else(|| "—".into())) }
                        td { (if s.second_factor_at.is_some() { tr(lang, "да", "yes") } else { "—" }) }
                    } } }
                }
            }
        }
        section aria-labelledby="h-signins" {
            h2 #h-signins { (tr(lang, "Последние входы", "Recent sign-ins")) }
            table {
                caption.visually-hidden { (tr(lang, "Последние входы", "Recent sign-ins")) }
                thead { tr {
                    th scope="col" { (tr(lang, "Время (UTC)", "Time (UTC)")) }
                    th scope="col" { (tr(lang, "Адрес", "Address")) }
                    th scope="col" { (tr(lang, "Результат", "Outcome")) }
                } }
                tbody { @for s in &v.sign_ins { tr {
                    td { (s.at.to_human()) }
                    td { (s.ip.as_deref().unwrap_or("—")) }
                    td { (lang.outcome(s.outcome)) }
                } } }
            }
        }
        section aria-labelledby="h-journal" {
            h2 #h-journal { (tr(lang, "Журнал выдачи учётных данных", "Credential journal")) }
            table {
                caption.visually-hidden { (tr(lang, "Журнал выдачи учётных данных", "Credential journal")) }
                thead { tr {
                    th scope="col" { "№" }
                    th scope="col" { (tr(lang, "Выдано (UTC)", "Issued (UTC)")) }
                    th scope="col" { (tr(lang, "Кем", "By")) }
                    th scope="col" { (tr(lang, "Способ", "Channel")) }
                    th scope="col" { (tr(lang, "Получено", "Received")) }
                } }
                tbody { @for j in &v.journal { tr {
                    td { (j.seq) }
                    td { (j.issue.issued_at.to_human()) }
                    td { (j.issue.issued_by) }
                    td { (j.issue.channel.as_str()) }
                    td { (j.received_at.map(|r| r.to_human()).unwrap_or_else(|| "—".into())) }
                } } }
            }
        }
        section aria-labelledby="h-audit" {
            h2 #h-audit { (tr(lang, "Записи журнала событий", "Audit log entries")) }
            table {
                caption.visually-hidden { (tr(lang, "Записи журнала событий", "Audit log entries")) }
                thead { tr {
                    th scope="col" { (tr(lang, "Время (UTC)", "Time (UTC)")) }
                    th scope="col" { (tr(lang, "Кто", "Actor")) }
                    th scope="col" { (tr(lang, "Действие", "Action")) }
                    th scope="col" { (tr(lang, "Результат", "Outcome")) }
                    th scope="col" { (tr(lang, "Подробности", "Detail")) }
                } }
                tbody { @for e in &v.audit { tr {
                    td { (e.at.to_human()) }
                    td { (e.actor) }
                    td { code { (e.action) } }
                    td { (e.outcome) }
                    td { (e.detail) }
                } } }
            }
        }
    };
    let flash = notice.map(Flash::Notice);
    Ok(page(&c, &format!("{} · {}", a.full_name, a.login), "/admin/users", flash, body).into_response())
}

pub async fn act(
    State(state): State<AppState>,
    c: Console,
    Path((login, action)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    let app = &state.app;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let back = format!("/admin/users/{}?done={action}", urlencode(&login));
    match action.as_str() {
        "roles" => {
            let roles = Roles::new(Role::ALL.into_iter().filter(|r| f.contains_key(&format!("role_{}", r.as_str()))));
            app.console_set_roles(&c.user, &login, roles).await.map_err(c.err())?;
        }
        "suspend" => {
            app.console_suspend(&c.user, &login, get("reason")).await.map_err(c.err())?;
        }
        "activate" => {
            app.console_activate(&c.user, &login, get("reason")).await.map_err(c.err())?;
        }
        "unlock" => {
            app.console_unlock(&c.user, &login).await.map_err(c.err())?;
        }
        "reset-second-factor" => {
            app.console_reset_second_factor(&c.user, &login, get("reason")).await.map_err(c.err())?;
        }
        "restore" => {
            let issued = app.console_restore(&c.user, &login).await.map_err(c.err())?;
            let title = tr(lang, "Доступ восстановлен", "Access restored");
            return Ok(issued_page(&c, title, &[issued], &state.app.issuer).into_response());
        }
        "reset-password" => {
            let issued = app.console_reset_password(&c.user, &login).await.map_err(c.err())?;
            let title = tr(lang, "Новый пароль выдан", "A new password is issued");
            return Ok(issued_page(&c, title, &[issued], &state.app.issuer).into_response());
        }
        "restrict" => {
            let until = parse_date(get("until"), lang)?;
            app.console_restrict(&c.user, &login, get("resource"), get("reason"), until).await.map_err(c.err())?;
        }
        "unrestrict" => {
            app.console_unrestrict(&c.user, &login, get("resource"), get("reason")).await.map_err(c.err())?;
        }
        _ => return Err(HttpError::NotFound(lang)),
    }
    Ok(Redirect::to(&back).into_response())
}

/// A `YYYY-MM-DD` from a date field: the end of that day (UTC); empty means none.
pub fn parse_date(s: &str, lang: Lang) -> Result<Option<Timestamp>, HttpError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        HttpError::App(crate::app::AppError::Invalid(tr(lang, "Дата: ГГГГ-ММ-ДД", "Date: YYYY-MM-DD").into()), lang)
    })?;
    let end = d.and_hms_opt(23, 59, 59).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0);
    Ok(Some(Timestamp::from_millis(end)))
}

pub async fn new_page(c: Console) -> Result<Response, HttpError> {
    let lang = c.lang;
    if !c.user.may(Permission::ManageUsers) {
        return Err(HttpError::App(crate::app::AppError::Forbidden, lang));
    }
    Ok(page(&c, tr(lang, "Регистрация пользователя", "Register a person"), "/admin/users", None, new_form(&c))
        .into_response())
}

fn new_form(c: &Console) -> maud::Markup {
    let lang = c.lang;
    html! {
        form.card method="post" action="/admin/users/new" {
            input type="hidden" name="csrf" value=(c.csrf());
            div.field { label for="n-login" { (tr(lang, "Логин", "Login")) } input #n-login name="login" type="text" required maxlength="64" autocapitalize="none" spellcheck="false"; }
            div.field { label for="n-name" { (tr(lang, "ФИО", "Full name")) } input #n-name name="full_name" type="text" required maxlength="200"; }
            div.field { label for="n-email" { (tr(lang, "Эл. почта", "Email")) } input #n-email name="email" type="email" maxlength="200"; }
            div.field { label for="n-group" { (tr(lang, "Группа", "Group")) } input #n-group name="study_group" type="text" maxlength="64"; }
            div.field { label for="n-dept" { (tr(lang, "Подразделение", "Department")) } input #n-dept name="department" type="text" maxlength="200"; }
            fieldset {
                legend { (tr(lang, "Роли", "Roles")) }
                @for r in Role::ALL.into_iter().filter(|r| *r != Role::Inspector) {
                    div.check {
                        input type="checkbox" id={ "n-role-" (r.as_str()) } name={ "role_" (r.as_str()) } value="on";
                        label for={ "n-role-" (r.as_str()) } { (lang.role(r)) }
                    }
                }
            }
            button.primary type="submit" { (tr(lang, "Зарегистрировать", "Register")) }
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    c: Console,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let lang = c.lang;
    check_csrf(&state, &c, f.get("csrf").map(String::as_str).unwrap_or("")).await?;
    let opt = |k: &str| f.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let new = NewAccount {
        login: opt("login").unwrap_or_default(),
        full_name: opt("full_name").unwrap_or_default(),
        email: opt("email"),
        roles: Role::ALL.into_iter().filter(|r| f.contains_key(&format!("role_{}", r.as_str()))).collect(),
        study_group: opt("study_group"),
        department: opt("department"),
        external_id: None,
    };
    match state.app.console_create_user(&c.user, new).await {
        Ok(issued) => {
            let title = tr(lang, "Пользователь зарегистрирован", "The person is registered");
            Ok(issued_page(&c, title, &[issued], &state.app.issuer).into_response())
        }
        Err(
            e @ (crate::app::AppError::Profile(_)
            | crate::app::AppError::Invalid(_)
            | crate::app::AppError::Conflict(_)),
        ) => {
            let msg = match &e {
                crate::app::AppError::Conflict(_) => {
                    tr(lang, "Такой логин уже занят.", "This login is taken.").to_owned()
                }
                other => other.to_string(),
            };
            let body = new_form(&c);
            let p = page(
                &c,
                tr(lang, "Регистрация пользователя", "Register a person"),
                "/admin/users",
                Some(Flash::Error(&msg)),
                body,
            );
            Ok((axum::http::StatusCode::BAD_REQUEST, p).into_response())
        }
        Err(e) => Err(HttpError::App(e, lang)),
    }
}
