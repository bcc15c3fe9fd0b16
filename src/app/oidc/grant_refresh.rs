//! `grant_type=refresh_token` (RFC 6749 §6) with rotation on every use; presenting a
//! rotated token again revokes its whole family (RFC 9700 §4.14.2).

use super::issue::Grant;
use super::{OAuthError, TokenResponse, token_key};
use crate::app::App;
use crate::domain::account::AccountStatus;
use crate::domain::oidc::{Client, Scopes};
use crate::ports::oidc::TokenKind;
use crate::ports::{Change, OidcChange, StoreError};

impl App {
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: Option<String>,
        scope: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let token = refresh_token.ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let hash = token_key(&token);
        let record = self
            .store
            .find_token(&hash)
            .await?
            .filter(|t| t.kind == TokenKind::Refresh && t.client_id == client.id)
            .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
        let now = self.clock.now();
        let family = record.family_id.clone().unwrap_or_else(|| record.grant_id.clone());
        if record.rotated_at.is_some() {
            self.revoke_family(&family, client).await?;
            return Err(OAuthError::invalid_grant("the refresh token was already used"));
        }
        if record.revoked_at.is_some() || now >= record.expires_at {
            return Err(OAuthError::invalid_grant("the refresh token is no longer valid"));
        }
        let granted = Scopes::parse_known(&record.scope);
        let scopes = match scope {
            Some(s) => {
                let asked = Scopes::parse_known(&s);
                if !asked.is_subset(&granted) || asked.is_empty() {
                    return Err(OAuthError::new("invalid_scope", "a refresh cannot widen the scope"));
                }
                asked
            }
            None => granted,
        };
        let account_id = record.account_id.clone().ok_or_else(|| OAuthError::invalid_grant("not a user token"))?;
        let account = self
            .store
            .find_account(&account_id)
            .await?
            .filter(|a| a.status == AccountStatus::Active)
            .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
        let (response, mut changes) = self.mint(Grant {
            client,
            account: Some(&account),
            session: record.session_hash.as_ref(),
            scopes: &scopes,
            grant_id: record.grant_id.clone(),
            family: Some(family.clone()),
            nonce: None,
            auth_time: None,
            second_factor: None,
        })?;
        changes.insert(0, Change::Oidc(OidcChange::RotateRefresh { token_hash: hash, at: now }));
        match self.store.commit(changes).await {
            Ok(()) => Ok(response),
            // Rotated by a concurrent request: the same token was used twice.
            Err(StoreError::NotFound("token")) => {
                self.revoke_family(&family, client).await?;
                Err(OAuthError::invalid_grant("the refresh token was already used"))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn revoke_family(&self, family: &str, client: &Client) -> Result<(), OAuthError> {
        tracing::warn!(client = %client.id, "refresh token reused: revoking its family");
        let audit = crate::domain::journal::AuditEvent {
            outcome: "refused",
            ..self.audit("unknown", "oidc.refresh_reuse", Some(client.id.as_str()), None, String::new())
        };
        self.store
            .commit(vec![
                Change::Oidc(OidcChange::RevokeFamily { family_id: family.to_owned(), at: self.clock.now() }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(())
    }
}
