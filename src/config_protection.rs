//! `[protection]`: lockout (D-1), spraying, request-rate limits and known devices.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProtection {
    pub lockout_threshold: u32,
    pub lockout_window_minutes: u32,
    pub lockout_minutes: u32,
    pub lockout_growth: u32,
    pub lockout_max_minutes: u32,
    pub lockout_permanent_after: u32,
    /// `account` (D-1) or `account_network`.
    pub lockout_scope: String,
    pub spray_distinct_logins: u32,
    pub spray_window_minutes: u32,
    pub spray_block_minutes: u32,
    pub address_per_minute: u32,
    pub login_per_minute: u32,
    pub report_per_hour: u32,
    pub client_auth_failures_per_minute: u32,
    /// Password hashes per second for attempts from networks with recent failures.
    pub suspect_hashes_per_second: u32,
    /// A browser stays known to an account this long after its last sign-in (0: off).
    pub known_device_days: u32,
}

impl Default for RawProtection {
    fn default() -> Self {
        Self {
            lockout_threshold: 5,
            lockout_window_minutes: 15,
            lockout_minutes: 30,
            lockout_growth: 2,
            lockout_max_minutes: 1440,
            lockout_permanent_after: 0,
            lockout_scope: "account".into(),
            spray_distinct_logins: 20,
            spray_window_minutes: 10,
            spray_block_minutes: 30,
            address_per_minute: 60,
            login_per_minute: 10,
            report_per_hour: 10,
            client_auth_failures_per_minute: 30,
            suspect_hashes_per_second: 5,
            known_device_days: 180,
        }
    }
}

/// Request-rate limits kept per node; see ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub address_per_minute: u32,
    pub login_per_minute: u32,
    pub report_per_hour: u32,
    pub client_auth_failures_per_minute: u32,
}
