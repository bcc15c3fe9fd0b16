//! Tests of the second factor's use cases (D-5) over an in-memory store.

use std::time::Duration;

use super::*;
use crate::app::testing::{self, TestClock};
use crate::app::{IssuedCredential, SignInRequest, SignInStep};
use crate::domain::account::{NewAccount, Role};
use crate::domain::journal::Channel;
use crate::domain::password::Password;
use crate::ports::Clock as _;

async fn add(app: &App, login: &str, roles: Vec<Role>) -> IssuedCredential {
    let new = NewAccount {
        login: login.into(), full_name: "Админова Анна".into(), roles, ..NewAccount::default()
    };
    app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add")
}

fn req(login: &str, password: &str) -> SignInRequest {
    SignInRequest {
        login: login.into(),
        password: Password::new(password),
        ip: Some("192.0.2.9".into()),
        user_agent: None,
    }
}

async fn start(app: &App, login: &str, password: &str) -> PendingStep {
    match app.sign_in_start(req(login, password), None, "/account").await.expect("sign in") {
        SignInStep::SecondFactor(p) => p,
        SignInStep::Done(..) => panic!("an administrator got a session without a second factor"),
    }
}

/// Enrols `login` through the sign-in flow; returns the session and the secret.
pub(crate) async fn enrolled_admin(app: &App, login: &str, roles: Vec<Role>) -> (CurrentSession, TotpSecret, String) {
    let cred = add(app, login, roles).await;
    let p = start(app, login, cred.password.expose()).await;
    assert_eq!(p.stage, PendingStage::Enrol);
    let view = app.pending_sign_in(&p.token).await.expect("view").expect("live");
    let enrolment = view.enrolment.expect("a proposed secret");
    assert!(enrolment.uri.starts_with("otpauth://totp/propusk:"));
    let secret = TotpSecret::from_base32(&enrolment.secret).expect("base32");
    let code = totp::code_at(&secret, app.clock.now());
    let CodeOutcome::Enrolled(codes) = app.submit_second_factor(&p.token, &code, None).await.expect("enrol") else {
        panic!("not enrolled")
    };
    assert_eq!(codes.len(), RECOVERY_CODES);
    let (signed, _, next) = app.finish_enrolment(&p.token, None).await.expect("finish");
    assert_eq!(next, "/account");
    let s = app.current_session(signed.token).await.expect("lookup").expect("live");
    (s, secret, cred.password.expose().to_owned())
}

fn later(clock: &TestClock) {
    clock.advance(Duration::from_secs(30));
}

#[tokio::test]
async fn an_administrator_enrols_then_signs_in_with_a_code_once() {
    let (app, clock) = testing::app().await;
    let (s, secret, password) = enrolled_admin(&app, "adminova.a", vec![Role::EiosAdmin]).await;
    assert!(s.second_factor_at.is_some());
    let status = app.second_factor_status(&s.account).await.expect("status");
    assert!(status.required && status.enrolled_at.is_some());
    assert_eq!(status.recovery_codes_left, RECOVERY_CODES);
    // The confirming code was accepted: the same code does not open a second sign-in.
    let p = start(&app, "adminova.a", &password).await;
    assert_eq!(p.stage, PendingStage::Code);
    let used = totp::code_at(&secret, clock.now());
    assert!(matches!(app.submit_second_factor(&p.token, &used, None).await, Ok(CodeOutcome::Wrong)));
    later(&clock);
    let fresh = totp::code_at(&secret, clock.now());
    let CodeOutcome::Done(signed, _, _) = app.submit_second_factor(&p.token, &fresh, None).await.expect("code") else {
        panic!("not signed in")
    };
    assert!(app.current_session(signed.token).await.expect("lookup").expect("live").second_factor_at.is_some());
    // The pending sign-in works once.
    assert!(matches!(app.submit_second_factor(&p.token, &fresh, None).await, Err(AppError::NotFound(_))));
    // A replay of the accepted code in a new sign-in is refused.
    let p = start(&app, "adminova.a", &password).await;
    assert!(matches!(app.submit_second_factor(&p.token, &fresh, None).await, Ok(CodeOutcome::Wrong)));
    let audit = app.store.list_audit("second_factor.", 50).await.expect("audit");
    let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"second_factor.enrol") && actions.contains(&"second_factor.failure"), "{actions:?}");
}

