//! Registering and managing relying parties (`propusk client …`). Secrets are generated,
//! shown once and stored as a SHA-256 hash (they are 256-bit random strings, so a fast
//! hash is enough and keeps the token endpoint fast).

use std::time::Duration;

use super::{random_token, token_hash};
use crate::app::{Actor, App, AppError};
use crate::domain::account::Roles;
use crate::domain::oidc::{Client, ClientId, ClientKind, ClientProblem, Scopes, SigningAlg};
use crate::ports::{Change, OidcChange};

/// What an administrator supplies to register a client.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Space-separated; `openid` is required.
    pub scopes: String,
    pub allowed_roles: Roles,
    pub id_token_alg: SigningAlg,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub backchannel_logout_uri: Option<String>,
}

/// A client secret just generated: shown once.
#[derive(Debug)]
pub struct NewClientSecret {
    pub client: Client,
    pub secret: Option<String>,
}

impl App {
    pub async fn add_client(&self, actor: &Actor, spec: ClientSpec) -> Result<NewClientSecret, AppError> {
        let id = ClientId::parse(&spec.id).ok_or(AppError::Client(ClientProblem::Id))?;
        let client = Client {
            id,
            name: spec.name.trim().to_owned(),
            kind: spec.kind,
            redirect_uris: spec.redirect_uris,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            scopes: Scopes::parse_known(&spec.scopes),
            allowed_roles: spec.allowed_roles,
            id_token_alg: spec.id_token_alg,
            access_token_ttl: spec.access_token_ttl,
            refresh_token_ttl: spec.refresh_token_ttl,
            backchannel_logout_uri: spec.backchannel_logout_uri.filter(|u| !u.is_empty()),
        };
        client.validate().map_err(AppError::Client)?;
        let secret = (client.kind == ClientKind::Confidential).then(random_token);
        let now = self.clock.now();
        let audit =
            self.audit(&actor.name, "client.create", Some(client.id.as_str()), actor.ip.as_deref(), String::new());
        self.store
            .commit(vec![
                Change::Oidc(OidcChange::InsertClient {
                    client: client.clone(),
                    secret_hash: secret.as_deref().map(token_hash),
                    at: now,
                }),
                Change::InsertAudit(audit),
            ])
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::Conflict(_) => AppError::Conflict("a client with this id"),
                other => other.into(),
            })?;
        Ok(NewClientSecret { client, secret })
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AppError> {
        Ok(self.store.list_clients().await?)
    }

    pub async fn client(&self, id: &str) -> Result<Client, AppError> {
        let id = ClientId::parse(id).ok_or(AppError::NotFound("client"))?;
        Ok(self.store.find_client(&id).await?.ok_or(AppError::NotFound("client"))?.0)
    }

    /// A new secret for a confidential client; the old one stops working at once.
    pub async fn rotate_client_secret(&self, actor: &Actor, id: &str) -> Result<NewClientSecret, AppError> {
        let client = self.client(id).await?;
        if client.kind != ClientKind::Confidential {
            return Err(AppError::Client(ClientProblem::Id));
        }
        let secret = random_token();
        let audit = self.audit(
            &actor.name,
            "client.rotate_secret",
            Some(client.id.as_str()),
            actor.ip.as_deref(),
            String::new(),
        );
        self.store
            .commit(vec![
                Change::Oidc(OidcChange::UpdateClientSecret {
                    id: client.id.clone(),
                    secret_hash: token_hash(&secret),
                    at: self.clock.now(),
                }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(NewClientSecret { client, secret: Some(secret) })
    }

    pub async fn remove_client(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        let id = ClientId::parse(id).ok_or(AppError::NotFound("client"))?;
        let audit = self.audit(&actor.name, "client.remove", Some(id.as_str()), actor.ip.as_deref(), String::new());
        self.store
            .commit(vec![Change::Oidc(OidcChange::DeleteClient { id }), Change::InsertAudit(audit)])
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::NotFound(_) => AppError::NotFound("client"),
                other => other.into(),
            })
    }
}

impl App {
    /// Keeps the clients declared in the configuration file in step with the store: each is
    /// created, or replaced when its declaration or secret changed (one transaction each).
    /// Clients registered with the command line are left alone. Returns how many changed.
    pub async fn sync_declared_clients(&self, declared: &[(ClientSpec, Option<String>)]) -> Result<usize, AppError> {
        let mut changed = 0;
        for (spec, secret_hash) in declared {
            let id = ClientId::parse(&spec.id).ok_or(AppError::Client(ClientProblem::Id))?;
            let client = Client {
                id: id.clone(),
                name: spec.name.trim().to_owned(),
                kind: spec.kind,
                redirect_uris: spec.redirect_uris.clone(),
                post_logout_redirect_uris: spec.post_logout_redirect_uris.clone(),
                scopes: Scopes::parse_known(&spec.scopes),
                allowed_roles: spec.allowed_roles.clone(),
                id_token_alg: spec.id_token_alg,
                access_token_ttl: spec.access_token_ttl,
                refresh_token_ttl: spec.refresh_token_ttl,
                backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
            };
            client.validate().map_err(AppError::Client)?;
            let existing = self.store.find_client(&id).await?;
            if existing.as_ref().is_some_and(|(c, h)| *c == client && h == secret_hash) {
                continue;
            }
            let now = self.clock.now();
            let mut changes = Vec::new();
            if existing.is_some() {
                changes.push(Change::Oidc(OidcChange::DeleteClient { id: id.clone() }));
            }
            changes.push(Change::Oidc(OidcChange::InsertClient { client, secret_hash: secret_hash.clone(), at: now }));
            changes.push(Change::InsertAudit(self.audit(
                "system",
                "client.declare",
                Some(id.as_str()),
                None,
                String::new(),
            )));
            self.store.commit(changes).await?;
            changed += 1;
        }
        Ok(changed)
    }
}
