//! OpenID Connect rules that need no I/O: clients and their registration rules, scopes
//! and the claims each releases, PKCE (RFC 7636), token lifetimes.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::account::{Account, Role, Roles};

/// An OAuth client id: 2 to 64 of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(s: &str) -> Option<Self> {
        (2..=64)
            .contains(&s.len())
            .then_some(())
            .filter(|_| s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
            .map(|_| Self(s.to_owned()))
    }

    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Signing algorithms propusk offers for ID tokens (RS256 is mandatory, OIDC Core §15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum SigningAlg {
    RS256,
    ES256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The scopes propusk knows; anything else requested is dropped (RFC 6749 §3.3).
pub const KNOWN_SCOPES: [&str; 6] = ["openid", "profile", "email", "roles", "groups", "offline_access"];

/// A set of scopes, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated `scope` value (RFC 6749 §3.3), keeping known scopes only.
    pub fn parse_known(s: &str) -> Self {
        Self(s.split(' ').filter(|p| KNOWN_SCOPES.contains(p)).map(str::to_owned).collect())
    }

    pub fn contains(&self, s: &str) -> bool {
        self.0.contains(s)
    }

    /// The scopes of `self` that `allowed` permits.
    pub fn intersect(&self, allowed: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&allowed.0).cloned().collect())
    }

    pub fn is_subset(&self, of: &Scopes) -> bool {
        self.0.is_subset(&of.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_space_separated(&self) -> String {
        self.0.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Has a secret (server-side web apps).
    Confidential,
    /// Has none and must use PKCE (browser and native apps).
    Public,
}

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(serialize_with = "ser_scopes")]
    pub scopes: Scopes,
    /// Roles that may use this client; empty means every role (until role policies decide).
    #[serde(serialize_with = "ser_roles")]
    pub allowed_roles: Roles,
    pub id_token_alg: SigningAlg,
    #[serde(serialize_with = "ser_secs")]
    pub access_token_ttl: Duration,
    #[serde(serialize_with = "ser_secs")]
    pub refresh_token_ttl: Duration,
    pub backchannel_logout_uri: Option<String>,
}

fn ser_scopes<S: serde::Serializer>(v: &Scopes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_space_separated())
}

fn ser_roles<S: serde::Serializer>(v: &Roles, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(v, s)
}

fn ser_secs<S: serde::Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.as_secs())
}

impl Client {
    /// Whether an account may use this client (a per-client role list until the role
    /// policies decide, R-3).
    pub fn admits(&self, account: &Account) -> bool {
        self.allowed_roles.is_empty() || account.roles.iter().any(|r| self.allowed_roles.contains(r))
    }
}

/// Why a client registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientProblem {
    #[error("client id: 2 to 64 of A-Z a-z 0-9 . _ -")]
    Id,
    #[error("name: required, at most 200 characters")]
    Name,
    #[error("redirect URI {0:?}: must be an absolute https URI without a fragment (http only for loopback)")]
    RedirectUri(String),
    #[error("at least one redirect URI is required")]
    NoRedirectUri,
    #[error("back-channel logout URI {0:?}: must be https (http only for loopback)")]
    BackchannelUri(String),
    #[error("scopes: must include openid")]
    NoOpenid,
    #[error("token lifetimes: access 60 s to 1 day, refresh 1 minute to 180 days")]
    Lifetime,
}

/// Checks a redirect or logout URI: absolute, no fragment, https unless loopback
/// (RFC 9700 §2.1, RFC 8252 §7.3).
pub fn valid_redirect_uri(uri: &str) -> bool {
    if uri.len() > 2000 || uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_owned()
    };
    if host.is_empty() {
        return false;
    }
    match scheme {
        "https" => true,
        "http" => matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost"),
        _ => false,
    }
}

