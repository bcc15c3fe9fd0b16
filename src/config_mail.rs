//! The `[mail]` section: the SMTP server, the sender and the security officers' addresses.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, err};

/// Outbound email (`[mail]`): locks to their owners, compromise and spraying to the
/// security officers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMail {
    /// The SMTP server; empty: no email is sent.
    pub host: String,
    /// 0: the usual port of `security` (587, 465 or 25).
    pub port: u32,
    /// `starttls`, `tls` or `none`.
    pub security: String,
    pub username: String,
    pub password: Redacted,
    pub from: String,
    pub security_officers: Vec<String>,
    pub timeout_seconds: u32,
}

impl Default for RawMail {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 0,
            security: "starttls".into(),
            username: String::new(),
            password: Redacted::default(),
            from: String::new(),
            security_officers: Vec::new(),
            timeout_seconds: 10,
        }
    }
}

/// A secret from the configuration: `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "<redacted>" })
    }
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    StartTls,
    /// TLS from the first byte, usually port 465.
    Tls,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

/// The validated `[mail]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    pub credentials: Option<(String, Redacted)>,
    pub from: String,
    pub security_officers: Vec<String>,
    pub timeout: Duration,
}

pub(super) fn mail_config(m: &RawMail) -> Result<Option<MailConfig>, ConfigError> {
    let host = m.host.trim();
    let security = match m.security.as_str() {
        "starttls" => MailSecurity::StartTls,
        "tls" => MailSecurity::Tls,
        "none" => MailSecurity::None,
        other => return Err(err("mail.security", format!("expected starttls, tls or none, got {other:?}"))),
    };
    let address = |key: &str, a: &str| {
        a.parse::<lettre::Address>().map(|_| a.to_owned()).map_err(|_| err(key, format!("not an email address: {a:?}")))
    };
    let security_officers = m
        .security_officers
        .iter()
        .map(|a| address("mail.security_officers", a.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if host.is_empty() {
        return Ok(None);
    }
    if m.from.trim().parse::<lettre::message::Mailbox>().is_err() {
        return Err(err("mail.from", "required when mail.host is set: an address such as propusk@college.example"));
    }
    let port = match (m.port, security) {
        (0, MailSecurity::StartTls) => 587,
        (0, MailSecurity::Tls) => 465,
        (0, MailSecurity::None) => 25,
        (p, _) => u16::try_from(p).map_err(|_| err("mail.port", "expected 1 to 65535"))?,
    };
    let credentials = match (m.username.is_empty(), m.password.0.is_empty()) {
        (true, true) => None,
        (false, false) => Some((m.username.clone(), m.password.clone())),
        (true, false) => return Err(err("mail.username", "required when mail.password is set")),
        (false, true) => return Err(err("mail.password", "required when mail.username is set")),
    };
    let local = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if security == MailSecurity::None && credentials.is_some() && !local {
        return Err(err("mail.security", "\"none\" would send the password unencrypted; use starttls or tls"));
    }
    if !(1..=300).contains(&m.timeout_seconds) {
        return Err(err("mail.timeout_seconds", "expected 1 to 300"));
    }
    Ok(Some(MailConfig {
        host: host.to_owned(),
        port,
        security,
        credentials,
        from: m.from.trim().to_owned(),
        security_officers,
        timeout: Duration::from_secs(u64::from(m.timeout_seconds)),
    }))
}
