//! Use cases: what a person or an administrator can do, as transactions over the ports.
//!
//! Every use case reads what it needs, decides with the rules in `domain`, and writes all
//! of its rows (including the audit event) with one `Store::commit`. This room knows no
//! HTTP types, cookies or SQL; a tidy test keeps framework crates out of it.

mod access;
mod account;
mod admin;
pub mod audit;
pub mod console;
mod directory;
mod gauges;
mod lifecycle;
mod notify;
pub mod oidc;
mod password;
mod protection;
mod roster;
mod rules;
mod second_factor;
mod session;
mod sign_in;

use std::sync::Arc;
use std::time::Duration;

pub use access::{ForwardAuth, Identity, PolicySet};
pub use account::{AccountOverview, SessionView};
pub use admin::{Actor, IssuedCredential, UserDetails};
pub use audit::{ChainReport, ExportFormat, MAX_PAGE, Page, PruneReport, csv_cell, csv_row};
pub use directory::{MAX_DIRECTORY_ATTEMPTS, SyncReport};
pub use lifecycle::{
    CaseReport, ComplianceReport, KEEP_ERASURE_RECORDS, LifecycleSettings, ManualTask, RunReport, external_id_hash,
};
pub use notify::MAX_MAIL_ATTEMPTS;
pub use roster::{ImportOptions, ImportReport, Missing, PlannedRow, Reconciliation};
pub use rules::{MAX_RULES_BYTES, RulesLang, RulesPolicy, rules_digest};
pub use second_factor::{CodeOutcome, Enrolment, PENDING_TTL, PendingStep, PendingView, SecondFactorStatus};
pub use session::CurrentSession;
pub use sign_in::{DevicePolicy, DeviceToken, SignInRequest, SignInStep, SignedIn};

use crate::domain::account::{AccountStatus, ProfileError};
use crate::domain::journal::AuditEvent;
use crate::domain::lockout::LockoutPolicy;
use crate::domain::oidc::ClientProblem;
use crate::domain::password::{PasswordPolicy, PasswordProblem};
use crate::domain::session::SessionLimits;
use crate::ports::directory::Directory;
use crate::ports::lifecycle::Connector;
use crate::ports::{Clock, HashError, PasswordHasher, Store, StoreError, TokenSigner};

/// The rules a deployment configures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    pub password_policy: PasswordPolicy,
    pub session_limits: SessionLimits,
    /// How long an issued password works before its first use (D-2: 72 h).
    pub issued_password_ttl: IssuedTtl,
    pub lockout: LockoutPolicy,
    pub spraying: SprayPolicy,
    /// Known devices and their priority on the hashing pool.
    pub devices: DevicePolicy,
    /// Whether people accept the rules of the environment.
    pub rules: RulesPolicy,
}

/// Password spraying: this many distinct logins failing from one network within
/// `window` blocks the network for `block`. `distinct_logins = 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SprayPolicy {
    pub distinct_logins: u32,
    pub window: Duration,
    pub block: Duration,
}

impl Default for SprayPolicy {
    fn default() -> Self {
        Self { distinct_logins: 20, window: Duration::from_secs(10 * 60), block: Duration::from_secs(30 * 60) }
    }
}

/// D-2's lifetime of an unused issued password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedTtl(pub Duration);

impl Default for IssuedTtl {
    fn default() -> Self {
        Self(Duration::from_secs(72 * 3600))
    }
}

/// Everything a use case may go wrong with; mapped to HTTP in exactly one place
/// (`http::error`) and to exit codes in `cli`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Wrong login or password: deliberately the same for both (no enumeration).
    #[error("wrong login or password")]
    InvalidCredentials,
    /// The password was right, but the account may not be used.
    #[error("the account is {0}")]
    AccountDisabled(AccountStatus),
    /// The password was right, but it was issued and expired unused (D-2).
    #[error("the issued password has expired")]
    IssuedPasswordExpired,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("{0}")]
    PasswordRejected(#[from] PasswordProblem),
    #[error("{0}")]
    Profile(#[from] ProfileError),
    #[error("{0}")]
    Client(ClientProblem),
    /// A logout request with a redirect that is not registered, or a hint that is not ours.
    #[error("the logout request is not valid")]
    BadLogoutRequest,
    /// An administrator's input that breaks a rule (an empty reason, a date in the past).
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// Too many sign-ins are being checked at once; the client should retry shortly.
    #[error("the server is busy, try again in a few seconds")]
    Busy,
    #[error("the account store is unavailable")]
    Unavailable(String),
    /// The external directory did not answer: sign-in fails closed.
    #[error("the directory is unavailable: {0}")]
    DirectoryUnavailable(String),
    /// The password was right, but it expired under the directory's password policy.
    #[error("the password has expired in the directory")]
    DirectoryPasswordExpired,
    /// Too many attempts from this network or on this login: wait.
    #[error("too many attempts; try again later")]
    TooManyAttempts(Duration),
    /// The caller's roles do not allow this (the refusal is audited).
    #[error("not allowed")]
    Forbidden,
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Conflict(what) => AppError::Conflict(what),
            StoreError::Unavailable(why) => AppError::Unavailable(why),
            StoreError::Corrupt(why) => AppError::Internal(why),
        }
    }
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AppError::Busy,
            HashError::Failed(why) => AppError::Internal(why),
        }
    }
}

