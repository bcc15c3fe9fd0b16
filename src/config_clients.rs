//! OpenID Connect clients declared in the configuration file (`[[client]]`), validated by
//! the same rules as `propusk client add` before start-up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, err};

/// A client declared in the configuration file instead of with `propusk client add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub public: bool,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_client_scopes")]
    pub scopes: String,
    /// Comma-separated roles allowed to use it; empty: every role.
    #[serde(default)]
    pub roles: String,
    #[serde(default = "default_alg")]
    pub id_token_alg: String,
    #[serde(default = "default_access_seconds")]
    pub access_token_seconds: u64,
    #[serde(default = "default_refresh_seconds")]
    pub refresh_token_seconds: u64,
    #[serde(default)]
    pub backchannel_logout_uri: String,
    /// Hex SHA-256 of the secret (`printf %s "$SECRET" | sha256sum`); confidential clients.
    #[serde(default)]
    pub secret_sha256: String,
}

fn default_client_scopes() -> String {
    "openid profile email roles groups".into()
}
fn default_alg() -> String {
    "RS256".into()
}
fn default_access_seconds() -> u64 {
    600
}
fn default_refresh_seconds() -> u64 {
    30 * 86_400
}

/// A validated declared client and its secret's stored form.
#[derive(Debug, Clone)]
pub struct DeclaredClient {
    pub spec: crate::app::oidc::ClientSpec,
    pub secret_hash: Option<String>,
}

pub(super) fn declared_client(i: usize, c: &RawClient) -> Result<DeclaredClient, ConfigError> {
    use crate::domain::oidc::{Client, ClientId, ClientKind, Scopes, SigningAlg};
    let key = |field: &str| format!("client[{i}].{field}");
    let kind = if c.public { ClientKind::Public } else { ClientKind::Confidential };
    let roles = crate::domain::account::Roles::parse_csv(&c.roles).map_err(|e| err(&key("roles"), e.to_string()))?;
    let alg = SigningAlg::parse(&c.id_token_alg).ok_or_else(|| err(&key("id_token_alg"), "expected RS256 or ES256"))?;
    let secret = c.secret_sha256.trim().to_ascii_lowercase();
    let secret_hash = match kind {
        ClientKind::Confidential if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) => Some(secret),
        ClientKind::Confidential => {
            return Err(err(&key("secret_sha256"), "a confidential client needs the hex SHA-256 of its secret"));
        }
        ClientKind::Public if secret.is_empty() => None,
        ClientKind::Public => return Err(err(&key("secret_sha256"), "a public client has no secret")),
    };
    let spec = crate::app::oidc::ClientSpec {
        id: c.id.clone(),
        name: c.name.clone(),
        kind,
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        scopes: c.scopes.clone(),
        allowed_roles: roles.clone(),
        id_token_alg: alg,
        access_token_ttl: Duration::from_secs(c.access_token_seconds),
        refresh_token_ttl: Duration::from_secs(c.refresh_token_seconds),
        backchannel_logout_uri: Some(c.backchannel_logout_uri.clone()).filter(|u| !u.is_empty()),
    };
    // The same rules as `propusk client add`, checked before start-up.
    let id = ClientId::parse(&c.id).ok_or_else(|| err(&key("id"), "2 to 64 of A-Z a-z 0-9 . _ -"))?;
    let probe = Client {
        id,
        name: spec.name.clone(),
        kind,
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: spec.post_logout_redirect_uris.clone(),
        scopes: Scopes::parse_known(&spec.scopes),
        allowed_roles: roles,
        id_token_alg: alg,
        access_token_ttl: spec.access_token_ttl,
        refresh_token_ttl: spec.refresh_token_ttl,
        backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
    };
    probe.validate().map_err(|e| err(&format!("client[{i}]"), e.to_string()))?;
    Ok(DeclaredClient { spec, secret_hash })
}
