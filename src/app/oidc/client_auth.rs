//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3.1: `client_secret_basic` and `client_secret_post`; public clients
//! identify themselves with `client_id` alone, OIDC Core §9 `none`).

use subtle::ConstantTimeEq as _;

use super::{OAuthError, token_hash};
use crate::app::App;
use crate::domain::oidc::{Client, ClientId, ClientKind};

/// What a request presented to identify its client.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub secret: Option<String>,
}

impl App {
    /// The client that made the request, or `invalid_client`.
    pub async fn authenticate_client(&self, creds: &ClientCredentials) -> Result<Client, OAuthError> {
        let id = creds.client_id.as_deref().and_then(ClientId::parse).ok_or_else(OAuthError::invalid_client)?;
        let (client, stored) = self.store.find_client(&id).await?.ok_or_else(OAuthError::invalid_client)?;
        match (client.kind, creds.secret.as_deref(), stored) {
            (ClientKind::Confidential, Some(secret), Some(hash)) => {
                if bool::from(token_hash(secret).as_bytes().ct_eq(hash.as_bytes())) {
                    Ok(client)
                } else {
                    Err(OAuthError::invalid_client())
                }
            }
            (ClientKind::Public, None, _) => Ok(client),
            _ => Err(OAuthError::invalid_client()),
        }
    }
}
