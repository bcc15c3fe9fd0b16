//! Configuration in two stages: [`RawConfig`] as read from the TOML file and `PROPUSK_…`
//! environment variables, then [`Config`], validated and typed. Every error names the
//! key that fixes it; an unknown key is an error, not a silent default.
//!
//! An environment variable overrides the key of the same path: `store.url` is
//! `PROPUSK_STORE_URL`, `server.trusted_proxies` is `PROPUSK_SERVER_TRUSTED_PROXIES`
//! (comma-separated). `PROPUSK_CONFIG` names the file and `PROPUSK_TEST_*` belong to the
//! test harness; any other `PROPUSK_` variable that names no key stops start-up.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::app::{IssuedTtl, Settings, SprayPolicy};
use crate::domain::lockout::{LockScope, LockoutPolicy};
use crate::domain::password::PasswordPolicy;
use crate::domain::session::SessionLimits;
use crate::hash::HashParams;

/// A configuration problem, naming the key (or environment variable) to fix.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.to_owned(), message: message.into() }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub tls: RawTls,
    pub store: RawStore,
    pub passwords: RawPasswords,
    pub sessions: RawSessions,
    pub keys: RawKeys,
    pub protection: RawProtection,
    pub policies: RawPolicies,
    pub mail: RawMail,
    pub lifecycle: RawLifecycle,
    pub directory: RawDirectory,
    pub audit: RawAudit,
    pub log: RawLog,
    pub rules: RawRules,
    pub console: RawConsole,
    pub metrics: RawMetrics,
    /// OpenID Connect clients declared in the file (`[[client]]`), kept in step at start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client: Vec<RawClient>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicies {
    /// The directory with resources.toml, schema.cedarschema and the *.cedar policies.
    pub dir: String,
}

