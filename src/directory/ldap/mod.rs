//! The LDAP directory adapter (`directory.kind = "ldap"`): search-then-bind sign-in, the
//! entries for the sync, the directory's own lock written back, erasure, password changes.
//!
//! A service account searches; people bind on connections of their own (a bind changes a
//! connection's identity), taken from a small pool. Every operation has a timeout; a
//! connection that fails is dropped and the next server of `urls` is tried, so the
//! adapter recovers by itself when a directory returns. Transport is `ldaps://` or
//! StartTLS through rustls with the configured CA, or plain `ldap://` where the
//! configuration allows it. It decides nothing about authorization: it reports what the
//! directory says, and `app` decides.

pub mod escape;
mod ops;
pub mod profile;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};

pub use profile::{AttributeMap, GroupMap, Profile};

use crate::domain::ids::Login;
use crate::domain::password::Password;
use crate::ports::directory::{BindOutcome, Directory, DirectoryEntry, DirectoryError, ExternalDirectory};

/// What erasure does with an entry (`directory.erase`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseMode {
    Delete,
    /// Moves the entry under this OU, renamed to its login, without personal attributes.
    Archive(String),
}

/// The validated `[directory]` section for `kind = "ldap"`.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// Tried in order; the one that last answered is tried first.
    pub urls: Vec<String>,
    pub profile: Profile,
    pub bind_dn: String,
    pub bind_password: Password,
    /// Where people (and, for AD's nested groups, groups) are searched.
    pub base: String,
    /// Combined with `(login_attribute=LOGIN)` by AND.
    pub filter: String,
    pub attributes: AttributeMap,
    pub groups: GroupMap,
    /// The CA that signed the directory's certificate (required for TLS).
    pub ca_file: Option<PathBuf>,
    pub starttls: bool,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// Connections for people's binds at once.
    pub pool_size: usize,
    pub erase: EraseMode,
}

/// The adapter.
pub struct LdapDirectory {
    s: LdapSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The service account's connection; `Ldap` handles multiplex on it.
    service: tokio::sync::Mutex<Option<Ldap>>,
    /// Idle connections for people's binds, and the permits that bound them.
    idle: std::sync::Mutex<Vec<Ldap>>,
    permits: tokio::sync::Semaphore,
    /// The index in `urls` of the server that answered last.
    preferred: AtomicUsize,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory").field("urls", &self.s.urls).field("profile", &self.s.profile).finish()
    }
}

impl LdapDirectory {
    /// Builds the adapter; connects lazily (a directory down at start is not fatal:
    /// sign-in fails closed and `/readyz` says why until it answers).
    pub fn new(s: LdapSettings) -> Result<Self, DirectoryError> {
        let needs_tls = s.starttls || s.urls.iter().any(|u| u.starts_with("ldaps://"));
        let tls = match (&s.ca_file, needs_tls) {
            (Some(ca), _) => Some(tls::client_config(ca)?),
            (None, true) => {
                return Err(DirectoryError::Refused("directory.ca_file is required for ldaps:// and StartTLS".into()));
            }
            (None, false) => None,
        };
        let pool = s.pool_size.max(1);
        Ok(Self {
            s,
            tls,
            service: tokio::sync::Mutex::new(None),
            idle: std::sync::Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(pool),
            preferred: AtomicUsize::new(0),
        })
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.s
    }

