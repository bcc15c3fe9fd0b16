//! Account lockout (R-10, D-1): consecutive failures within a window lock an account for a
//! time that grows with each lock, up to a permanent lock that only an administrator lifts.
//!
//! The rule is computed from facts every node shares (the failures recorded in the store
//! since the last success or unlock, and the account's lock record), so nodes agree and a
//! restart forgets nothing.

use std::time::Duration;

use super::time::Timestamp;

/// What a lock is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// The whole account, wherever the guesses come from (D-1).
    Account,
    /// The account from one network only (/24 for IPv4, /64 for IPv6): a person signing in
    /// from elsewhere is not locked out by someone guessing from a network they do not use.
    AccountAndNetwork,
}

/// The configurable part of D-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub window: Duration,
    pub first_lock: Duration,
    /// Each further lock lasts this many times longer than the previous one.
    pub growth: u32,
    pub longest_lock: Duration,
    /// After this many locks the account stays locked until an administrator unlocks it;
    /// 0 never.
    pub permanent_after: u32,
    pub scope: LockScope,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            window: Duration::from_secs(15 * 60),
            first_lock: Duration::from_secs(30 * 60),
            growth: 2,
            longest_lock: Duration::from_secs(24 * 3600),
            permanent_after: 0,
            scope: LockScope::Account,
        }
    }
}

/// An account's lock record (one per scope key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockRecord {
    /// Locked until then; `None` is not locked (or unlocked).
    pub locked_until: Option<Timestamp>,
    /// Locks so far (until an administrator unlocks).
    pub lock_count: u32,
    pub permanent: bool,
    /// Failures before this are not counted: the last unlock or expired lock.
    pub counting_from: Option<Timestamp>,
}

impl LockRecord {
    pub fn is_locked(&self, now: Timestamp) -> bool {
        self.permanent || self.locked_until.is_some_and(|t| now < t)
    }
}

impl LockoutPolicy {
    /// Where counting failures starts at `now`: the window's start, the last success, or
    /// the end of the last lock, whichever is latest.
    pub fn count_since(&self, record: &LockRecord, last_success: Option<Timestamp>, now: Timestamp) -> Timestamp {
        let mut from = now.saturating_sub(self.window);
        for t in [last_success, record.counting_from, record.locked_until.filter(|t| *t <= now)].into_iter().flatten() {
            from = from.max(t);
        }
        from
    }

    /// The lock to apply when `failures` (counted since [`count_since`](Self::count_since),
    /// including the one just recorded) reach the threshold; `None` below it.
    pub fn lock_after(&self, record: &LockRecord, failures: u32, now: Timestamp) -> Option<LockRecord> {
        if failures < self.threshold || record.is_locked(now) {
            return None;
        }
        let count = record.lock_count + 1;
        let permanent = self.permanent_after > 0 && count >= self.permanent_after;
        let factor = u64::from(self.growth.max(1)).saturating_pow(count - 1);
        let secs = self.first_lock.as_secs().saturating_mul(factor).min(self.longest_lock.as_secs());
        Some(LockRecord {
            locked_until: Some(now.saturating_add(Duration::from_secs(secs))),
            lock_count: count,
            permanent,
            counting_from: record.counting_from,
        })
    }

    /// An administrator's unlock: nothing counted before it, the lock history cleared.
    pub fn unlocked(now: Timestamp) -> LockRecord {
        LockRecord { locked_until: None, lock_count: 0, permanent: false, counting_from: Some(now) }
    }
}

/// The network an address belongs to for limits and lock scopes: /24 for IPv4, /64 for IPv6.
pub fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn t(min: u64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000).saturating_add(MIN * u32::try_from(min).unwrap_or(0))
    }

    #[test]
    fn d1_five_failures_lock_for_thirty_minutes_growing() {
        let p = LockoutPolicy { permanent_after: 3, ..LockoutPolicy::default() };
        let r = LockRecord::default();
        let cases = [(4, None), (5, Some(30)), (9, Some(30))];
        for (failures, want) in cases {
            let got = p.lock_after(&r, failures, t(0)).map(|l| l.locked_until.map(|u| u.since(t(0)).as_secs() / 60));
            assert_eq!(got, want.map(Some), "{failures} failures");
        }
        let first = p.lock_after(&r, 5, t(0)).expect("locked");
        assert!(first.is_locked(t(29)) && !first.is_locked(t(30)));
        assert!(p.lock_after(&first, 6, t(10)).is_none(), "no second lock while locked");
        let second = p.lock_after(&first, 5, t(40)).expect("second");
        assert_eq!(second.locked_until, Some(t(100)), "60 minutes the second time");
        let third = p.lock_after(&second, 5, t(200)).expect("third");
        assert!(third.permanent && third.is_locked(t(100_000)), "permanent after three locks");
        let cleared = LockoutPolicy::unlocked(t(300));
        assert!(!cleared.is_locked(t(300)) && cleared.lock_count == 0);
    }

    #[test]
    fn counting_starts_after_success_unlock_or_lock_end() {
        let p = LockoutPolicy::default();
        let r = LockRecord::default();
        assert_eq!(p.count_since(&r, None, t(60)), t(45), "the 15-minute window");
        assert_eq!(p.count_since(&r, Some(t(50)), t(60)), t(50), "after the last success");
        let lock = LockRecord { locked_until: Some(t(55)), lock_count: 1, ..r };
        assert_eq!(p.count_since(&lock, Some(t(50)), t(60)), t(55), "after the lock ended");
        let unlocked = LockoutPolicy::unlocked(t(58));
        assert_eq!(p.count_since(&unlocked, None, t(60)), t(58));
    }

    #[test]
    fn networks_group_addresses() {
        assert_eq!(network_of("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(network_of("nonsense"), "unknown");
    }
}
