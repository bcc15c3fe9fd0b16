//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).
//!
//! A code works once and for 60 s. Presenting it again revokes every token issued from
//! it (RFC 6749 §4.1.2: "SHOULD revoke … all tokens previously issued based on that
//! authorization code").

use super::issue::Grant;
use super::{OAuthError, TokenResponse, ordered_token, token_key};
use crate::app::App;
use crate::domain::account::AccountStatus;
use crate::domain::oidc::{Client, Scopes, pkce_matches};
use crate::ports::{Change, OidcChange, StoreError};

#[derive(Debug, Default)]
pub struct CodeExchange {
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

impl App {
    pub async fn exchange_code(&self, client: &Client, req: CodeExchange) -> Result<TokenResponse, OAuthError> {
        let code = req.code.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let hash = token_key(&code);
        let record = self.store.find_code(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown code"))?;
        let now = self.clock.now();
        if record.client_id != client.id {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if record.used_at.is_some() {
            self.revoke_replayed(&hash).await?;
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
        if now >= record.expires_at {
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        if req.redirect_uri.as_deref() != Some(record.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        match (&record.code_challenge, req.code_verifier.as_deref()) {
            (Some(c), Some(v)) if pkce_matches(v, c) => {}
            (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("code_verifier does not match")),
            (Some(_), None) => return Err(OAuthError::invalid_request("code_verifier is required")),
            (None, Some(_)) => return Err(OAuthError::invalid_grant("no code_challenge was sent for this code")),
            (None, None) => {}
        }
        let account = self
            .store
            .find_account(&record.account_id)
            .await?
            .filter(|a| a.status == AccountStatus::Active)
            .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
        let scopes = Scopes::parse_known(&record.scope);
        let second_factor = self.store.find_session(&record.session_hash).await?.map(|s| s.second_factor_at.is_some());
        let (response, mut changes) = self.mint(Grant {
            client,
            account: Some(&account),
            session: Some(&record.session_hash),
            scopes: &scopes,
            grant_id: hash.clone(),
            family: Some(ordered_token()),
            nonce: record.nonce.as_deref(),
            auth_time: Some(record.auth_time),
            second_factor,
        })?;
        changes.insert(0, Change::Oidc(OidcChange::UseCode { code_hash: hash.clone(), at: now }));
        changes.push(Change::InsertAudit(self.audit(
            account.login.as_str(),
            "oidc.token",
            Some(client.id.as_str()),
            None,
            format!("grant=authorization_code scope={}", response.scope),
        )));
        match self.store.commit(changes).await {
            Ok(()) => Ok(response),
            // Used by a concurrent request between our read and our write: a replay.
            Err(StoreError::NotFound("code")) => {
                self.revoke_replayed(&hash).await?;
                Err(OAuthError::invalid_grant("the code was already used"))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn revoke_replayed(&self, code_hash: &str) -> Result<(), OAuthError> {
        tracing::warn!("authorization code replayed: revoking the tokens issued from it");
        let now = self.clock.now();
        let audit = crate::domain::journal::AuditEvent {
            outcome: "refused",
            ..self.audit("unknown", "oidc.code_replay", None, None, String::new())
        };
        self.store
            .commit(vec![
                Change::Oidc(OidcChange::RevokeGrant { grant_id: code_hash.to_owned(), at: now }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(())
    }
}
