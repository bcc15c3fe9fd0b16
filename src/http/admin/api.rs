//! The console's JSON API (`/api/admin/…`), described by `/api/admin/openapi.json`.
//!
//! The same use cases and permissions as the pages. A request carries the console's
//! session cookie; a request that changes something must also carry the session's
//! anti-forgery token in `X-CSRF-Token` (a header a cross-site form cannot set). Errors
//! are `{"error": "…"}` with the HTTP status; a refusal is audited by the use case.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::users::{ListQuery, filter_of};
use crate::app::AppError;
use crate::app::console::ConsoleUser;
use crate::domain::account::{Role, Roles};
use crate::http::AppState;
use crate::http::extract::{ClientInfo, MaybeSigned};
use crate::http::i18n::Lang;
use crate::http::oidc::no_store_json;
use crate::ports::console::RequestStatus;

pub const OPENAPI_PATH: &str = "/api/admin/openapi.json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(OPENAPI_PATH, get(openapi))
        .route("/api/admin/users", get(users))
        .route("/api/admin/users/{login}", get(user))
        .route("/api/admin/users/{login}/{action}", post(act))
        .route("/api/admin/requests", get(requests))
        .route("/api/admin/requests/{id}", post(move_request))
        .route("/api/admin/announcements", get(announcements))
        .route("/api/admin/reports", get(reports))
        .route("/api/admin/library/{resource}", get(library))
        .route("/api/admin/slips", get(slips))
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// An application error as JSON, with the status the pages would use.
fn app_problem(e: AppError, lang: Lang) -> Response {
    let status = crate::http::error::HttpError::App(e, lang).into_response();
    let code = status.status();
    let message = match code {
        StatusCode::FORBIDDEN => "not allowed".to_owned(),
        StatusCode::NOT_FOUND => "not found".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "unavailable, try again later".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "internal error".to_owned(),
        _ => String::new(),
    };
    problem(code, message)
}

/// The console user behind an API request.
pub struct ApiUser {
    user: ConsoleUser,
    lang: Lang,
}

impl ApiUser {
    fn fail(&self) -> impl FnOnce(AppError) -> Response + '_ {
        move |e| match e {
            AppError::Invalid(m) => problem(StatusCode::BAD_REQUEST, m),
            AppError::Profile(p) => problem(StatusCode::BAD_REQUEST, p.to_string()),
            other => app_problem(other, self.lang),
        }
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_request_parts(parts, state).await.unwrap_or(Lang::Ru);
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        if let Some(token) = bearer {
            return service_user(state, &token, parts).await.map(|user| ApiUser { user, lang });
        }
        let MaybeSigned(session) = MaybeSigned::from_request_parts(parts, state).await?;
        let Some(session) = session else {
            return Err(problem(StatusCode::UNAUTHORIZED, "a console session is required"));
        };
        let client = ClientInfo::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let ip = client.ip_string();
        let who = session.account.login.as_str().to_owned();
        let refuse = |why: &'static str| {
            let (who, ip) = (who.clone(), ip.clone());
            async move {
                let _ = state.app.audit_refused(&who, ip.as_deref(), why).await;
                Err(problem(StatusCode::FORBIDDEN, why))
            }
        };
        if session.account.password_must_change {
            return refuse("the issued password must be changed first").await;
        }
        if session.second_factor_at.is_none() {
            return refuse("the second factor is required").await;
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let posted = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            if !crate::http::csrf_ok(posted, &session.token.csrf_token()) {
                return refuse("X-CSRF-Token missing or wrong").await;
            }
        }
        let Some(user) = ConsoleUser::of(&session, client.ip_string()) else {
            return refuse("no console role").await;
        };
        Ok(ApiUser { user, lang })
    }
}

/// A service client of `console.api_clients` with a live `client_credentials` token acts
/// with its configured role; its actions are audited as `client:<id>`. A bearer token
/// is not sent by browsers on their own, so no anti-forgery token is needed.
async fn service_user(state: &AppState, token: &str, parts: &mut Parts) -> Result<ConsoleUser, Response> {
    let unauthorized = || {
        let mut r = problem(StatusCode::UNAUTHORIZED, "a service token of a console API client is required");
        r.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"propusk\", error=\"invalid_token\""),
        );
        r
    };
    let client = state.app.service_client(token).await.ok().flatten().ok_or_else(unauthorized)?;
    let Some((_, role)) = state.console_clients.iter().find(|(id, _)| *id == client) else {
        return Err(unauthorized());
    };
    let ip = ClientInfo::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?.ip_string();
    let name = format!("client:{client}");
    let now = state.app.clock.now();
    let account = crate::domain::Account {
        id: crate::domain::AccountId::from_stored(name.clone()),
        login: crate::domain::Login::from_stored(name.clone()),
        full_name: name.clone(),
        email: None,
        roles: Roles::new([*role]),
        study_group: None,
        department: None,
        external_id: None,
        status: crate::domain::AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    let perms = crate::domain::console::Permissions::of(&account.roles);
    Ok(ConsoleUser { actor: crate::app::Actor { name, ip }, account, perms })
}

