//! The OpenID Connect provider's use cases (OIDC Core 1.0, RFC 6749, RFC 7636, RFC 7009,
//! RFC 7662, RP-Initiated and Back-Channel Logout 1.0), one file per endpoint or grant.
//!
//! Codes, access and refresh tokens are random 256-bit strings after the time they were
//! made; only their key (that time, then the SHA-256 of the whole token) is stored, so a
//! copy of the database grants nothing. Access tokens are opaque and checked
//! against the store on every use, so a revocation takes effect at once.

mod authorize;
mod client_auth;
mod clients;
mod grant_client_credentials;
mod grant_code;
mod grant_refresh;
mod issue;
mod logout;
mod resource;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

pub use authorize::{AuthOutcome, AuthRequest, AuthorizeError};
pub use client_auth::ClientCredentials;
pub use clients::{ClientSpec, NewClientSecret};
pub use grant_code::CodeExchange;
pub use logout::{LogoutOutcome, LogoutRequest};
pub use resource::Introspection;

/// An error on the wire of the token, introspection and revocation endpoints
/// (RFC 6749 §5.2), or of the authorization response (§4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self { code, description: description.into() }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }

    pub fn invalid_client() -> Self {
        Self::new("invalid_client", "client authentication failed")
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }

    pub fn server_error() -> Self {
        Self::new("server_error", "the server could not complete the request")
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new("temporarily_unavailable", "try again shortly")
    }
}

impl From<super::AppError> for OAuthError {
    fn from(e: super::AppError) -> Self {
        use super::AppError as E;
        match e {
            E::Busy | E::Unavailable(_) => {
                tracing::warn!(error = %e, "oauth request failed: store or hasher unavailable");
                OAuthError::temporarily_unavailable()
            }
            other => {
                tracing::error!(error = %other, "oauth request failed");
                OAuthError::server_error()
            }
        }
    }
}

impl From<crate::ports::StoreError> for OAuthError {
    fn from(e: crate::ports::StoreError) -> Self {
        super::AppError::from(e).into()
    }
}

/// A new random opaque credential (code, token, secret): 256 bits, base64url.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The stored form of a client secret (and of the other secrets made by `random_token`).
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The hex digits of the time before an [`ordered_token`]'s random part.
const TIME_DIGITS: usize = 12;

/// A new code, access or refresh token (or refresh family): the time in milliseconds,
/// 12 hex digits, then 256 random bits, base64url. The time makes [`token_key`]s grow in
/// the order the tokens were made, so a commit of many new tokens adds to the end of the
/// store's index instead of one random page of it each, and each of those pages would
/// be written to the log and then to the database again.
pub(crate) fn ordered_token() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("{:0width$x}{}", ms & 0xffff_ffff_ffff, random_token(), width = TIME_DIGITS)
}

/// The stored form of a code or token: for an [`ordered_token`], its time, then the
/// SHA-256 of the whole token, hex; for any other string (a token made before tokens
/// carried their time, or anything presented), the SHA-256 alone.
pub(crate) fn token_key(token: &str) -> String {
    match token.get(..TIME_DIGITS) {
        Some(time) if token.len() == TIME_DIGITS + 43 && time.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{time}{}", token_hash(token))
        }
        _ => token_hash(token),
    }
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the SHA-256 of the access token.
pub(crate) fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

/// What the token endpoint returns (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

#[cfg(test)]
pub(crate) mod tests;
