//! Sessions after sign-in: finding the current one, ending it, ending the others.

use crate::domain::account::{Account, AccountStatus};
use crate::domain::ids::{AccountId, SessionToken, SessionTokenHash};
use crate::domain::session::{EndReason, SessionTimes};
use crate::domain::time::Timestamp;
use crate::ports::Change;

use super::{App, AppError};

/// The signed-in person behind a request.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub token: SessionToken,
    pub hash: SessionTokenHash,
    pub account: Account,
    pub times: SessionTimes,
    /// When this session passed the second factor (D-5); `None` for a session of an
    /// account without an administrative role.
    pub second_factor_at: Option<Timestamp>,
}

impl App {
    /// The live session behind a cookie token, or `None` when there is none: unknown,
    /// ended, timed out (D-3) or of an account that may no longer be used.
    pub async fn current_session(&self, token: SessionToken) -> Result<Option<CurrentSession>, AppError> {
        let hash = token.hash();
        let Some(record) = self.store.find_session(&hash).await? else {
            return Ok(None);
        };
        if record.ended_at.is_some() {
            return Ok(None);
        }
        let now = self.clock.now();
        let account = self.store.find_account(&record.account_id).await?;
        let reason = match &account {
            Some(a) if a.status != AccountStatus::Active => Some(EndReason::AccountDisabled),
            None => Some(EndReason::AccountDisabled),
            // D-5: an administrative account's session exists only past the second
            // factor; one without it (a role granted later) ends.
            Some(a) if a.roles.any_administrative() && record.second_factor_at.is_none() => {
                Some(EndReason::SecondFactor)
            }
            Some(_) => record.times.ended_at(now),
        };
        if let Some(reason) = reason {
            let end = Change::EndSession { hash, account: record.account_id, at: now, reason };
            match self.store.commit(vec![end]).await {
                Ok(()) | Err(crate::ports::StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        let Some(account) = account else {
            return Ok(None);
        };
        let mut times = record.times;
        if times.needs_touch(now) {
            // A store that can be read but not written (a full disk) still serves the
            // session: an unrecorded use only brings its idle end closer, never further.
            match self.store.commit(vec![Change::TouchSession { hash: hash.clone(), at: now }]).await {
                Ok(()) => times.last_seen_at = now,
                Err(crate::ports::StoreError::Unavailable(why)) => {
                    tracing::warn!(%why, "the session's last use could not be recorded");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(CurrentSession { token, hash, account, times, second_factor_at: record.second_factor_at }))
    }

    pub async fn sign_out(&self, s: &CurrentSession, ip: Option<&str>) -> Result<(), AppError> {
        let now = self.clock.now();
        let audit = self.audit(s.account.login.as_str(), "sign_out", Some(s.account.login.as_str()), ip, String::new());
        let mut changes = vec![Change::EndSession {
            hash: s.hash.clone(),
            account: s.account.id.clone(),
            at: now,
            reason: EndReason::SignedOut,
        }];
        changes.extend(self.logout_changes(&s.account.id, &s.hash, now).await?);
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        Ok(())
    }

    /// Ends every live session of `account` but `except`, towards clients too.
    pub(crate) async fn end_sessions_changes(
        &self,
        account: &AccountId,
        except: Option<&SessionTokenHash>,
        reason: EndReason,
        now: Timestamp,
    ) -> Result<Vec<Change>, AppError> {
        Ok(self.end_sessions_counted(account, except, reason, now).await?.0)
    }

    /// As [`end_sessions_changes`](Self::end_sessions_changes), with how many sessions
    /// it ends.
    pub(crate) async fn end_sessions_counted(
        &self,
        account: &AccountId,
        except: Option<&SessionTokenHash>,
        reason: EndReason,
        now: Timestamp,
    ) -> Result<(Vec<Change>, usize), AppError> {
        let mut changes =
            vec![Change::EndSessionsOf { account: account.clone(), except: except.cloned(), at: now, reason }];
        let mut ended = 0;
        for live in self.store.list_live_sessions(account).await? {
            if Some(&live.hash) != except {
                ended += 1;
                changes.extend(self.logout_changes(account, &live.hash, now).await?);
            }
        }
        Ok((changes, ended))
    }

    /// Ends one of the person's own sessions; another person's session is "not found".
    pub async fn end_session(
        &self,
        s: &CurrentSession,
        target: SessionTokenHash,
        ip: Option<&str>,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let audit =
            self.audit(s.account.login.as_str(), "session.end", Some(s.account.login.as_str()), ip, String::new());
        let mut changes = vec![Change::EndSession {
            hash: target.clone(),
            account: s.account.id.clone(),
            at: now,
            reason: EndReason::EndedByUser,
        }];
        changes.extend(self.logout_changes(&s.account.id, &target, now).await?);
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        Ok(())
    }

    pub async fn end_other_sessions(&self, s: &CurrentSession, ip: Option<&str>) -> Result<(), AppError> {
        let now = self.clock.now();
        let audit = self.audit(
            s.account.login.as_str(),
            "session.end_others",
            Some(s.account.login.as_str()),
            ip,
            String::new(),
        );
        let mut changes = self.end_sessions_changes(&s.account.id, Some(&s.hash), EndReason::EndedByUser, now).await?;
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::testing;
    use crate::app::{Actor, SignInRequest};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::journal::Channel;

    async fn signed_in(app: &App, login: &str, roles: Vec<Role>) -> (CurrentSession, CurrentSession) {
        let new =
            NewAccount { login: login.into(), full_name: "Орлов Олег".into(), roles, ..NewAccount::default() };
        let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add");
        let mut out = Vec::new();
        for _ in 0..2 {
            let r = SignInRequest { login: login.into(), password: cred.password.clone(), ip: None, user_agent: None };
            let token = app.sign_in(r).await.expect("sign in").token;
            out.push(app.current_session(token).await.expect("lookup").expect("live"));
        }
        let b = out.pop().expect("two");
        (out.pop().expect("two"), b)
    }

    #[tokio::test]
    async fn idle_sessions_end_by_role() {
        let (app, clock) = testing::app().await;
        let (admin, _, _) =
            crate::app::second_factor::tests::enrolled_admin(&app, "orlov.admin", vec![Role::EiosAdmin]).await;
        let (student, _) = signed_in(&app, "orlov.student", vec![Role::Student]).await;
        clock.advance(Duration::from_secs(16 * 60));
        assert!(app.current_session(admin.token).await.expect("lookup").is_none());
        assert!(app.current_session(student.token.clone()).await.expect("lookup").is_some());
        clock.advance(Duration::from_secs(61 * 60));
        assert!(app.current_session(student.token).await.expect("lookup").is_none());
    }

    #[tokio::test]
    async fn ending_sessions() {
        let (app, _) = testing::app().await;
        let (a, b) = signed_in(&app, "orlov.o", vec![Role::Teacher]).await;
        let (other, _) = signed_in(&app, "orlov.x", vec![Role::Teacher]).await;
        // Someone else's session cannot be ended by its handle.
        let e = app.end_session(&a, other.hash.clone(), None).await.expect_err("foreign");
        assert!(matches!(e, AppError::NotFound("session")));
        assert!(app.current_session(other.token.clone()).await.expect("lookup").is_some());
        app.end_other_sessions(&a, None).await.expect("end others");
        assert!(app.current_session(b.token.clone()).await.expect("lookup").is_none());
        assert!(app.current_session(a.token.clone()).await.expect("lookup").is_some());
        app.sign_out(&a, None).await.expect("sign out");
        assert!(app.current_session(a.token.clone()).await.expect("lookup").is_none());
        // Signing out twice is "not found", and changes nothing.
        assert!(matches!(app.sign_out(&a, None).await, Err(AppError::NotFound("session"))));
    }

    #[tokio::test]
    async fn suspension_ends_sessions_at_once() {
        let (app, _) = testing::app().await;
        let (a, _) = signed_in(&app, "orlov.s", vec![Role::Staff]).await;
        app.suspend(&Actor::system(), "orlov.s", "test").await.expect("suspend");
        assert!(app.current_session(a.token).await.expect("lookup").is_none());
    }
}