async fn users(State(state): State<AppState>, u: ApiUser, q: Result<Query<ListQuery>, QueryRejection>) -> Response {
    let Ok(Query(q)) = q else { return problem(StatusCode::BAD_REQUEST, "bad query") };
    let filter = match filter_of(&q, Lang::En) {
        Ok(f) => f,
        Err(crate::http::error::HttpError::App(AppError::Invalid(m), _)) => return problem(StatusCode::BAD_REQUEST, m),
        Err(_) => return problem(StatusCode::BAD_REQUEST, "bad query"),
    };
    match state.app.console_users(&u.user, filter).await {
        Ok(page) => no_store_json(page),
        Err(e) => u.fail()(e),
    }
}

async fn user(State(state): State<AppState>, u: ApiUser, Path(login): Path<String>) -> Response {
    match state.app.console_user(&u.user, &login).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    resource: String,
    /// `YYYY-MM-DD`, the restriction's last day.
    #[serde(default)]
    until: Option<String>,
}

async fn act(
    State(state): State<AppState>,
    u: ApiUser,
    Path((login, action)): Path<(String, String)>,
    body: Result<axum::Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let b = match body {
        Ok(axum::Json(b)) => b,
        Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => ActionBody::default(),
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let app = &state.app;
    let result: Result<serde_json::Value, AppError> = match action.as_str() {
        "suspend" => app.console_suspend(&u.user, &login, &b.reason).await.map(|a| json!(a)),
        "activate" => app.console_activate(&u.user, &login, &b.reason).await.map(|a| json!(a)),
        "unlock" => app.console_unlock(&u.user, &login).await.map(|a| json!(a)),
        "roles" => {
            let roles: Result<Vec<Role>, _> = b.roles.iter().map(|r| r.parse::<Role>()).collect();
            match roles {
                Ok(r) => app.console_set_roles(&u.user, &login, Roles::new(r)).await.map(|a| json!(a)),
                Err(e) => Err(AppError::Invalid(e.to_string())),
            }
        }
        "restrict" => {
            let until = match b.until.as_deref().map(|d| super::users::parse_date(d, Lang::En)) {
                None => Ok(None),
                Some(Ok(t)) => Ok(t),
                Some(Err(_)) => Err(AppError::Invalid("until: YYYY-MM-DD".into())),
            };
            match until {
                Ok(until) => {
                    app.console_restrict(&u.user, &login, &b.resource, &b.reason, until).await.map(|()| json!({}))
                }
                Err(e) => Err(e),
            }
        }
        "unrestrict" => app.console_unrestrict(&u.user, &login, &b.resource, &b.reason).await.map(|()| json!({})),
        _ => return problem(StatusCode::NOT_FOUND, "unknown action"),
    };
    match result {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

#[derive(Deserialize, Default)]
struct AllQuery {
    #[serde(default)]
    all: bool,
}

async fn requests(State(state): State<AppState>, u: ApiUser, q: Result<Query<AllQuery>, QueryRejection>) -> Response {
    let Ok(Query(AllQuery { all })) = q else { return problem(StatusCode::BAD_REQUEST, "bad query") };
    match state.app.requests(&u.user, all).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    to: RequestStatus,
    #[serde(default)]
    outcome: String,
}

async fn move_request(
    State(state): State<AppState>,
    u: ApiUser,
    Path(id): Path<String>,
    body: Result<axum::Json<MoveBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(b)) = body else {
        return problem(StatusCode::BAD_REQUEST, "body: {\"to\": \"in_progress|done|rejected\", \"outcome\": \"…\"}");
    };
    match state.app.move_request(&u.user, &id, b.to, &b.outcome).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

async fn announcements(State(state): State<AppState>, u: ApiUser) -> Response {
    match state.app.console_announcements(&u.user).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

#[derive(Deserialize)]
struct DaysQuery {
    days: Option<u32>,
}

async fn reports(State(state): State<AppState>, u: ApiUser, q: Result<Query<DaysQuery>, QueryRejection>) -> Response {
    let Ok(Query(DaysQuery { days })) = q else { return problem(StatusCode::BAD_REQUEST, "bad query") };
    let days = days.unwrap_or(30);
    match state.app.reports(&u.user, days).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

async fn library(State(state): State<AppState>, u: ApiUser, Path(resource): Path<String>) -> Response {
    match state.app.library_list(&u.user, &resource).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

async fn slips(State(state): State<AppState>, u: ApiUser) -> Response {
    match state.app.slip_batches(&u.user).await {
        Ok(v) => no_store_json(v),
        Err(e) => u.fail()(e),
    }
}

/// The OpenAPI 3.0 description of this API.
async fn openapi() -> Response {
    no_store_json(document())
}

pub fn document() -> serde_json::Value {
    let err = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let ok = |schema: serde_json::Value| json!({ "description": "OK", "content": { "application/json": { "schema": schema } } });
    let any = json!({ "type": "object" });
    let login =
        json!({ "name": "login", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 64 } });
    let errors = |ok_resp: serde_json::Value| json!({ "200": ok_resp, "400": err, "401": err, "403": err, "404": err, "503": err });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "propusk administrators' API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything the console at /admin does. Requests carry the console's session cookie, or a client_credentials bearer token of a client listed in console.api_clients; \
                            POST requests also carry the session's anti-forgery token in X-CSRF-Token. \
                            The caller's roles decide what is allowed; a refusal is audited."
        },
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-propusk-session" },
                "csrf": { "type": "apiKey", "in": "header", "name": "X-CSRF-Token" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "A client_credentials access token of a client listed in console.api_clients" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "Action": { "type": "object", "additionalProperties": false, "properties": {
                    "reason": { "type": "string", "maxLength": 200 },
                    "roles": { "type": "array", "items": { "type": "string", "enum": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>() } },
                    "resource": { "type": "string", "maxLength": 64 },
                    "until": { "type": "string", "format": "date" }
                } },
                "Move": { "type": "object", "required": ["to"], "additionalProperties": false, "properties": {
                    "to": { "type": "string", "enum": ["in_progress", "done", "rejected"] },
                    "outcome": { "type": "string", "maxLength": 2000 }
                } }
            }
        },
        "security": [{ "session": [] }, { "bearer": [] }],
        "paths": {
            "/api/admin/users": { "get": {
                "summary": "Search people",
                "parameters": [
                    { "name": "q", "in": "query", "schema": { "type": "string", "maxLength": 100 } },
                    { "name": "role", "in": "query", "schema": { "type": "string", "enum": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>() } },
                    { "name": "status", "in": "query", "schema": { "type": "string", "enum": ["active", "locked", "compromised", "suspended", "blocked"] } },
                    { "name": "group", "in": "query", "schema": { "type": "string", "maxLength": 64 } },
                    { "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 0, "maximum": 100000 } }
                ],
                "responses": errors(ok(any.clone()))
            } },
            "/api/admin/users/{login}": { "get": {
                "summary": "One person: profile, restrictions, sign-ins, journal and audit entries",
                "parameters": [login],
                "responses": errors(ok(any.clone()))
            } },
            "/api/admin/users/{login}/{action}": { "post": {
                "summary": "suspend, activate, unlock, roles, restrict or unrestrict",
                "security": [{ "session": [], "csrf": [] }, { "bearer": [] }],
                "parameters": [login, { "name": "action", "in": "path", "required": true,
                    "schema": { "type": "string", "enum": ["suspend", "activate", "unlock", "roles", "restrict", "unrestrict"] } }],
                "requestBody": { "required": false, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Action" } } } },
                "responses": errors(ok(any.clone()))
            } },
            "/api/admin/requests": { "get": {
                "summary": "\"I cannot sign in\" requests (open ones unless all=true)",
                "parameters": [{ "name": "all", "in": "query", "schema": { "type": "boolean" } }],
                "responses": errors(ok(json!({ "type": "array", "items": any })))
            } },
            "/api/admin/requests/{id}": { "post": {
                "summary": "Take a request, or close it with an outcome",
                "security": [{ "session": [], "csrf": [] }, { "bearer": [] }],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 64 } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Move" } } } },
                "responses": errors(ok(any.clone()))
            } },
            "/api/admin/announcements": { "get": {
                "summary": "Announcements in force and upcoming",
                "responses": errors(ok(json!({ "type": "array", "items": any })))
            } },
            "/api/admin/reports": { "get": {
                "summary": "Accounts by role and status, sign-ins per day and per resource, security events, deprovisioning",
                "parameters": [{ "name": "days", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 366 } }],
                "responses": errors(ok(any.clone()))
            } },
            "/api/admin/library/{resource}": { "get": {
                "summary": "People entitled to a library system",
                "parameters": [{ "name": "resource", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 64 } }],
                "responses": errors(ok(json!({ "type": "array", "items": any })))
            } },
            "/api/admin/slips": { "get": {
                "summary": "Batches of credential slips with their hand-over and receipt counts",
                "responses": errors(ok(json!({ "type": "array", "items": any })))
            } }
        }
    })
}