impl Client {
    pub fn validate(&self) -> Result<(), ClientProblem> {
        if ClientId::parse(self.id.as_str()).is_none() {
            return Err(ClientProblem::Id);
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(ClientProblem::Name);
        }
        if self.redirect_uris.is_empty() {
            return Err(ClientProblem::NoRedirectUri);
        }
        for u in self.redirect_uris.iter().chain(&self.post_logout_redirect_uris) {
            if !valid_redirect_uri(u) {
                return Err(ClientProblem::RedirectUri(u.clone()));
            }
        }
        if let Some(u) = &self.backchannel_logout_uri {
            if !valid_redirect_uri(u) {
                return Err(ClientProblem::BackchannelUri(u.clone()));
            }
        }
        if !self.scopes.contains("openid") {
            return Err(ClientProblem::NoOpenid);
        }
        let a = self.access_token_ttl.as_secs();
        let r = self.refresh_token_ttl.as_secs();
        if !(60..=86_400).contains(&a) || !(60..=180 * 86_400).contains(&r) {
            return Err(ClientProblem::Lifetime);
        }
        Ok(())
    }
}

/// PKCE `S256` (RFC 7636 §4.6): the verifier's SHA-256, base64url without padding,
/// equals the challenge. A verifier of the wrong shape never matches (§4.1).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let shape_ok = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    shape_ok && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A well-formed S256 challenge: 43 base64url characters.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The user claims a client receives for the granted scopes (OIDC Core §5.4; R-14:
/// each resource receives only the attributes it needs).
pub fn user_claims(account: &Account, scopes: &Scopes) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut m = serde_json::Map::new();
    m.insert("sub".into(), Value::String(account.id.to_string()));
    if scopes.contains("profile") {
        m.insert("name".into(), Value::String(account.full_name.clone()));
        m.insert("preferred_username".into(), Value::String(account.login.to_string()));
    }
    if scopes.contains("email") {
        if let Some(e) = &account.email {
            m.insert("email".into(), Value::String(e.clone()));
            m.insert("email_verified".into(), Value::Bool(false));
        }
    }
    if scopes.contains("roles") {
        let roles: Vec<Value> = account.roles.iter().map(|r: Role| Value::String(r.as_str().into())).collect();
        m.insert("roles".into(), Value::Array(roles));
    }
    if scopes.contains("groups") {
        let groups: Vec<Value> =
            account.study_group.iter().chain(account.department.iter()).map(|g| Value::String(g.clone())).collect();
        m.insert("groups".into(), Value::Array(groups));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::AccountStatus;
    use crate::domain::ids::{AccountId, Login};
    use crate::domain::time::Timestamp;

    #[test]
    fn redirect_uris() {
        let cases = [
            ("https://moodle.college.example/admin/oauth2callback.php", true),
            ("https://app.example:8443/cb?x=1", true),
            ("http://127.0.0.1:5000/callback", true),
            ("http://localhost/cb", true),
            ("http://[::1]:9/cb", true),
            ("http://moodle.college.example/cb", false),
            ("https://app.example/cb#frag", false),
            ("javascript:alert(1)", false),
            ("https:///nohost", false),
            ("ftp://x.example/", false),
            ("https://a.example/ b", false),
            ("http://127.0.0.1.evil.example/cb", false),
        ];
        for (u, ok) in cases {
            assert_eq!(valid_redirect_uri(u), ok, "{u}");
        }
    }

    #[test]
    fn pkce_s256_appendix_b() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(valid_challenge(challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(!valid_challenge("plain-value"));
    }

    #[test]
    fn scopes_keep_known_ones_and_claims_follow_scopes() {
        let s = Scopes::parse_known("openid  profile admin email");
        assert_eq!(s.to_space_separated(), "email openid profile");
        let account = Account {
            id: AccountId::from_stored("id-1".into()),
            login: Login::parse("ivanov.ii").expect("login"),
            full_name: "Иванов Иван".into(),
            email: Some("ivanov@college.example".into()),
            roles: Roles::new([Role::Student]),
            study_group: Some("ИС-21".into()),
            department: None,
            external_id: Some("secret-register-number".into()),
            status: AccountStatus::Active,
            password_must_change: false,
            password_expires_at: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        };
        let only_openid = user_claims(&account, &Scopes::parse_known("openid"));
        assert_eq!(only_openid.keys().collect::<Vec<_>>(), ["sub"]);
        let all = user_claims(&account, &Scopes::parse_known("openid profile email roles groups"));
        assert_eq!(all["preferred_username"], "ivanov.ii");
        assert_eq!(all["roles"], serde_json::json!(["student"]));
        assert_eq!(all["groups"], serde_json::json!(["ИС-21"]));
        assert!(!serde_json::to_string(&all).expect("json").contains("secret-register-number"));
    }
}
