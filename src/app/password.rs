//! A person changes their own password (R-1, D-2), as they must after an issued one.

use crate::domain::password::{Password, PasswordProblem};
use crate::domain::session::EndReason;
use crate::ports::Change;

use super::{App, AppError, CurrentSession};

impl App {
    /// Checks the current password and the policy, sets the new one, ends every other
    /// session of the person (whoever knew the old password is signed out).
    pub async fn change_password(
        &self,
        s: &CurrentSession,
        current: Password,
        new: Password,
        confirm: Password,
        ip: Option<&str>,
    ) -> Result<(), AppError> {
        if new != confirm {
            return Err(PasswordProblem::Mismatch.into());
        }
        if new == current {
            return Err(PasswordProblem::Unchanged.into());
        }
        let a = &s.account;
        self.settings.password_policy.check(new.expose(), a.login.as_str(), &a.full_name)?;
        // Accounts in an external directory change it there, as the person (RFC 3062).
        let hash = if self.change_directory_password(&a.login, &current, &new).await? {
            super::directory::DIRECTORY_PASSWORD.to_owned()
        } else {
            let secret = self.store.find_account_secret(&a.login).await?.ok_or(AppError::NotFound("account"))?;
            let ok = match secret.password_hash {
                Some(h) => self.hasher.verify(h, current).await?,
                None => false,
            };
            if !ok {
                return Err(AppError::WrongCurrentPassword);
            }
            self.hasher.hash(new).await?
        };
        let now = self.clock.now();
        let audit = self.audit(a.login.as_str(), "password.change", Some(a.login.as_str()), ip, String::new());
        let mut changes =
            vec![Change::SetPassword { id: a.id.clone(), hash, must_change: false, expires_at: None, at: now }];
        changes.extend(self.end_sessions_changes(&a.id, Some(&s.hash), EndReason::PasswordChanged, now).await?);
        changes.push(Change::InsertAudit(audit));
        self.store.commit(changes).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing;
    use crate::app::{Actor, SignInRequest};
    use crate::domain::account::{NewAccount, Role};
    use crate::domain::journal::Channel;

    #[tokio::test]
    async fn change_rules() {
        let (app, _) = testing::app().await;
        let new = NewAccount {
            login: "belova.e".into(),
            full_name: "Белова Елена".into(),
            roles: vec![Role::Teacher],
            ..NewAccount::default()
        };
        let cred = app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add");
        let sign_in = |pw: &str| SignInRequest {
            login: "belova.e".into(),
            password: Password::new(pw),
            ip: None,
            user_agent: None,
        };
        let t1 = app.sign_in(sign_in(cred.password.expose())).await.expect("first").token;
        let t2 = app.sign_in(sign_in(cred.password.expose())).await.expect("second").token;
        let s = app.current_session(t1.clone()).await.expect("lookup").expect("live");
        let old = cred.password.clone();
        let good = Password::new("Липовый-мёд-2026");
        let cases: Vec<(Password, Password, Password, &str)> = vec![
            (old.clone(), good.clone(), Password::new("other-one-2026"), "mismatch"),
            (old.clone(), old.clone(), old.clone(), "unchanged"),
            (old.clone(), Password::new("qwerty123"), Password::new("qwerty123"), "common"),
            (old.clone(), Password::new("belova-2026!"), Password::new("belova-2026!"), "login"),
            (Password::new("not-the-old-one"), good.clone(), good.clone(), "wrong current"),
        ];
        for (cur, n, c, why) in cases {
            assert!(app.change_password(&s, cur, n, c, None).await.is_err(), "{why}");
        }
        // Nothing changed: the issued password still works.
        app.sign_in(sign_in(old.expose())).await.expect("old still works");
        app.change_password(&s, old.clone(), good.clone(), good.clone(), None).await.expect("change");
        assert!(app.sign_in(sign_in(old.expose())).await.is_err());
        let again = app.sign_in(sign_in(good.expose())).await.expect("new works");
        assert!(!again.account.password_must_change);
        assert!(app.current_session(t1).await.expect("lookup").is_some(), "this session stays");
        assert!(app.current_session(t2).await.expect("lookup").is_none(), "others end");
    }
}
