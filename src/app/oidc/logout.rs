//! Ending sessions towards clients: RP-Initiated Logout 1.0 (`end_session_endpoint`) and
//! Back-Channel Logout 1.0, delivered with retries and backoff, each outcome recorded.
//!
//! Every way a session ends (sign-out, "end this session", "end all others", password
//! change or reset, suspension) goes through [`App::logout_changes`], so the clients
//! holding that session hear of it and the tokens bound to it stop working.

use std::time::Duration;

use serde_json::json;

use super::{OAuthError, random_token};
use crate::app::{App, AppError, CurrentSession};
use crate::domain::ids::{AccountId, SessionTokenHash};
use crate::domain::oidc::ClientId;
use crate::domain::time::Timestamp;
use crate::ports::oidc::LogoutDelivery;
use crate::ports::{Change, LogoutSender, OidcChange, StoreError};

/// Attempts before a delivery is given up (the last one about an hour after the first).
const MAX_ATTEMPTS: i64 = 12;
/// How long one node holds a delivery it is sending.
const LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The person must confirm (no valid `id_token_hint` for their session).
    Confirm,
    /// Signed out (or was not signed in); go here next, if anywhere.
    Done { redirect: Option<String> },
}

impl App {
    /// The rows that end `session` towards clients: its tokens revoked, a back-channel
    /// logout queued for each client that holds it and listens.
    pub(crate) async fn logout_changes(
        &self,
        account: &AccountId,
        session: &SessionTokenHash,
        now: Timestamp,
    ) -> Result<Vec<Change>, StoreError> {
        let mut changes =
            vec![Change::Oidc(OidcChange::RevokeSessionTokens { session_hash: session.clone(), at: now })];
        for (client_id, uri) in self.store.list_session_clients(session).await? {
            if uri.is_some() {
                changes.push(Change::Oidc(OidcChange::EnqueueLogout(LogoutDelivery {
                    id: 0,
                    client_id,
                    sid: session.as_str().to_owned(),
                    subject: account.clone(),
                    created_at: now,
                    attempts: 0,
                    next_attempt_at: now,
                    delivered_at: None,
                    failed_at: None,
                    last_error: None,
                })));
            }
        }
        Ok(changes)
    }

    /// RP-initiated logout. `confirmed` is true when the person confirmed on our page.
    pub async fn end_session_request(
        &self,
        req: &LogoutRequest,
        session: Option<&CurrentSession>,
        confirmed: bool,
        ip: Option<&str>,
    ) -> Result<LogoutOutcome, AppError> {
        let hint = req.id_token_hint.as_deref().and_then(|t| self.signer.verify(t).ok());
        let hint_client = hint.as_ref().and_then(|c| c["aud"].as_str()).map(str::to_owned);
        let client_id = match (req.client_id.as_deref(), hint_client.as_deref()) {
            (Some(a), Some(b)) if a != b => return Err(AppError::BadLogoutRequest),
            (Some(a), _) | (None, Some(a)) => Some(a.to_owned()),
            (None, None) => None,
        };
        if hint.as_ref().is_some_and(|c| c["iss"].as_str() != Some(self.issuer.as_str())) {
            return Err(AppError::BadLogoutRequest);
        }
        // OIDC RP-Initiated Logout §3: the URI must be registered for the client.
        let redirect = match &req.post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                let id = client_id.as_deref().and_then(ClientId::parse).ok_or(AppError::BadLogoutRequest)?;
                let (client, _) = self.store.find_client(&id).await?.ok_or(AppError::BadLogoutRequest)?;
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Err(AppError::BadLogoutRequest);
                }
                let sep = if uri.contains('?') { '&' } else { '?' };
                Some(match &req.state {
                    Some(s) => format!("{uri}{sep}{}", serde_urlencoded::to_string([("state", s)]).unwrap_or_default()),
                    None => uri.clone(),
                })
            }
        };
        let Some(s) = session else { return Ok(LogoutOutcome::Done { redirect }) };
        let hint_matches = hint.as_ref().is_some_and(|c| c["sub"].as_str() == Some(s.account.id.as_str()));
        if !hint_matches && !confirmed {
            return Ok(LogoutOutcome::Confirm);
        }
        self.sign_out(s, ip).await?;
        Ok(LogoutOutcome::Done { redirect })
    }

    /// Sends the due back-channel logouts; returns how many were delivered.
    pub async fn deliver_logouts(&self, sender: &dyn LogoutSender) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut delivered = 0;
        for d in self.store.list_due_deliveries(now, 50).await? {
            let claim = OidcChange::ClaimDelivery { id: d.id, now, until: now.saturating_add(LEASE) };
            match self.store.commit(vec![Change::Oidc(claim)]).await {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let result = match self.store.find_client(&d.client_id).await? {
                Some((client, _)) => match &client.backchannel_logout_uri {
                    Some(uri) => match self.logout_token(&client, &d) {
                        Ok(token) => sender.send(uri, &token).await,
                        Err(e) => Err(e.to_string()),
                    },
                    None => Err("the client no longer has a back-channel logout URI".into()),
                },
                None => Err("the client was removed".into()),
            };
            let at = self.clock.now();
            let attempts = d.attempts + 1;
            let change = match result {
                Ok(()) => {
                    delivered += 1;
                    OidcChange::DeliveryDone { id: d.id, at }
                }
                Err(error) => {
                    tracing::warn!(client = %d.client_id, attempts, %error, "back-channel logout not delivered");
                    let next = (attempts < MAX_ATTEMPTS).then(|| {
                        let backoff =
                            Duration::from_secs(2u64.saturating_pow(u32::try_from(attempts).unwrap_or(12)).min(3600));
                        at.saturating_add(backoff)
                    });
                    OidcChange::DeliveryFailed { id: d.id, attempts, next_attempt_at: next, error, at }
                }
            };
            self.store.commit(vec![Change::Oidc(change)]).await?;
        }
        Ok(delivered)
    }

    /// A logout token (Back-Channel Logout 1.0 §2.4), signed with the client's algorithm.
    fn logout_token(&self, client: &crate::domain::oidc::Client, d: &LogoutDelivery) -> Result<String, OAuthError> {
        let iat = self.clock.now().as_millis() / 1000;
        let claims = json!({
            "iss": self.issuer,
            "aud": client.id.as_str(),
            "iat": iat,
            "exp": iat + 120,
            "jti": random_token(),
            "sub": d.subject.as_str(),
            "sid": d.sid,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        self.signer.sign(client.id_token_alg, "logout+jwt", &claims).map_err(|_| OAuthError::server_error())
    }
}