impl Default for RawPolicies {
    fn default() -> Self {
        Self { dir: "policies".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    /// The file holding the key that encrypts signing keys at rest (created if absent).
    pub master_key_file: String,
    /// Signing keys older than this are replaced automatically.
    pub rotation_days: u32,
    /// A new key is published this long before it signs.
    pub publish_ahead_minutes: u32,
}

impl Default for RawKeys {
    fn default() -> Self {
        Self { master_key_file: "data/master.key".into(), rotation_days: 90, publish_ahead_minutes: 60 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Address and port; empty means 127.0.0.1:8443, or 127.0.0.1:8080 with `tls.mode = "off"`.
    pub listen: String,
    /// Proxies (addresses or CIDR networks) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// The public base URL (the OpenID Connect issuer); empty means the listening address.
    pub public_url: String,
    /// A request's headers must arrive within this many seconds (slow requests).
    pub header_timeout_seconds: u32,
    /// A request's body must arrive within this many seconds (slow requests).
    pub body_timeout_seconds: u32,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: String::new(),
            trusted_proxies: Vec::new(),
            public_url: String::new(),
            header_timeout_seconds: 10,
            body_timeout_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// `on` (HTTPS) or `off` (plain HTTP behind a TLS-terminating proxy).
    pub mode: String,
    pub cert_file: String,
    pub key_file: String,
    /// Where the development certificate is generated when no files are configured.
    pub dev_cert_dir: String,
}

impl Default for RawTls {
    fn default() -> Self {
        Self { mode: "on".into(), cert_file: String::new(), key_file: String::new(), dev_cert_dir: "certs".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    /// `sqlite:PATH` or `postgres://user@host:port/db`.
    pub url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        Self { url: "sqlite:data/propusk.db".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPasswords {
    pub min_length: u32,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU core.
    pub hash_workers: u32,
    /// Hashes allowed to wait for a worker before sign-ins are answered "busy".
    pub hash_queue: u32,
    pub issued_ttl_hours: u32,
}

impl Default for RawPasswords {
    fn default() -> Self {
        let h = HashParams::default();
        Self {
            min_length: 8,
            argon2_memory_kib: h.memory_kib,
            argon2_iterations: h.iterations,
            argon2_parallelism: h.parallelism,
            hash_workers: 0,
            hash_queue: 256,
            issued_ttl_hours: 72,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    pub idle_minutes: u32,
    pub idle_minutes_administrative: u32,
    pub absolute_hours: u32,
}

impl Default for RawSessions {
    fn default() -> Self {
        Self { idle_minutes: 60, idle_minutes_administrative: 15, absolute_hours: 12 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `propusk=debug,info`.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self { format: "text".into(), level: "info".into() }
    }
}

/// How the server speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// HTTPS with these files.
    Files { cert: PathBuf, key: PathBuf },
    /// HTTPS with a development certificate generated into this directory.
    Development { dir: PathBuf },
    /// Plain HTTP behind a TLS-terminating proxy.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Slow requests: the time a client has for a request's headers and for its body.
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub clients: Vec<DeclaredClient>,
    pub rate_limits: RateLimits,
    /// `None`: derived from the bound address at start.
    pub public_url: Option<String>,
    pub master_key_file: PathBuf,
    pub keys: crate::keys::KeyPolicy,
    pub trusted_proxies: Vec<IpNet>,
    pub tls: TlsMode,
    pub store_url: Secretish,
    pub hash: HashParams,
    pub hash_workers: usize,
    pub hash_queue: usize,
    pub suspect_hashes_per_second: u32,
    pub settings: Settings,
    pub log_format: LogFormat,
    pub log_level: String,
    pub policies_dir: PathBuf,
    /// `None`: no mail server configured.
    pub mail: Option<MailConfig>,
    pub lifecycle: LifecycleConfig,
    pub directory: DirectoryConfig,
    pub audit: AuditConfig,
    /// Service clients of the console's API and the role each acts with.
    pub console_api_clients: Vec<(String, crate::domain::Role)>,
    /// Where `/metrics` is served (plain HTTP); `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
}

/// A value that may carry a password (a database URL): `Debug` hides the user-info part.
#[derive(Clone)]
pub struct Secretish(pub String);

impl std::fmt::Debug for Secretish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.split_once("://").and_then(|(scheme, rest)| rest.split_once('@').map(|(_, h)| (scheme, h))) {
            Some((scheme, host)) => write!(f, "{scheme}://<redacted>@{host}"),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Config {
    /// Reads `file` (if any), applies the environment, validates.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let text = match file {
            Some(p) => {
                std::fs::read_to_string(p).map_err(|e| err("--config", format!("cannot read {}: {e}", p.display())))?
            }
            None => String::new(),
        };
        let raw = RawConfig::parse(&text, env)?;
        raw.validate()
    }
}

impl RawConfig {
    /// Parses TOML text with environment overrides applied.
    pub fn parse(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("config file", e.message().to_owned() + &line_of(text, e.span())))?;
        let defaults = toml::Table::try_from(RawConfig::default()).map_err(|e| err("defaults", e.to_string()))?;
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("PROPUSK_") else {
                continue;
            };
            if rest == "CONFIG" || rest.starts_with("TEST_") {
                continue;
            }
            let (section, key, default) = defaults
                .iter()
                .filter_map(|(s, t)| t.as_table().map(|t| (s, t)))
                .flat_map(|(s, t)| t.iter().map(move |(k, v)| (s, k, v)))
                .find(|(s, k, _)| format!("{s}_{k}").to_ascii_uppercase() == rest)
                .ok_or_else(|| err(&name, "no such configuration key"))?;
            let typed = env_value(&value, default)
                .ok_or_else(|| err(&name, format!("expected {} for {section}.{key}", default.type_str())))?;
            doc.entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| err(section, "must be a table"))?
                .insert(key.clone(), typed);
        }
        serde_path_to_error::deserialize(toml::Value::Table(doc)).map_err(|e| {
            let path = e.path().to_string();
            err(if path == "." { "config file" } else { &path }, e.into_inner().to_string())
        })
    }

    pub fn validate(self) -> Result<Config, ConfigError> {
        let tls = match self.tls.mode.as_str() {
            "off" => TlsMode::Off,
            "on" => match (self.tls.cert_file.is_empty(), self.tls.key_file.is_empty()) {
                (true, true) => TlsMode::Development { dir: PathBuf::from(&self.tls.dev_cert_dir) },
                (false, false) => TlsMode::Files { cert: self.tls.cert_file.into(), key: self.tls.key_file.into() },
                (true, false) => {
                    return Err(err("tls.cert_file", "required when tls.key_file is set"));
                }
                (false, true) => {
                    return Err(err("tls.key_file", "required when tls.cert_file is set"));
                }
            },
            other => {
                return Err(err("tls.mode", format!("expected \"on\" or \"off\", got {other:?}")));
            }
        };
        let listen = if self.server.listen.is_empty() {
            SocketAddr::from(([127, 0, 0, 1], if tls == TlsMode::Off { 8080 } else { 8443 }))
        } else {
            self.server
                .listen
                .parse()
                .map_err(|_| err("server.listen", format!("expected ADDRESS:PORT, got {:?}", self.server.listen)))?
        };
        let trusted_proxies = self
            .server
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| err("server.trusted_proxies", format!("not an address or network: {p:?}")))
            })
            .collect::<Result<_, _>>()?;
        let seconds = |key: &str, v: u32| match v {
            1..=300 => Ok(Duration::from_secs(u64::from(v))),
            _ => Err(err(key, "expected 1 to 300 seconds")),
        };
        let header_timeout = seconds("server.header_timeout_seconds", self.server.header_timeout_seconds)?;
        let body_timeout = seconds("server.body_timeout_seconds", self.server.body_timeout_seconds)?;
        let store_url = self.store.url.trim().to_owned();
        if !(store_url.starts_with("sqlite:")
            || store_url.starts_with("postgres://")
            || store_url.starts_with("postgresql://"))
        {
            return Err(err("store.url", "expected sqlite:PATH or postgres://…"));
        }
        let p = &self.passwords;
        if !(6..=64).contains(&p.min_length) {
            return Err(err("passwords.min_length", "expected 6 to 64"));
        }
        let hash = HashParams {
            memory_kib: p.argon2_memory_kib,
            iterations: p.argon2_iterations,
            parallelism: p.argon2_parallelism,
        };
        hash.argon2().map_err(|e| err("passwords.argon2_memory_kib", e.to_string()))?;
        if p.issued_ttl_hours == 0 {
            return Err(err("passwords.issued_ttl_hours", "must be at least 1"));
        }
        let s = &self.sessions;
        for (key, v) in [
            ("sessions.idle_minutes", s.idle_minutes),
            ("sessions.idle_minutes_administrative", s.idle_minutes_administrative),
            ("sessions.absolute_hours", s.absolute_hours),
        ] {
            if v == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        let log_format = match self.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(err("log.format", format!("expected \"text\" or \"json\", got {other:?}")));
            }
        };
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| err("log.level", e.to_string()))?;
        let workers = if p.hash_workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            p.hash_workers as usize
        };
        let public_url = match self.server.public_url.trim().trim_end_matches('/') {
            "" => None,
            u if (u.starts_with("https://") || u.starts_with("http://")) && !u.contains(['?', '#']) => {
                Some(u.to_owned())
            }
            _ => return Err(err("server.public_url", "expected an absolute http(s) URL without query or fragment")),
        };
        let k = &self.keys;
        if k.rotation_days == 0 {
            return Err(err("keys.rotation_days", "must be at least 1"));
        }
        if k.master_key_file.trim().is_empty() {
            return Err(err("keys.master_key_file", "required"));
        }
        let pr = &self.protection;
        let scope = match pr.lockout_scope.as_str() {
            "account" => LockScope::Account,
            "account_network" => LockScope::AccountAndNetwork,
            other => {
                return Err(err(
                    "protection.lockout_scope",
                    format!("expected account or account_network, got {other:?}"),
                ));
            }
        };
        for (key, v) in [
            ("protection.lockout_threshold", pr.lockout_threshold),
            ("protection.lockout_window_minutes", pr.lockout_window_minutes),
            ("protection.lockout_minutes", pr.lockout_minutes),
            ("protection.address_per_minute", pr.address_per_minute),
            ("protection.login_per_minute", pr.login_per_minute),
            ("protection.report_per_hour", pr.report_per_hour),
            ("protection.client_auth_failures_per_minute", pr.client_auth_failures_per_minute),
        ] {
            if v == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        let minutes = |m: u32| Duration::from_secs(u64::from(m) * 60);
        let lockout = LockoutPolicy {
            threshold: pr.lockout_threshold,
            window: minutes(pr.lockout_window_minutes),
            first_lock: minutes(pr.lockout_minutes),
            growth: pr.lockout_growth.max(1),
            longest_lock: minutes(pr.lockout_max_minutes.max(pr.lockout_minutes)),
            permanent_after: pr.lockout_permanent_after,
            scope,
        };
        let spraying = SprayPolicy {
            distinct_logins: pr.spray_distinct_logins,
            window: minutes(pr.spray_window_minutes.max(1)),
            block: minutes(pr.spray_block_minutes.max(1)),
        };
        let mail = mail_config(&self.mail)?;
        let lifecycle = lifecycle_config(&self.lifecycle)?;
        let directory = directory_config(&self.directory)?;
        let audit = audit_config(&self.audit)?;
        let metrics_listen = metrics_listen(&self.metrics)?;
        let clients =
            self.client.iter().enumerate().map(|(i, c)| declared_client(i, c)).collect::<Result<Vec<_>, _>>()?;
        let console_api_clients = console_api_clients(&self.console)?;
        Ok(Config {
            listen,
            header_timeout,
            body_timeout,
            clients,
            rate_limits: RateLimits {
                address_per_minute: pr.address_per_minute,
                login_per_minute: pr.login_per_minute,
                report_per_hour: pr.report_per_hour,
                client_auth_failures_per_minute: pr.client_auth_failures_per_minute,
            },
            public_url,
            master_key_file: PathBuf::from(&k.master_key_file),
            keys: crate::keys::KeyPolicy {
                rotate_after: Duration::from_secs(u64::from(k.rotation_days) * 86_400),
                publish_ahead: Duration::from_secs(u64::from(k.publish_ahead_minutes) * 60),
                // The longest a signed token lives: an ID token at most a day, plus margin.
                keep_after: Duration::from_secs(25 * 3600),
            },
            trusted_proxies,
            tls,
            store_url: Secretish(store_url),
            hash,
            hash_workers: workers,
            hash_queue: p.hash_queue as usize,
            suspect_hashes_per_second: self.protection.suspect_hashes_per_second.max(1),
            settings: Settings {
                password_policy: PasswordPolicy { min_length: p.min_length as usize, ..PasswordPolicy::default() },
                session_limits: SessionLimits {
                    idle_learner: Duration::from_secs(u64::from(s.idle_minutes) * 60),
                    idle_administrative: Duration::from_secs(u64::from(s.idle_minutes_administrative) * 60),
                    absolute: Duration::from_secs(u64::from(s.absolute_hours) * 3600),
                },
                issued_password_ttl: IssuedTtl(Duration::from_secs(u64::from(p.issued_ttl_hours) * 3600)),
                lockout,
                spraying,
                devices: crate::app::DevicePolicy {
                    remember: Duration::from_secs(u64::from(pr.known_device_days) * 86_400),
                },
                rules: crate::app::RulesPolicy { required: self.rules.required },
            },
            log_format,
            log_level: self.log.level,
            policies_dir: PathBuf::from(self.policies.dir.trim()),
            mail,
            lifecycle,
            directory,
            audit,
            console_api_clients,
            metrics_listen,
        })
    }
}

/// Converts an environment string to the TOML type of the key's default.
fn env_value(s: &str, default: &toml::Value) -> Option<toml::Value> {
    Some(match default {
        toml::Value::String(_) => toml::Value::String(s.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(s.trim().parse().ok()?),
        toml::Value::Boolean(_) => toml::Value::Boolean(s.trim().parse().ok()?),
        toml::Value::Array(_) => toml::Value::Array(
            s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(|p| toml::Value::String(p.to_owned())).collect(),
        ),
        _ => return None,
    })
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|r| format!(" (line {})", text[..r.start.min(text.len())].lines().count().max(1))).unwrap_or_default()
}

#[path = "config_clients.rs"]
mod clients;
#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

use clients::declared_client;
pub use clients::{DeclaredClient, RawClient};
#[path = "config_mail.rs"]
mod mail;
use mail::mail_config;
pub use mail::{MailConfig, MailSecurity, RawMail, Redacted};
#[path = "config_lifecycle.rs"]
mod lifecycle;
use lifecycle::lifecycle_config;
pub use lifecycle::{LifecycleConfig, RawLifecycle};
#[path = "config_directory.rs"]
mod directory;
use directory::directory_config;
pub use directory::{DirectoryConfig, RawDirectory};
#[path = "config_rules.rs"]
mod rules;
pub use rules::RawRules;
#[path = "config_audit.rs"]
mod audit;
use audit::audit_config;
pub use audit::{AuditConfig, RawAudit};
#[path = "config_metrics.rs"]
mod metrics;
pub use metrics::RawMetrics;
use metrics::metrics_listen;
#[path = "config_console.rs"]
mod console;
pub use console::RawConsole;
use console::console_api_clients;
#[path = "config_protection.rs"]
mod protection;
pub use protection::{RateLimits, RawProtection};