#[tokio::test]
async fn the_old_entry_points_give_an_administrator_no_session() {
    let (app, _) = testing::app().await;
    let cred = add(&app, "adminova.b", vec![Role::SecurityOfficer]).await;
    let e = app.sign_in(req("adminova.b", cred.password.expose())).await.expect_err("no session");
    assert!(matches!(e, AppError::Forbidden), "{e:?}");
    // A wrong password is the same answer as for anyone.
    let e = app.sign_in_start(req("adminova.b", "wrong-password"), None, "/").await.expect_err("wrong");
    assert!(matches!(e, AppError::InvalidCredentials));
    // A student is never asked.
    let student = add(&app, "studentova.s", vec![Role::Student]).await;
    let step = app.sign_in_start(req("studentova.s", student.password.expose()), None, "/").await.expect("student");
    assert!(matches!(step, SignInStep::Done(..)));
}

#[tokio::test]
async fn a_pending_sign_in_lasts_five_minutes() {
    let (app, clock) = testing::app().await;
    let cred = add(&app, "adminova.c", vec![Role::Librarian]).await;
    let p = start(&app, "adminova.c", cred.password.expose()).await;
    clock.advance(PENDING_TTL);
    assert!(app.pending_sign_in(&p.token).await.expect("view").is_none());
    assert!(matches!(app.submit_second_factor(&p.token, "123456", None).await, Err(AppError::NotFound(_))));
    assert!(app.pending_sign_in("not-a-token").await.expect("view").is_none());
}

#[tokio::test]
async fn wrong_codes_lock_like_wrong_passwords() {
    let (app, clock) = testing::app().await;
    let (_, secret, password) = enrolled_admin(&app, "adminova.d", vec![Role::EiosAdmin]).await;
    later(&clock);
    let p = start(&app, "adminova.d", &password).await;
    for _ in 0..4 {
        assert!(matches!(app.submit_second_factor(&p.token, "000000", None).await, Ok(CodeOutcome::Wrong)));
    }
    let e = app.submit_second_factor(&p.token, "000000", None).await.expect_err("locked at the fifth");
    assert!(matches!(e, AppError::InvalidCredentials), "{e:?}");
    // Locked: the right password is refused like a wrong one, and a code too.
    let e = app.sign_in_start(req("adminova.d", &password), None, "/").await.expect_err("locked");
    assert!(matches!(e, AppError::InvalidCredentials), "{e:?}");
    let right = totp::code_at(&secret, clock.now());
    assert!(app.submit_second_factor(&p.token, &right, None).await.is_err());
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let (app, clock) = testing::app().await;
    let cred = add(&app, "adminova.e", vec![Role::EiosAdmin]).await;
    let p = start(&app, "adminova.e", cred.password.expose()).await;
    let view = app.pending_sign_in(&p.token).await.expect("view").expect("live");
    let secret = TotpSecret::from_base32(&view.enrolment.expect("enrol").secret).expect("secret");
    let CodeOutcome::Enrolled(codes) =
        app.submit_second_factor(&p.token, &totp::code_at(&secret, clock.now()), None).await.expect("enrol")
    else {
        panic!("not enrolled")
    };
    app.finish_enrolment(&p.token, None).await.expect("finish");
    let shown = codes[3].display().to_uppercase();
    let p = start(&app, "adminova.e", cred.password.expose()).await;
    assert!(matches!(app.submit_second_factor(&p.token, &shown, None).await, Ok(CodeOutcome::Done(..))));
    let p = start(&app, "adminova.e", cred.password.expose()).await;
    assert!(matches!(app.submit_second_factor(&p.token, &shown, None).await, Ok(CodeOutcome::Wrong)));
    let status = app.second_factor_status_of("adminova.e").await.expect("status");
    assert_eq!(status.recovery_codes_left, RECOVERY_CODES - 1);
}

