//! Using and ending tokens: UserInfo (OIDC Core §5.3), introspection (RFC 7662) and
//! revocation (RFC 7009). Every check reads the store, so a revoked token, an ended
//! session or a suspended account is refused at once.

use serde_json::{Map, Value, json};

use super::{OAuthError, token_key};
use crate::app::App;
use crate::domain::account::{Account, AccountStatus};
use crate::domain::oidc::{Client, Scopes, user_claims};
use crate::ports::oidc::{TokenKind, TokenRecord};
use crate::ports::{Change, OidcChange};

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` or the token's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Introspection(pub Value);

impl App {
    /// The live token behind `token`, with its account when it has one; `None` when the
    /// token is unknown, expired, revoked or its account is no longer active.
    async fn live_token(&self, token: &str) -> Result<Option<(TokenRecord, Option<Account>)>, OAuthError> {
        let Some((record, account)) = self.store.find_token_with_account(&token_key(token)).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if record.revoked_at.is_some() || now >= record.expires_at || record.rotated_at.is_some() {
            return Ok(None);
        }
        let account = match (&record.account_id, account) {
            (None, _) => None,
            (Some(_), Some(a)) if a.status == AccountStatus::Active => Some(a),
            // The account is gone or no longer active: so are its tokens.
            (Some(_), _) => return Ok(None),
        };
        Ok(Some((record, account)))
    }

    /// The client of a live service access token (`client_credentials`, no user), or
    /// `None`: for propusk's own APIs that automation calls.
    pub async fn service_client(&self, access_token: &str) -> Result<Option<String>, OAuthError> {
        Ok(match self.live_token(access_token).await? {
            Some((t, None)) if t.kind == TokenKind::Access && t.account_id.is_none() => Some(t.client_id.to_string()),
            _ => None,
        })
    }

    /// The claims UserInfo returns for a bearer access token, or `None` (→ 401).
    pub async fn userinfo(&self, access_token: &str) -> Result<Option<Map<String, Value>>, OAuthError> {
        match self.live_token(access_token).await? {
            Some((t, Some(account))) if t.kind == TokenKind::Access => {
                let scopes = Scopes::parse_known(&t.scope);
                Ok(scopes.contains("openid").then(|| user_claims(&account, &scopes)))
            }
            _ => Ok(None),
        }
    }

    pub async fn introspect(&self, _caller: &Client, token: &str) -> Result<Introspection, OAuthError> {
        let Some((t, account)) = self.live_token(token).await? else {
            return Ok(Introspection(json!({ "active": false })));
        };
        let mut v = json!({
            "active": true,
            "scope": t.scope,
            "client_id": t.client_id.as_str(),
            "token_type": if t.kind == TokenKind::Access { "Bearer" } else { "refresh_token" },
            "exp": t.expires_at.as_millis() / 1000,
            "iat": t.created_at.as_millis() / 1000,
            "iss": self.issuer,
            "aud": t.client_id.as_str(),
            "sub": account.as_ref().map_or_else(|| t.client_id.to_string(), |a| a.id.to_string()),
        });
        if let Some(a) = account {
            v["username"] = Value::String(a.login.to_string());
        }
        Ok(Introspection(v))
    }

    /// Revokes a token of the calling client; unknown tokens and other clients' tokens
    /// are ignored, as RFC 7009 §2.2 requires (the answer is always 200).
    pub async fn revoke(&self, caller: &Client, token: &str) -> Result<(), OAuthError> {
        let Some(t) = self.store.find_token(&token_key(token)).await? else { return Ok(()) };
        if t.client_id != caller.id || t.revoked_at.is_some() {
            return Ok(());
        }
        let at = self.clock.now();
        let change = match (t.kind, &t.family_id) {
            // RFC 7009 §2.1: revoking a refresh token also ends what was issued with it.
            (TokenKind::Refresh, Some(f)) => OidcChange::RevokeFamily { family_id: f.clone(), at },
            _ => OidcChange::RevokeToken { token_hash: t.token_hash.clone(), at },
        };
        let audit = self.audit(
            caller.id.as_str(),
            "oidc.revoke",
            t.account_id.as_ref().map(|a| a.as_str()),
            None,
            String::new(),
        );
        self.store.commit(vec![Change::Oidc(change), Change::InsertAudit(audit)]).await?;
        Ok(())
    }
}
