//! Session lifetime rules (D-3): idle timeouts by role, an absolute limit, and the
//! reasons a session ends.

use std::time::Duration;

use super::account::Roles;
use super::time::Timestamp;

/// The configurable limits of D-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_learner: Duration,
    pub idle_administrative: Duration,
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle_learner: Duration::from_secs(60 * 60),
            idle_administrative: Duration::from_secs(15 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
        }
    }
}

impl SessionLimits {
    /// An account holding any administrative role gets the shorter idle limit.
    pub fn idle_for(&self, roles: &Roles) -> Duration {
        if roles.any_administrative() { self.idle_administrative } else { self.idle_learner }
    }
}

/// Why a session ended; kept with the session for the account page and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    EndedByUser,
    Idle,
    Expired,
    PasswordChanged,
    AccountDisabled,
    /// The second factor was reset, or an administrative session lacks it (D-5).
    SecondFactor,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed_out",
            EndReason::EndedByUser => "ended_by_user",
            EndReason::Idle => "idle",
            EndReason::Expired => "expired",
            EndReason::PasswordChanged => "password_changed",
            EndReason::AccountDisabled => "account_disabled",
            EndReason::SecondFactor => "second_factor",
        }
    }
}

/// The stored timing of a session, enough to decide whether it is still alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_timeout: Duration,
    pub expires_at: Timestamp,
}

impl SessionTimes {
    pub fn start(now: Timestamp, idle_timeout: Duration, limits: &SessionLimits) -> Self {
        Self { created_at: now, last_seen_at: now, idle_timeout, expires_at: now.saturating_add(limits.absolute) }
    }

    /// `Some(reason)` when the session is over at `now`.
    pub fn ended_at(&self, now: Timestamp) -> Option<EndReason> {
        if now >= self.expires_at {
            Some(EndReason::Expired)
        } else if now.since(self.last_seen_at) >= self.idle_timeout {
            Some(EndReason::Idle)
        } else {
            None
        }
    }

    /// Whether `last_seen_at` is stale enough to be worth a write; keeps a busy page from
    /// writing on every request while the idle limit stays accurate to a minute.
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        now.since(self.last_seen_at) >= Duration::from_secs(60).min(self.idle_timeout / 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Role, Roles};

    #[test]
    fn idle_limit_depends_on_roles() {
        let l = SessionLimits::default();
        assert_eq!(l.idle_for(&Roles::new([Role::Student])), Duration::from_secs(3600));
        assert_eq!(l.idle_for(&Roles::new([Role::Teacher, Role::EiosAdmin])), Duration::from_secs(900));
        assert_eq!(l.idle_for(&Roles::new([Role::Librarian])), Duration::from_secs(900));
    }

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let l = SessionLimits::default();
        let t0 = Timestamp::from_millis(1_000_000);
        let mut s = SessionTimes::start(t0, Duration::from_secs(900), &l);
        let min = Duration::from_secs(60);
        assert_eq!(s.ended_at(t0.saturating_add(14 * min)), None);
        assert_eq!(s.ended_at(t0.saturating_add(15 * min)), Some(EndReason::Idle));
        // Kept busy, it still ends at the absolute limit.
        s.last_seen_at = t0.saturating_add(12 * 60 * min - min);
        assert_eq!(s.ended_at(t0.saturating_add(12 * 60 * min - Duration::from_secs(1))), None);
        assert_eq!(s.ended_at(t0.saturating_add(12 * 60 * min)), Some(EndReason::Expired));
    }

    #[test]
    fn touches_are_rate_limited() {
        let s = SessionTimes::start(Timestamp::from_millis(0), Duration::from_secs(3600), &SessionLimits::default());
        assert!(!s.needs_touch(Timestamp::from_millis(59_000)));
        assert!(s.needs_touch(Timestamp::from_millis(60_000)));
    }
}

/// How one sign-in attempt ended (D-10, R-13). Recorded for known and unknown logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    Success,
    BadPassword,
    UnknownLogin,
    /// Right password, but the account is not active.
    Disabled,
    /// Right password, but an issued password expired unused (D-2).
    Expired,
    /// Refused without checking the password: the account is locked.
    Locked,
    /// Right password, wrong second-factor code (D-5); counted like a wrong password.
    BadCode,
}

impl SignInOutcome {
    pub const ALL: [SignInOutcome; 7] = [
        SignInOutcome::Success,
        SignInOutcome::BadPassword,
        SignInOutcome::UnknownLogin,
        SignInOutcome::Disabled,
        SignInOutcome::Expired,
        SignInOutcome::Locked,
        SignInOutcome::BadCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::Success => "success",
            SignInOutcome::BadPassword => "bad_password",
            SignInOutcome::UnknownLogin => "unknown_login",
            SignInOutcome::Disabled => "disabled",
            SignInOutcome::Expired => "expired",
            SignInOutcome::Locked => "locked",
            SignInOutcome::BadCode => "bad_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn is_failure(self) -> bool {
        self != SignInOutcome::Success
    }
}
