//! `POST /api/roster/import`: the register import (R-6, D-9) for automation, with a
//! service access token (`client_credentials`) of a client named in
//! `lifecycle.import_clients`. The body is the file; the query says its format and how
//! to import. New people's credentials come back once, in the answer.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::oidc::no_store_json;
use crate::app::{Actor, AppError, ImportOptions};
use crate::roster::{Format, Mapping};

pub const IMPORT_PATH: &str = "/api/roster/import";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    format: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    full_snapshot: bool,
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let client = match token {
        Some(t) => state.app.service_client(t).await.ok().flatten(),
        None => None,
    };
    let Some(client) = client.filter(|c| state.app.lifecycle.import_clients.contains(c)) else {
        let mut resp = problem(StatusCode::UNAUTHORIZED, "a service token of an import client is required");
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"propusk\""));
        return resp;
    };
    let Ok(Query(q)) = query else {
        return problem(
            StatusCode::BAD_REQUEST,
            "query: format=csv|xlsx|json, and optionally dry_run, strict, full_snapshot",
        );
    };
    let Ok(format) = q.format.parse::<Format>() else {
        return problem(StatusCode::BAD_REQUEST, "format: csv, xlsx or json");
    };
    // The configured mapping is for CSV and XLSX exports; JSON uses propusk's own names.
    let mapping_file = state.app.lifecycle.roster_mapping_file.as_ref().filter(|_| !matches!(format, Format::Json));
    let mapping = match mapping_file {
        Some(path) => match Mapping::load(path) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "the roster mapping file cannot be loaded");
                return problem(StatusCode::SERVICE_UNAVAILABLE, "the server's roster mapping is not valid");
            }
        },
        None => Mapping::default(),
    };
    let rows = match tokio::task::spawn_blocking(move || crate::roster::read(&body, format, &mapping)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "the file could not be read"),
    };
    let actor = Actor { name: format!("client:{client}"), ip: None };
    let opts = ImportOptions {
        dry_run: q.dry_run,
        strict: q.strict,
        full_snapshot: q.full_snapshot,
        source: format!("{IMPORT_PATH} ({})", q.format),
    };
    match state.app.import_roster(&actor, rows, &opts).await {
        Ok(report) => {
            let slips: Vec<serde_json::Value> = report
                .issued
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "login": i.account.login.as_str(),
                        "full_name": i.account.full_name,
                        "group": i.account.study_group.as_deref().or(i.account.department.as_deref()),
                        "password": i.password.expose(),
                        "lock_code": i.lock_code,
                        "expires_at": i.issue.expires_at.to_human(),
                    })
                })
                .collect();
            let mut v = serde_json::to_value(&report).unwrap_or_default();
            v["slips"] = serde_json::Value::Array(slips);
            no_store_json(v)
        }
        Err(AppError::Unavailable(_) | AppError::Busy) => {
            problem(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; try again")
        }
        Err(AppError::Conflict(what)) => {
            problem(StatusCode::CONFLICT, format!("{what} already exists (another import at the same time?)"))
        }
        Err(e) => {
            tracing::error!(error = %e, "roster import failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "the import failed; nothing was changed")
        }
    }
}
