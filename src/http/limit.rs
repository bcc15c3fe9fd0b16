//! Request-rate limits with `governor`: sign-in attempts per client address (IPv6
//! grouped by /64) and per login, compromise reports per address, failed client
//! authentications at the token endpoint per address.
//!
//! These counters live in each node's memory: a limit is a brake on speed, not a record,
//! and the lasting defences (account locks, network blocks) are in the store and shared.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimits;
use crate::domain::lockout::network_of;

pub struct Limits {
    address: DefaultKeyedRateLimiter<String>,
    login: DefaultKeyedRateLimiter<String>,
    report: DefaultKeyedRateLimiter<String>,
    client_failures: DefaultKeyedRateLimiter<String>,
    /// Addresses refused at the token endpoint until then, after too many failures.
    penalty: Mutex<HashMap<String, Instant>>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The key for an address: itself for IPv4, its /64 for IPv6.
fn address_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) => network_of(&v6.to_string()),
        Some(v4) => v4.to_string(),
        None => "unknown".into(),
    }
}

impl Limits {
    pub fn new(c: &RateLimits) -> Self {
        let per_minute = |n: u32| Quota::per_minute(nz(n)).allow_burst(nz(n));
        Self {
            address: RateLimiter::keyed(per_minute(c.address_per_minute)),
            login: RateLimiter::keyed(per_minute(c.login_per_minute)),
            report: RateLimiter::keyed(Quota::per_hour(nz(c.report_per_hour)).allow_burst(nz(c.report_per_hour))),
            client_failures: RateLimiter::keyed(per_minute(c.client_auth_failures_per_minute)),
            penalty: Mutex::new(HashMap::new()),
        }
    }

    fn check(limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Result<(), Duration> {
        limiter.check_key(&key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// One sign-in attempt from `ip` on `login`; `Err(wait)` when over a limit.
    pub fn sign_in(&self, ip: Option<IpAddr>, login: &str) -> Result<(), Duration> {
        Self::check(&self.address, address_key(ip))?;
        let login: String = login.trim().to_lowercase().chars().take(64).collect();
        Self::check(&self.login, login)
    }

    pub fn report(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        Self::check(&self.report, address_key(ip))
    }

    /// Whether `ip` may try to authenticate a client now.
    pub fn client_auth_allowed(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let key = address_key(ip);
        let mut p = self.penalty.lock().unwrap_or_else(|e| e.into_inner());
        match p.get(&key) {
            Some(until) if *until > Instant::now() => Err(*until - Instant::now()),
            Some(_) => {
                p.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a failed client authentication from `ip`.
    pub fn client_auth_failed(&self, ip: Option<IpAddr>) {
        let key = address_key(ip);
        if let Err(wait) = Self::check(&self.client_failures, key.clone()) {
            self.penalty.lock().unwrap_or_else(|e| e.into_inner()).insert(key, Instant::now() + wait);
        }
    }

    /// Forgets idle keys so memory stays bounded.
    pub fn housekeeping(&self) {
        self.address.retain_recent();
        self.login.retain_recent();
        self.report.retain_recent();
        self.client_failures.retain_recent();
        let now = Instant::now();
        self.penalty.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(&RateLimits {
            address_per_minute: 3,
            login_per_minute: 2,
            report_per_hour: 1,
            client_auth_failures_per_minute: 2,
        })
    }

    #[test]
    fn limits_per_address_per_login_and_ipv6_network() {
        let l = limits();
        let a: IpAddr = "198.51.100.1".parse().expect("ip");
        assert!(l.sign_in(Some(a), "x").is_ok());
        assert!(l.sign_in(Some(a), "X ").is_ok());
        let wait = l.sign_in(Some(a), "x").expect_err("third attempt on one login");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(l.sign_in(Some(a), "y").is_err(), "the address is used up too");
        let b: IpAddr = "2001:db8:0:1::1".parse().expect("ip");
        let c: IpAddr = "2001:db8:0:1::ffff".parse().expect("ip");
        for i in 0..3 {
            assert!(l.sign_in(Some(b), &format!("user{i}")).is_ok());
        }
        assert!(l.sign_in(Some(c), "other").is_err(), "one /64 is one address");
        assert!(l.report(Some(a)).is_ok() && l.report(Some(a)).is_err());
    }

    #[test]
    fn client_auth_failures_earn_a_penalty() {
        let l = limits();
        let a: IpAddr = "192.0.2.9".parse().expect("ip");
        for _ in 0..2 {
            assert!(l.client_auth_allowed(Some(a)).is_ok());
            l.client_auth_failed(Some(a));
        }
        l.client_auth_failed(Some(a));
        assert!(l.client_auth_allowed(Some(a)).is_err());
        assert!(l.client_auth_allowed(Some("192.0.2.10".parse().expect("ip"))).is_ok());
        l.housekeeping();
    }
}