/// The use cases, over the ports they need.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub signer: Arc<dyn TokenSigner>,
    /// Where locks and erasures are also written when accounts live in a directory.
    pub directory: Arc<dyn Directory>,
    /// The resources' deprovisioning APIs (webhook, SCIM).
    pub connector: Arc<dyn Connector>,
    /// Deprovisioning deadlines and academic leave (D-7).
    pub lifecycle: Arc<LifecycleSettings>,
    /// The OpenID Connect issuer identifier: this server's public base URL.
    pub issuer: String,
    pub settings: Settings,
    /// The role policies and resource catalogue in force, swapped on reload.
    pub policies: Arc<PolicySet>,
    /// Encrypts second-factor secrets at rest with the master key (D-5).
    pub sealer: Arc<dyn crate::ports::second_factor::Sealer>,
}

/// The parts an [`App`] is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub signer: Arc<dyn TokenSigner>,
    pub directory: Arc<dyn Directory>,
    pub connector: Arc<dyn Connector>,
    pub lifecycle: LifecycleSettings,
    pub issuer: String,
    pub settings: Settings,
    pub policies: Arc<PolicySet>,
    pub sealer: Arc<dyn crate::ports::second_factor::Sealer>,
}

impl App {
    pub fn new(p: Parts) -> Self {
        Self {
            store: p.store,
            hasher: p.hasher,
            clock: p.clock,
            signer: p.signer,
            directory: p.directory,
            connector: p.connector,
            lifecycle: Arc::new(p.lifecycle),
            issuer: p.issuer,
            settings: p.settings,
            policies: p.policies,
            sealer: p.sealer,
        }
    }

    /// Whether the store, and an external directory, answer (for `/readyz`).
    pub async fn ready(&self) -> Result<(), AppError> {
        self.store.ping().await?;
        if let Some(dir) = self.directory.external() {
            dir.ping().await.map_err(|e| AppError::DirectoryUnavailable(e.to_string()))?;
        }
        Ok(())
    }

    fn audit(
        &self,
        actor: &str,
        action: &'static str,
        subject: Option<&str>,
        ip: Option<&str>,
        detail: String,
    ) -> AuditEvent {
        AuditEvent {
            at: self.clock.now(),
            actor: actor.to_owned(),
            action,
            subject: subject.map(str::to_owned),
            ip: ip.map(str::to_owned),
            outcome: "success",
            detail,
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! An `App` over a private in-memory SQLite store with a fixed, settable clock.
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::domain::Timestamp;
    use crate::hash::{Argon2Pool, HashParams};

    pub struct TestClock(pub AtomicI64);

    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    impl TestClock {
        pub fn advance(&self, d: Duration) {
            self.0.fetch_add(i64::try_from(d.as_millis()).unwrap_or(0), Ordering::SeqCst);
        }
    }

    /// The shipped `policies/` directory.
    pub fn shipped_policies() -> crate::policy::Policies {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        crate::policy::Policies::load(&dir).expect("the shipped policies load")
    }

    pub async fn app() -> (App, Arc<TestClock>) {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let hasher = Arc::new(
            Argon2Pool::with_suspect_budget(HashParams { memory_kib: 64, iterations: 1, parallelism: 1 }, 2, 64, 1_000)
                .expect("hasher"),
        );
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000_000)));
        let dir = tempfile::tempdir().expect("tempdir");
        let master = crate::keys::MasterKey::load_or_create(&dir.path().join("master.key")).expect("master");
        let policy = crate::keys::KeyPolicy {
            rotate_after: Duration::from_secs(90 * 86_400),
            publish_ahead: Duration::from_secs(3600),
            keep_after: Duration::from_secs(86_400),
        };
        let signer = crate::keys::KeyRing::open(store.as_ref(), master, policy, clock.clone()).await.expect("keys");
        let sealer = crate::keys::MasterKey::load_or_create(&dir.path().join("master.key")).expect("master");
        let app = App::new(Parts {
            store,
            hasher,
            clock: clock.clone(),
            signer: Arc::new(signer),
            directory: Arc::new(crate::directory::Embedded),
            connector: Arc::new(crate::connectors::HttpConnector::new().expect("http client")),
            lifecycle: LifecycleSettings::default(),
            issuer: "https://sso.college.example".into(),
            settings: Settings::default(),
            policies: Arc::new(PolicySet::new(shipped_policies())),
            sealer: Arc::new(sealer),
        });
        (app, clock)
    }
}
