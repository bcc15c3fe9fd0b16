//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): the code flow with
//! PKCE (RFC 7636), exact redirect URI matching, `state`, `nonce`, `prompt`, `max_age`.
//!
//! Until the client and its redirect URI are known to be genuine, an error is shown as a
//! page and never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11): propusk is no open
//! redirector. After that, errors go back to the client with `state` and `iss` (RFC 9207).

use std::time::Duration;

use super::{ordered_token, token_key};
use crate::app::{App, CurrentSession};
use crate::domain::oidc::{Client, ClientId, ClientKind, Scopes, valid_challenge};
use crate::ports::oidc::CodeRecord;
use crate::ports::{Change, OidcChange};

/// Codes live at most this long (the issue's ≤ 60 s; RFC 6749 §4.1.2 recommends ≤ 10 min).
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// The request's parameters, each present at most once (the HTTP layer refuses repeats).
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// Where the authorization request goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The person must sign in (again, if `force`) and come back.
    SignIn { force: bool, login_hint: Option<String> },
    /// An issued password must be changed first.
    ChangePassword,
    /// The rules of the environment must be accepted first.
    AcceptRules,
    /// The role policy refuses this person this resource: a page says so, naming
    /// the catalogue's resource and its owner to contact when the client is in it.
    Refused { client_name: String, resource: Option<Box<crate::policy::Resource>> },
    /// Redirect back to the client with a code.
    Code { redirect_uri: String, code: String, state: Option<String> },
}

