//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential service acting on its
//! own behalf; no user, no refresh token, no ID token.

use super::issue::Grant;
use super::{OAuthError, TokenResponse};
use crate::app::App;
use crate::domain::oidc::{Client, ClientKind, Scopes};
use crate::ports::Change;

impl App {
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.kind != ClientKind::Confidential {
            return Err(OAuthError::new("unauthorized_client", "only confidential clients may use this grant"));
        }
        // User scopes make no sense without a user.
        let service = Scopes::parse_known("roles groups");
        let allowed = client.scopes.intersect(&service);
        let scopes = match scope {
            Some(s) => {
                let asked = Scopes::parse_known(&s);
                if !asked.is_subset(&allowed) {
                    return Err(OAuthError::new("invalid_scope", "the client may not request these scopes"));
                }
                asked
            }
            None => allowed,
        };
        let (response, mut changes) = self.mint(Grant {
            client,
            account: None,
            session: None,
            scopes: &scopes,
            grant_id: format!("client_credentials:{}", client.id),
            family: None,
            nonce: None,
            auth_time: None,
            second_factor: None,
        })?;
        changes.push(Change::InsertAudit(self.audit(
            client.id.as_str(),
            "oidc.token",
            Some(client.id.as_str()),
            None,
            "grant=client_credentials".into(),
        )));
        self.store.commit(changes).await?;
        Ok(response)
    }
}
