//! A resource's part in deprovisioning (R-11, R-12, D-8): how it is told that a person has
//! left, written as `deprovision = { kind = … }` in its catalogue entry.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::route::check_url;

/// How a resource takes part in deprovisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deprovision {
    /// A JSON event POSTed to `url`, signed with HMAC-SHA256 over the body using the
    /// secret in `secret_file` (header `X-Propusk-Signature: sha256=<hex>`).
    Webhook { url: String, secret_file: PathBuf, forget: bool },
    /// SCIM 2.0 (RFC 7644): the user found by `userName`, then `PATCH active=false`;
    /// with `forget`, `DELETE` before propusk erases its own data. Bearer token in
    /// `token_file`.
    Scim { url: String, token_file: PathBuf, forget: bool },
    /// No API (D-8): a task for an administrator, due `within` after the effective date's
    /// start (the block deadline when not set).
    Manual { within: Option<Duration>, task_ru: String, task_en: String },
}

impl Deprovision {
    pub const KINDS: [&'static str; 3] = ["webhook", "scim", "manual"];

    pub fn kind(&self) -> &'static str {
        match self {
            Deprovision::Webhook { .. } => "webhook",
            Deprovision::Scim { .. } => "scim",
            Deprovision::Manual { .. } => "manual",
        }
    }

    /// Whether the resource is called (not a manual task).
    pub fn automatic(&self) -> bool {
        !matches!(self, Deprovision::Manual { .. })
    }

    /// Whether the resource is also told to delete the person before erasure.
    pub fn forget(&self) -> bool {
        match self {
            Deprovision::Webhook { forget, .. } | Deprovision::Scim { forget, .. } => *forget,
            Deprovision::Manual { .. } => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeprovision {
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    #[serde(default)]
    forget: bool,
    within: Option<Spanned<String>>,
    task_ru: Option<Spanned<String>>,
    task_en: Option<Spanned<String>>,
}

/// Checks a `deprovision` table; problems are `(offset, message)` for the caller to place.
pub(super) fn parse(raw: Spanned<RawDeprovision>) -> Result<Deprovision, Vec<(usize, String)>> {
    let at = raw.span().start;
    let raw = raw.into_inner();
    let kind = raw.kind.get_ref().clone();
    let mut problems = Vec::new();
    let mut unwanted = |name: &str, offset: Option<usize>| {
        if let Some(o) = offset {
            problems.push((o, format!("deprovision kind {kind:?} takes no {name}")));
        }
    };
    let offset = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.span().start);
    let result = match kind.as_str() {
        "webhook" | "scim" => {
            unwanted("within", offset(&raw.within));
            unwanted("task_ru", offset(&raw.task_ru));
            unwanted("task_en", offset(&raw.task_en));
            let (file_key, file) =
                if kind == "webhook" { ("secret_file", &raw.secret_file) } else { ("token_file", &raw.token_file) };
            unwanted(
                if kind == "webhook" { "token_file" } else { "secret_file" },
                if kind == "webhook" { offset(&raw.token_file) } else { offset(&raw.secret_file) },
            );
            let url = match &raw.url {
                Some(u) => match check_target(u.get_ref()) {
                    Ok(_) => Some(u.get_ref().clone()),
                    Err(e) => {
                        problems.push((u.span().start, format!("deprovision url: {e}")));
                        None
                    }
                },
                None => {
                    problems.push((at, format!("deprovision kind {kind:?} needs a url")));
                    None
                }
            };
            let file = match file {
                Some(f) if !f.get_ref().trim().is_empty() => Some(PathBuf::from(f.get_ref())),
                Some(f) => {
                    problems.push((f.span().start, format!("{file_key}: a path is required")));
                    None
                }
                None => {
                    problems.push((at, format!("deprovision kind {kind:?} needs {file_key}")));
                    None
                }
            };
            match (url, file) {
                (Some(url), Some(file)) if kind == "webhook" => {
                    Some(Deprovision::Webhook { url, secret_file: file, forget: raw.forget })
                }
                (Some(url), Some(file)) => Some(Deprovision::Scim { url, token_file: file, forget: raw.forget }),
                _ => None,
            }
        }
        "manual" => {
            unwanted("url", offset(&raw.url));
            unwanted("secret_file", offset(&raw.secret_file));
            unwanted("token_file", offset(&raw.token_file));
            let within = raw.within.as_ref().and_then(|w| match parse_hours(w.get_ref()) {
                Some(d) => Some(Some(d)),
                None => {
                    problems.push((w.span().start, "within: hours such as \"24h\" or \"72h\", at most 72h".into()));
                    None
                }
            });
            let text = |v: &Option<Spanned<String>>, name: &str, problems: &mut Vec<(usize, String)>| {
                let s = v.as_ref().map(|s| s.get_ref().split_whitespace().collect::<Vec<_>>().join(" "));
                match s {
                    Some(s) if !s.is_empty() && s.chars().count() <= 500 => Some(s),
                    _ => {
                        problems.push((offset(v).unwrap_or(at), format!("{name}: required, at most 500 characters")));
                        None
                    }
                }
            };
            let task_ru = text(&raw.task_ru, "task_ru", &mut problems);
            let task_en = text(&raw.task_en, "task_en", &mut problems);
            match (task_ru, task_en) {
                (Some(task_ru), Some(task_en)) => {
                    Some(Deprovision::Manual { within: within.flatten(), task_ru, task_en })
                }
                _ => None,
            }
        }
        other => {
            problems.push((
                raw.kind.span().start,
                format!("unknown deprovision kind {other:?}; known kinds: {}", Deprovision::KINDS.join(", ")),
            ));
            None
        }
    };
    match result {
        Some(d) if problems.is_empty() => Ok(d),
        _ => Err(problems),
    }
}

/// An https URL, or plain http to this host's loopback (a bridge running beside propusk).
fn check_target(u: &str) -> Result<(), String> {
    let loopback =
        ["http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:", "http://localhost:", "http://localhost/"];
    if loopback.iter().any(|p| u.starts_with(p)) && !u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Ok(());
    }
    check_url(u).map(drop)
}

/// `"24h"` → 24 hours; at most the regulation's 3 days.
fn parse_hours(s: &str) -> Option<Duration> {
    let hours: u64 = s.trim().strip_suffix('h')?.parse().ok()?;
    (1..=72).contains(&hours).then(|| Duration::from_secs(hours * 3600))
}
