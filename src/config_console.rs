//! `[console]`: the administrators' console and its JSON API.

use serde::{Deserialize, Serialize};

use super::{ConfigError, err};
use crate::domain::Role;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConsole {
    /// Service clients allowed to call `/api/admin` with a `client_credentials` token,
    /// each as `CLIENT_ID=ROLE`: the client acts with that role's permissions (for
    /// example `"reports-export=inspector"` reads, `"hr-sync=eios_admin"` manages).
    pub api_clients: Vec<String>,
}

/// `console.api_clients` as (client id, role): each role must open part of the console.
pub fn console_api_clients(raw: &RawConsole) -> Result<Vec<(String, Role)>, ConfigError> {
    raw.api_clients
        .iter()
        .map(|entry| {
            let (client, role) = entry
                .split_once('=')
                .ok_or_else(|| err("console.api_clients", format!("expected CLIENT_ID=ROLE, got {entry:?}")))?;
            let role: Role = role
                .trim()
                .parse()
                .map_err(|e: crate::domain::account::UnknownRole| err("console.api_clients", e.to_string()))?;
            if !crate::domain::console::Permissions::of(&crate::domain::Roles::new([role])).any() {
                return Err(err("console.api_clients", format!("the role {role} has no part of the console")));
            }
            Ok((client.trim().to_owned(), role))
        })
        .collect()
}
