//! The personal account page's data (ЛК): profile, the previous sign-in and failures
//! since (D-4), live sessions and recent sign-ins.

use crate::domain::account::Account;
use crate::domain::ids::SessionTokenHash;
use crate::domain::time::Timestamp;
use crate::ports::SignInRecord;

use super::{App, AppError, CurrentSession};

/// One live session as the person sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub handle: SessionTokenHash,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub account: Account,
    /// The successful sign-in before the one that started this session.
    pub previous_sign_in: Option<SignInRecord>,
    /// Failed attempts since that previous sign-in (D-4).
    pub failures_since_previous: Vec<SignInRecord>,
    pub sessions: Vec<SessionView>,
    pub recent_sign_ins: Vec<SignInRecord>,
    /// The resources this person may use now: the launcher.
    pub launcher: Vec<crate::policy::Resource>,
    /// Announcements in force for this person's roles.
    pub announcements: Vec<crate::ports::console::Announcement>,
    /// The second factor's state, for an account whose roles require one (D-5).
    pub second_factor: Option<super::SecondFactorStatus>,
}

const HISTORY: u32 = 100;
const RECENT: usize = 20;

impl App {
    pub async fn account_overview(&self, s: &CurrentSession) -> Result<AccountOverview, AppError> {
        let now = self.clock.now();
        let history = self.store.list_sign_ins(&s.account.id, HISTORY).await?;
        // Newest first: skip to the success that began this session (the newest success
        // not after its start), then the next success is the previous sign-in.
        let mut successes =
            history.iter().enumerate().filter(|(_, r)| !r.outcome.is_failure() && r.at <= s.times.created_at);
        let _this = successes.next();
        let previous = successes.next();
        let failures_since_previous = history
            .iter()
            .take(previous.map_or(history.len(), |(i, _)| i))
            .filter(|r| r.outcome.is_failure())
            .cloned()
            .collect();
        let sessions = self
            .store
            .list_live_sessions(&s.account.id)
            .await?
            .into_iter()
            .filter(|r| r.times.ended_at(now).is_none())
            .map(|r| SessionView {
                current: r.hash == s.hash,
                handle: r.hash,
                created_at: r.times.created_at,
                last_seen_at: r.times.last_seen_at,
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect();
        Ok(AccountOverview {
            account: s.account.clone(),
            previous_sign_in: previous.map(|(_, r)| r.clone()),
            failures_since_previous,
            sessions,
            recent_sign_ins: history.into_iter().take(RECENT).collect(),
            launcher: self.launcher(&s.account).await?,
            announcements: self.announcements_for(Some(&s.account.roles)).await?,
            second_factor: match s.account.roles.any_administrative() {
                true => Some(self.second_factor_status(&s.account).await?),
                false => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::app::testing;
    use crate::app::{Actor, SignInRequest};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::journal::Channel;
    use crate::domain::password::Password;
    use crate::domain::session::SignInOutcome;

    #[tokio::test]
    async fn shows_previous_sign_in_and_failures_since() {
        let (app, clock) = testing::app().await;
        let new = NewAccount {
            login: "frolov.f".into(),
            full_name: "Фролов Фёдор".into(),
            roles: vec![Role::Student],
            ..NewAccount::default()
        };
        let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add");
        let attempt = |pw: &str, ip: &str| SignInRequest {
            login: "frolov.f".into(),
            password: Password::new(pw),
            ip: Some(ip.into()),
            user_agent: None,
        };
        app.sign_in(attempt(cred.password.expose(), "198.51.100.1")).await.expect("first");
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            let _ = app.sign_in(attempt("guess-guess", "203.0.113.9")).await;
            clock.advance(Duration::from_secs(1));
        }
        let token = app.sign_in(attempt(cred.password.expose(), "198.51.100.2")).await.expect("again").token;
        let s = app.current_session(token).await.expect("lookup").expect("live");
        let o = app.account_overview(&s).await.expect("overview");
        let prev = o.previous_sign_in.expect("previous");
        assert_eq!(prev.ip.as_deref(), Some("198.51.100.1"));
        assert_eq!(o.failures_since_previous.len(), 3);
        assert!(o.failures_since_previous.iter().all(|r| r.outcome == SignInOutcome::BadPassword));
        assert_eq!(o.sessions.len(), 2);
        assert_eq!(o.sessions.iter().filter(|v| v.current).count(), 1);
        assert_eq!(o.recent_sign_ins.len(), 5);
    }
}
