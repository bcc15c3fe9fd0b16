//! The `[audit]` section: how long the audit log stays online (D-10).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, err};

/// The longest retention: audit entries of an erased person verify while the erasure's
/// record exists, and those are kept 3 years (D-7).
const MAX_RETENTION_DAYS: u32 = 3 * 365;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// Audit entries older than this many days are removed daily, the chain kept
    /// verifiable by an anchor (D-10: 12 months online).
    pub retention_days: u32,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self { retention_days: 365 }
    }
}

/// The validated `[audit]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    pub retention: Duration,
}

pub(super) fn audit_config(a: &RawAudit) -> Result<AuditConfig, ConfigError> {
    if !(1..=MAX_RETENTION_DAYS).contains(&a.retention_days) {
        return Err(err(
            "audit.retention_days",
            format!(
                "expected 1 to {MAX_RETENTION_DAYS} days (erasure records, which the chain needs, are kept 3 years)"
            ),
        ));
    }
    Ok(AuditConfig { retention: Duration::from_secs(u64::from(a.retention_days) * 86_400) })
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<crate::config::Config, crate::config::ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        RawConfig::parse(text, env)?.validate()
    }

    #[test]
    fn retention_defaults_to_a_year_and_is_bounded() {
        let day = 86_400;
        assert_eq!(load("", &[]).expect("defaults").audit.retention.as_secs(), 365 * day);
        let file = load("[audit]\nretention_days = 400\n", &[]).expect("file");
        assert_eq!(file.audit.retention.as_secs(), 400 * day);
        let env = load("[audit]\nretention_days = 400\n", &[("PROPUSK_AUDIT_RETENTION_DAYS", "30")]).expect("env");
        assert_eq!(env.audit.retention.as_secs(), 30 * day);
        for bad in ["0", "1096"] {
            let e = load("", &[("PROPUSK_AUDIT_RETENTION_DAYS", bad)]).expect_err(bad);
            assert_eq!(e.key, "audit.retention_days");
        }
        let e = load("[audit]\nretention = 3\n", &[]).expect_err("unknown key");
        assert!(e.to_string().contains("retention"), "{e}");
    }
}
