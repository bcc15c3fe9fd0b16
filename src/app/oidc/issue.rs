//! Minting a set of tokens: an opaque access token, a refresh token in its family, and
//! an ID token signed with the client's algorithm (OIDC Core §2, §3.1.3.6).

use serde_json::{Value, json};

use super::{OAuthError, TokenResponse, at_hash, ordered_token, token_key};
use crate::app::App;
use crate::domain::account::Account;
use crate::domain::ids::SessionTokenHash;
use crate::domain::oidc::{Client, Scopes, user_claims};
use crate::domain::time::Timestamp;
use crate::ports::oidc::{TokenKind, TokenRecord};
use crate::ports::{Change, OidcChange};

/// Who and what the tokens are for.
pub(super) struct Grant<'a> {
    pub client: &'a Client,
    pub account: Option<&'a Account>,
    pub session: Option<&'a SessionTokenHash>,
    pub scopes: &'a Scopes,
    pub grant_id: String,
    /// `Some` to issue a refresh token in this family.
    pub family: Option<String>,
    pub nonce: Option<&'a str>,
    pub auth_time: Option<Timestamp>,
    /// Whether the session passed the second factor (D-5): the ID token's `amr`
    /// (RFC 8176 `pwd`, `otp`); `None` when no sign-in stands behind the grant.
    pub second_factor: Option<bool>,
}

impl App {
    /// The response and the rows that record it; the caller commits them with its own.
    pub(super) fn mint(&self, g: Grant<'_>) -> Result<(TokenResponse, Vec<Change>), OAuthError> {
        let now = self.clock.now();
        let scope = g.scopes.to_space_separated();
        let access = ordered_token();
        let record = |token: &str, kind: TokenKind, ttl: std::time::Duration| TokenRecord {
            token_hash: token_key(token),
            kind,
            client_id: g.client.id.clone(),
            account_id: g.account.map(|a| a.id.clone()),
            session_hash: g.session.cloned(),
            grant_id: g.grant_id.clone(),
            family_id: g.family.clone(),
            scope: scope.clone(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
            revoked_at: None,
            rotated_at: None,
        };
        let mut changes =
            vec![Change::Oidc(OidcChange::InsertToken(record(&access, TokenKind::Access, g.client.access_token_ttl)))];
        let refresh = g.family.as_ref().map(|_| {
            let r = ordered_token();
            changes.push(Change::Oidc(OidcChange::InsertToken(record(
                &r,
                TokenKind::Refresh,
                g.client.refresh_token_ttl,
            ))));
            r
        });
        let id_token = match g.account {
            Some(account) if g.scopes.contains("openid") => Some(self.id_token(&g, account, &access, now)?),
            _ => None,
        };
        let response = TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: g.client.access_token_ttl.as_secs(),
            refresh_token: refresh,
            id_token,
            scope,
        };
        Ok((response, changes))
    }

    fn id_token(&self, g: &Grant<'_>, account: &Account, access: &str, now: Timestamp) -> Result<String, OAuthError> {
        let mut claims = user_claims(account, g.scopes);
        let iat = now.as_millis() / 1000;
        let exp = iat + i64::try_from(g.client.access_token_ttl.as_secs()).unwrap_or(3600);
        claims.insert("iss".into(), Value::String(self.issuer.clone()));
        claims.insert("aud".into(), Value::String(g.client.id.to_string()));
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(exp));
        claims.insert("at_hash".into(), Value::String(at_hash(access)));
        if let Some(t) = g.auth_time {
            claims.insert("auth_time".into(), json!(t.as_millis() / 1000));
        }
        // OIDC Core §2 `amr`, with RFC 8176 §2 values.
        match g.second_factor {
            Some(true) => {
                claims.insert("amr".into(), json!(["pwd", "otp"]));
            }
            Some(false) => {
                claims.insert("amr".into(), json!(["pwd"]));
            }
            None => {}
        }
        if let Some(n) = g.nonce {
            claims.insert("nonce".into(), Value::String(n.to_owned()));
        }
        if let Some(s) = g.session {
            claims.insert("sid".into(), Value::String(s.as_str().to_owned()));
        }
        self.signer.sign(g.client.id_token_alg, "JWT", &Value::Object(claims)).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an ID token");
            OAuthError::server_error()
        })
    }
}