/// Why an authorization request fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show a page, never redirect.
    Page(&'static str),
    /// Tell the client (RFC 6749 §4.1.2.1).
    Redirect { redirect_uri: String, error: &'static str, description: String, state: Option<String> },
}

impl App {
    pub async fn authorize(
        &self,
        req: AuthRequest,
        session: Option<&CurrentSession>,
    ) -> Result<AuthOutcome, AuthorizeError> {
        let client = self.trusted_client(&req).await?;
        let redirect_uri = req.redirect_uri.clone().unwrap_or_default();
        let fail = |error: &'static str, description: &str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.to_owned(),
            state: req.state.clone(),
        };
        if req.request.is_some() {
            return Err(fail("request_not_supported", "request objects are not supported"));
        }
        if req.request_uri.is_some() {
            return Err(fail("request_uri_not_supported", "request_uri is not supported"));
        }
        match req.response_type.as_deref() {
            Some("code") => {}
            None => return Err(fail("invalid_request", "response_type is required")),
            Some(_) => return Err(fail("unsupported_response_type", "only the code flow is supported")),
        }
        if req.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(fail("invalid_request", "only response_mode=query is supported"));
        }
        let requested = Scopes::parse_known(req.scope.as_deref().unwrap_or(""));
        if !requested.contains("openid") {
            return Err(fail("invalid_scope", "the openid scope is required"));
        }
        let scopes = requested.intersect(&client.scopes);
        // RFC 7636 §4.4.1; plain is refused (RFC 9700 §2.1.1).
        let challenge = match (req.code_challenge.as_deref(), req.code_challenge_method.as_deref()) {
            (Some(c), Some("S256")) if valid_challenge(c) => Some(c.to_owned()),
            (Some(_), Some("S256")) => return Err(fail("invalid_request", "code_challenge is malformed")),
            (Some(_), Some(_)) => return Err(fail("invalid_request", "only code_challenge_method=S256 is supported")),
            (Some(_), None) => return Err(fail("invalid_request", "code_challenge_method=S256 is required")),
            (None, Some(_)) => return Err(fail("invalid_request", "code_challenge is missing")),
            (None, None) if client.kind == ClientKind::Public => {
                return Err(fail("invalid_request", "public clients must use PKCE with S256"));
            }
            (None, None) => None,
        };
        if req.nonce.as_ref().is_some_and(|n| n.len() > 512) || req.state.as_ref().is_some_and(|s| s.len() > 2048) {
            return Err(fail("invalid_request", "state or nonce is too long"));
        }
        let prompts: Vec<&str> = req.prompt.as_deref().unwrap_or("").split(' ').filter(|p| !p.is_empty()).collect();
        if prompts.iter().any(|p| !matches!(*p, "none" | "login")) {
            return Err(fail("invalid_request", "prompt may be none or login"));
        }
        let none = prompts.contains(&"none");
        if none && prompts.len() > 1 {
            return Err(fail("invalid_request", "prompt=none cannot be combined"));
        }
        let max_age = match req.max_age.as_deref() {
            None => None,
            Some(v) => Some(Duration::from_secs(
                v.parse::<u64>().map_err(|_| fail("invalid_request", "max_age must be a number of seconds"))?,
            )),
        };
        let now = self.clock.now();
        let stale = |s: &CurrentSession| max_age.is_some_and(|m| now.since(s.times.created_at) > m);
        let session = match session {
            Some(s) if prompts.contains(&"login") || stale(s) => {
                return Ok(AuthOutcome::SignIn { force: true, login_hint: req.login_hint.clone() });
            }
            Some(s) => s,
            None if none => return Err(fail("login_required", "the user is not signed in")),
            None => return Ok(AuthOutcome::SignIn { force: false, login_hint: req.login_hint.clone() }),
        };
        if session.account.password_must_change {
            if none {
                return Err(fail("interaction_required", "the user must change the password"));
            }
            return Ok(AuthOutcome::ChangePassword);
        }
        // the current rules are accepted before any service is reached.
        match self.must_accept_rules(&session.account.id).await {
            Ok(false) => {}
            Ok(true) if none => return Err(fail("interaction_required", "the user must accept the rules")),
            Ok(true) => return Ok(AuthOutcome::AcceptRules),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the rules acceptance");
                return Err(fail("temporarily_unavailable", "try again shortly"));
            }
        }
        // the same decision as forward-auth and the launcher, for the catalogue
        // resource this client is; the client's own role list, if any, must admit too.
        let policies = self.policies();
        let resource = policies.catalogue().iter().find(
            |r| matches!(&r.integration, crate::policy::Integration::Oidc { client_id } if client_id == client.id.as_str()),
        );
        let admitted = match resource {
            Some(r) => match self.decide_access(&session.account, &r.id).await {
                Ok(d) => d.allowed && client.admits(&session.account),
                Err(e) => {
                    tracing::warn!(error = %e, "access decision failed");
                    return Err(fail("temporarily_unavailable", "the access decision could not be made"));
                }
            },
            None => client.admits(&session.account),
        };
        if !admitted {
            if none {
                return Err(fail("access_denied", "the user may not use this client"));
            }
            return Ok(AuthOutcome::Refused { client_name: client.name, resource: resource.cloned().map(Box::new) });
        }
        let code = ordered_token();
        let record = CodeRecord {
            code_hash: token_key(&code),
            client_id: client.id.clone(),
            account_id: session.account.id.clone(),
            session_hash: session.hash.clone(),
            redirect_uri: redirect_uri.clone(),
            scope: scopes.to_space_separated(),
            nonce: req.nonce.clone(),
            code_challenge: challenge,
            auth_time: session.times.created_at,
            created_at: now,
            expires_at: now.saturating_add(CODE_TTL),
            used_at: None,
        };
        self.store
            .commit(vec![
                Change::Oidc(OidcChange::InsertCode(record)),
                Change::Oidc(OidcChange::BindSessionClient {
                    session_hash: session.hash.clone(),
                    client_id: client.id.clone(),
                }),
            ])
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot store an authorization code");
                fail("temporarily_unavailable", "try again shortly")
            })?;
        Ok(AuthOutcome::Code { redirect_uri, code, state: req.state })
    }

    /// The client named by the request, if its redirect URI is registered exactly.
    async fn trusted_client(&self, req: &AuthRequest) -> Result<Client, AuthorizeError> {
        let id = req.client_id.as_deref().and_then(ClientId::parse).ok_or(AuthorizeError::Page("unknown_client"))?;
        let (client, _) = self
            .store
            .find_client(&id)
            .await
            .map_err(|_| AuthorizeError::Page("unavailable"))?
            .ok_or(AuthorizeError::Page("unknown_client"))?;
        // OIDC Core §3.1.2.1: redirect_uri is required and must match exactly.
        match req.redirect_uri.as_deref() {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => Ok(client),
            _ => Err(AuthorizeError::Page("bad_redirect_uri")),
        }
    }
}