#[tokio::test]
async fn reenrolment_and_new_recovery_codes_need_a_fresh_code() {
    let (app, clock) = testing::app().await;
    let (s, secret, _) = enrolled_admin(&app, "adminova.f", vec![Role::EiosAdmin]).await;
    assert!(app.propose_reenrolment(&s, "000000", None).await.expect("wrong").is_none());
    later(&clock);
    let proposal = app
        .propose_reenrolment(&s, &totp::code_at(&secret, clock.now()), None)
        .await
        .expect("propose")
        .expect("a fresh code");
    let new = TotpSecret::from_base32(&proposal.secret).expect("secret");
    let sealed = proposal.proposal.expect("sealed");
    assert!(app.confirm_reenrolment(&s, &sealed, "000000", None).await.expect("wrong").is_none());
    let codes = app
        .confirm_reenrolment(&s, &sealed, &totp::code_at(&new, clock.now()), None)
        .await
        .expect("confirm")
        .expect("right code");
    assert_eq!(codes.len(), RECOVERY_CODES);
    // The proposal is sealed to this session: tampering is refused.
    assert!(app.confirm_reenrolment(&s, "AAAA", "123456", None).await.is_err());
    later(&clock);
    assert!(
        app.regenerate_recovery_codes(&s, &totp::code_at(&secret, clock.now()), None).await.expect("old").is_none()
    );
    let fresh = app.regenerate_recovery_codes(&s, &totp::code_at(&new, clock.now()), None).await.expect("new");
    assert_eq!(fresh.map(|c| c.len()), Some(RECOVERY_CODES));
}

#[tokio::test]
async fn a_reset_ends_sessions_and_asks_for_enrolment_again() {
    let (app, _) = testing::app().await;
    let (s, _, password) = enrolled_admin(&app, "adminova.g", vec![Role::EiosAdmin]).await;
    let e = app.reset_second_factor(&Actor::system(), "adminova.g", " ").await.expect_err("reason");
    assert!(matches!(e, AppError::Invalid(_)));
    app.reset_second_factor(&Actor::system(), "adminova.g", "lost phone").await.expect("reset");
    assert!(app.current_session(s.token.clone()).await.expect("lookup").is_none());
    assert_eq!(app.second_factor_status(&s.account).await.expect("status").enrolled_at, None);
    let p = start(&app, "adminova.g", &password).await;
    assert_eq!(p.stage, PendingStage::Enrol);
    let audit = app.store.list_audit("second_factor.", 50).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "second_factor.reset" && a.detail.contains("lost phone")));
}

#[tokio::test]
async fn a_role_granted_later_does_not_make_an_old_session_administrative() {
    let (app, _) = testing::app().await;
    let cred = add(&app, "studentova.t", vec![Role::Teacher]).await;
    let signed = app.sign_in(req("studentova.t", cred.password.expose())).await.expect("teacher");
    app.set_roles(&Actor::system(), "studentova.t", crate::domain::Roles::new(vec![Role::Teacher, Role::EiosAdmin]))
        .await
        .expect("grant");
    assert!(app.current_session(signed.token).await.expect("lookup").is_none());
}

#[tokio::test]
async fn forward_auth_refuses_an_administrative_session_without_the_second_factor() {
    let (app, _) = testing::app().await;
    let cred = add(&app, "prepodova.p", vec![Role::Teacher]).await;
    let signed = app.sign_in(req("prepodova.p", cred.password.expose())).await.expect("teacher");
    let s = app.current_session(signed.token).await.expect("lookup").expect("live");
    let pw = Password::new("Морская-волна-2026");
    app.change_password(&s, cred.password, pw.clone(), pw, None).await.expect("change");
    let token = s.token.expose().to_owned();
    let ask = || app.verify_forward(Some(&token), None, "timetable.college.example", "/group/IS-21");
    let before = ask().await.expect("verify");
    assert!(matches!(before, crate::app::ForwardAuth::Allowed { .. }), "a teacher's session: {before:?}");
    app.set_roles(&Actor::system(), "prepodova.p", crate::domain::Roles::new(vec![Role::Teacher, Role::EiosAdmin]))
        .await
        .expect("grant");
    assert!(matches!(ask().await.expect("verify"), crate::app::ForwardAuth::SignIn), "no second factor: sign in");
}

#[tokio::test]
async fn a_lock_set_meanwhile_refuses_the_right_code() {
    let (app, clock) = testing::app().await;
    let (_, secret, password) = enrolled_admin(&app, "adminova.h", vec![Role::EiosAdmin]).await;
    later(&clock);
    let p = start(&app, "adminova.h", &password).await;
    // Someone else guesses the password five times: the account locks (D-1).
    for _ in 0..5 {
        let e = app.sign_in_start(req("adminova.h", "wrong-password"), None, "/").await.expect_err("wrong");
        assert!(matches!(e, AppError::InvalidCredentials));
    }
    let right = totp::code_at(&secret, clock.now());
    let e = app.submit_second_factor(&p.token, &right, None).await.expect_err("locked");
    assert!(matches!(e, AppError::InvalidCredentials), "{e:?}");
    assert!(app.pending_sign_in(&p.token).await.expect("view").is_none(), "the pending sign-in is gone");
}