    /// Opens a connection to the first server that answers, starting with the one that
    /// answered last.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let n = self.s.urls.len();
        let start = self.preferred.load(Ordering::Relaxed) % n.max(1);
        let mut problems = Vec::new();
        for i in (0..n).map(|k| (start + k) % n) {
            let url = &self.s.urls[i];
            let mut settings = LdapConnSettings::new().set_conn_timeout(self.s.connect_timeout);
            if let Some(c) = &self.tls {
                settings = settings.set_config(c.clone()).set_starttls(self.s.starttls && url.starts_with("ldap://"));
            }
            let attempt = tokio::time::timeout(
                self.s.connect_timeout + self.s.operation_timeout,
                LdapConnAsync::with_settings(settings, url),
            )
            .await;
            match attempt {
                Ok(Ok((conn, ldap))) => {
                    tokio::spawn(async move {
                        if let Err(e) = conn.drive().await {
                            tracing::debug!(error = %e, "directory connection ended");
                        }
                    });
                    if i != start {
                        tracing::warn!(%url, "directory: failed over to another server");
                    }
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(ldap);
                }
                Ok(Err(e)) => problems.push(format!("{url}: {e}")),
                Err(_) => problems.push(format!("{url}: no answer within the timeout")),
            }
        }
        Err(DirectoryError::Unavailable(format!("no directory server answered ({})", problems.join("; "))))
    }

    /// The service account's connection, bound; opened again if it was lost.
    async fn service(&self) -> Result<Ldap, DirectoryError> {
        let mut slot = self.service.lock().await;
        if let Some(l) = slot.as_mut() {
            if !l.is_closed() {
                return Ok(l.clone());
            }
        }
        *slot = None;
        let mut ldap = self.connect().await?;
        let res = ldap
            .with_timeout(self.s.operation_timeout)
            .simple_bind(&self.s.bind_dn, self.s.bind_password.expose())
            .await
            .map_err(unavailable)?;
        if res.rc != 0 {
            return Err(DirectoryError::Unavailable(format!(
                "the directory refused the service account (directory.bind_dn): code {} {}",
                res.rc, res.text
            )));
        }
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// Forgets the service connection after a failure, so the next use reconnects.
    async fn drop_service(&self) {
        *self.service.lock().await = None;
    }

    /// A connection for a person's bind, with its pool permit.
    async fn bind_conn(&self) -> Result<(Ldap, tokio::sync::SemaphorePermit<'_>), DirectoryError> {
        let permit = tokio::time::timeout(self.s.operation_timeout, self.permits.acquire())
            .await
            .map_err(|_| DirectoryError::Unavailable("every directory connection is busy".into()))?
            .map_err(|_| DirectoryError::Unavailable("the connection pool is closed".into()))?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            std::iter::from_fn(|| idle.pop()).find_map(|mut l| (!l.is_closed()).then_some(l))
        };
        let ldap = match reused {
            Some(l) => l,
            None => self.connect().await?,
        };
        Ok((ldap, permit))
    }

    fn give_back(&self, ldap: Ldap) {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(ldap);
    }

    /// Every entry whose login attribute equals `login` exactly as given (escaped per
    /// RFC 4515), whatever characters it holds.
    pub async fn search_login(&self, login: &str) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let filter = format!("(&{}({}={}))", self.s.filter, self.s.attributes.login, escape::filter_value(login));
        self.search_entries(&filter).await
    }

    /// Exactly one entry for `login`, or `NotFound`, or `Refused` when there are several.
    async fn one_entry(&self, login: &str) -> Result<DirectoryEntry, DirectoryError> {
        let mut found = self.search_login(login).await?;
        match found.len() {
            0 => Err(DirectoryError::NotFound(login.to_owned())),
            1 => Ok(found.remove(0)),
            n => Err(DirectoryError::Refused(format!("{n} directory entries have the login {login:?}"))),
        }
    }
}

#[async_trait]
impl Directory for LdapDirectory {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    async fn set_disabled(&self, login: &Login, disabled: bool) -> Result<(), DirectoryError> {
        let entry = self.one_entry(login.as_str()).await?;
        self.write_lock(&entry, disabled).await
    }

    async fn erase(&self, login: &Login) -> Result<(), DirectoryError> {
        let entry = match self.one_entry(login.as_str()).await {
            Ok(e) => e,
            Err(DirectoryError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.s.erase.clone() {
            EraseMode::Delete => self.delete_entry(&entry.dn).await,
            EraseMode::Archive(ou) => {
                self.write_lock(&entry, true).await?;
                self.strip_personal(&entry).await?;
                self.move_to_archive(&entry, &ou).await
            }
        }
    }

    fn external(&self) -> Option<&dyn ExternalDirectory> {
        Some(self)
    }
}

#[async_trait]
impl ExternalDirectory for LdapDirectory {
    async fn authenticate(&self, login: &Login, password: &Password) -> Result<BindOutcome, DirectoryError> {
        let entry = match self.one_entry(login.as_str()).await {
            Ok(e) => e,
            Err(DirectoryError::NotFound(_)) => return Ok(BindOutcome::Unknown),
            Err(e) => return Err(e),
        };
        self.bind_as(entry, password).await
    }

    async fn list_entries(&self) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let filter = self.s.filter.clone();
        let filter = if filter.is_empty() { "(objectClass=*)".to_owned() } else { filter };
        self.search_entries(&filter).await
    }

    async fn set_password(&self, login: &Login, old: Option<&Password>, new: &Password) -> Result<(), DirectoryError> {
        let entry = self.one_entry(login.as_str()).await?;
        self.modify_password(&entry, old, new).await
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        let found = self.search_raw(&self.s.base, ldap3::Scope::Base, "(objectClass=*)", vec!["1.1".into()]).await?;
        if found.is_empty() {
            return Err(DirectoryError::Refused(format!("the base {:?} (directory.base) was not found", self.s.base)));
        }
        Ok(())
    }
}

/// A failure of the connection itself (not an answer): worth another server.
fn unavailable(e: LdapError) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}
