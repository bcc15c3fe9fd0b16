//! What the OpenID Connect use cases need from storage and from the signing keys.
//!
//! Codes and tokens are stored only as SHA-256 hashes; signing keys only encrypted.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{AccountId, SessionTokenHash};
use crate::domain::oidc::{Client, ClientId, SigningAlg};
use crate::domain::time::Timestamp;

/// An authorization code (RFC 6749 §4.1.2), single-use, short-lived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub code_hash: String,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub session_hash: SessionTokenHash,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// An issued access or refresh token (opaque to clients, so revocation is immediate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: String,
    pub kind: TokenKind,
    pub client_id: ClientId,
    /// `None` for client_credentials tokens.
    pub account_id: Option<AccountId>,
    pub session_hash: Option<SessionTokenHash>,
    /// What the token descends from: the code's hash, or the client-credentials grant.
    pub grant_id: String,
    /// The refresh-token family (RFC 9700 §4.14.2): every token rotated from one grant.
    pub family_id: Option<String>,
    pub scope: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// A refresh token already exchanged for a new one; using it again is reuse.
    pub rotated_at: Option<Timestamp>,
}

/// A signing key as stored: the private half encrypted with the node's master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub encrypted_private: String,
    pub public_jwk: String,
    pub created_at: Timestamp,
    /// Published from creation, used for signing from this time on.
    pub activates_at: Timestamp,
}

/// A back-channel logout to deliver to one client (OIDC Back-Channel Logout 1.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutDelivery {
    /// Assigned by the store; 0 before insertion.
    pub id: i64,
    pub client_id: ClientId,
    pub sid: String,
    pub subject: AccountId,
    pub created_at: Timestamp,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A row-level OpenID Connect change; part of a [`super::Change`] batch.
#[derive(Debug, Clone)]
pub enum OidcChange {
    InsertClient {
        client: Client,
        secret_hash: Option<String>,
        at: Timestamp,
    },
    UpdateClientSecret {
        id: ClientId,
        secret_hash: String,
        at: Timestamp,
    },
    /// `NotFound` if there is no such client.
    DeleteClient {
        id: ClientId,
    },
    InsertSigningKey(StoredKey),
    InsertCode(CodeRecord),
    /// Marks a code used; `NotFound` if it does not exist or was used already.
    UseCode {
        code_hash: String,
        at: Timestamp,
    },
    InsertToken(TokenRecord),
    /// Marks a refresh token rotated; `NotFound` if it was rotated or revoked already.
    RotateRefresh {
        token_hash: String,
        at: Timestamp,
    },
    RevokeToken {
        token_hash: String,
        at: Timestamp,
    },
    RevokeGrant {
        grant_id: String,
        at: Timestamp,
    },
    RevokeFamily {
        family_id: String,
        at: Timestamp,
    },
    /// Revokes the tokens bound to a session, except offline ones.
    RevokeSessionTokens {
        session_hash: SessionTokenHash,
        at: Timestamp,
    },
    RevokeAccountTokens {
        account_id: AccountId,
        at: Timestamp,
    },
    /// Records that `client` holds a session of the user (for back-channel logout).
    BindSessionClient {
        session_hash: SessionTokenHash,
        client_id: ClientId,
    },
    EnqueueLogout(LogoutDelivery),
    /// Leases a due delivery to this node until `until`; `NotFound` if another has it.
    ClaimDelivery {
        id: i64,
        now: Timestamp,
        until: Timestamp,
    },
    DeliveryDone {
        id: i64,
        at: Timestamp,
    },
    /// `next_attempt_at: None` gives up.
    DeliveryFailed {
        id: i64,
        attempts: i64,
        next_attempt_at: Option<Timestamp>,
        error: String,
        at: Timestamp,
    },
}

/// The OpenID Connect part of the storage port.
#[async_trait]
pub trait OidcStore: Send + Sync {
    /// A client and its secret hash (confidential clients).
    async fn find_client(&self, id: &ClientId) -> Result<Option<(Client, Option<String>)>, StoreError>;
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    async fn list_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    async fn find_code(&self, code_hash: &str) -> Result<Option<CodeRecord>, StoreError>;
    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// The token with this hash and, in the same read, the account it was issued to
    /// (`None` for a client's own token, or when that account no longer exists).
    async fn find_token_with_account(
        &self,
        token_hash: &str,
    ) -> Result<Option<(TokenRecord, Option<crate::domain::Account>)>, StoreError>;
    /// Clients bound to a session, with their back-channel logout URIs.
    async fn list_session_clients(
        &self,
        session_hash: &SessionTokenHash,
    ) -> Result<Vec<(ClientId, Option<String>)>, StoreError>;
    async fn list_due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<LogoutDelivery>, StoreError>;
    async fn list_deliveries(&self, limit: u32) -> Result<Vec<LogoutDelivery>, StoreError>;
}

/// What can go wrong with signing keys and tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("no signing key for {0}")]
    NoKey(&'static str),
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("signing failed: {0}")]
    Failed(String),
}

/// Signs and verifies JSON Web Tokens with propusk's current keys (RFC 7515, RFC 7519).
pub trait TokenSigner: Send + Sync + 'static {
    fn sign(&self, alg: SigningAlg, typ: &str, claims: &serde_json::Value) -> Result<String, SignError>;
    /// Verifies the signature against every published key; returns the claims (the
    /// caller checks issuer, audience and times).
    fn verify(&self, jws: &str) -> Result<serde_json::Value, SignError>;
    /// The JSON Web Key Set to publish (RFC 7517 §5), as the JSON document served.
    fn jwks(&self) -> std::sync::Arc<str>;
}

/// Delivers a logout token to a client's back-channel logout URI (Back-Channel Logout
/// 1.0 §2.5): an HTTP POST of `logout_token=…`; `Err` with the reason unless it answered 2xx.
#[async_trait]
pub trait LogoutSender: Send + Sync + 'static {
    async fn send(&self, uri: &str, logout_token: &str) -> Result<(), String>;
}
