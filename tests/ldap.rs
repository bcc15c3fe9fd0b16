//! propusk with its accounts in a real slapd (tests/common/slapd.rs), end to end: sign-in
//! through a bind with the entry synchronised into the store, group-to-role mapping,
//! injection attempts, an expired directory password, lockout and suspension written back
//! and seen by a plain `ldapwhoami`, unlock, password change, the scheduled sync, and the
//! directory stopping and starting under a running server.

mod common;

use std::time::{Duration, Instant};

use common::slapd::{self, Slapd};
use common::{Server, csrf_of, location, second_factor, sign_in, stderr};
use reqwest::StatusCode;
use serde_json::Value;

fn server(s: &Slapd, extra: &[(&str, &str)]) -> Server {
    let env = s.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.push(("PROPUSK_PROTECTION_LOGIN_PER_MINUTE", "1000"));
    all.push(("PROPUSK_PROTECTION_ADDRESS_PER_MINUTE", "1000"));
    all.extend_from_slice(extra);
    Server::start(&all)
}

fn show(server: &Server, login: &str) -> Value {
    let out = server.cli(&["user", "show", login, "--json"]);
    assert!(out.status.success(), "user show {login}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Waits until `check` holds (background work: the write-back queue, the sync).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sign_in_binds_syncs_the_entry_and_maps_groups_to_roles() {
    let s = Slapd::start();
    let server = server(&s, &[]);
    let c = server.client();
    let (uid, pw) = slapd::IVANOV;
    let r = sign_in(&server, &c, uid, pw).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/account".to_owned()), "{}", server.log());
    let v = show(&server, uid);
    assert_eq!(v["account"]["full_name"], "Иванов Иван Ильич");
    assert_eq!(v["account"]["roles"], serde_json::json!(["student"]));
    assert_eq!(v["account"]["study_group"], "ИС-21");
    assert_eq!(v["account"]["external_id"], "S-1001");
    // A group added in the directory is a role at the next sign-in.
    s.ldapmodify(&format!(
        "dn: cn=teachers,ou=groups,{}\nchangetype: modify\nadd: member\nmember: {}\n",
        slapd::BASE,
        slapd::dn(uid)
    ));
    let r = sign_in(&server, &server.client(), uid, pw).await;
    assert_eq!(location(&r), "/account");
    assert_eq!(show(&server, uid)["account"]["roles"], serde_json::json!(["student", "teacher"]));
    // A wrong password, an unknown login and injection attempts get the same page.
    let page = |r: reqwest::Response, login: &str| {
        let login = login.to_owned();
        async move {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            let body = r.text().await.expect("body");
            let csrf = common::input_value(&body, "csrf").expect("csrf");
            body.replace(&csrf, "CSRF").replace(&format!("value=\"{login}\""), "value=\"LOGIN\"")
        }
    };
    let wrong = page(sign_in(&server, &server.client(), uid, "wrong-password").await, uid).await;
    for attempt in ["nobody.here", "*", "*)(uid=*", "ivanov.ii)(|(uid=*", "иванов", "a\\b"] {
        let other = page(sign_in(&server, &server.client(), attempt, pw).await, attempt).await;
        assert_eq!(other, wrong, "{attempt:?}");
    }
}

#[tokio::test]
async fn an_expired_directory_password_is_told_only_with_the_right_password() {
    let s = Slapd::start();
    let server = server(&s, &[]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (uid, pw) = slapd::EXPIRED;
    let r = sign_in(&server, &server.client(), uid, "wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = sign_in(&server, &server.client(), uid, pw).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.expect("body").contains("в каталоге колледжа истёк"));
}

#[tokio::test]
async fn lockout_unlock_and_password_change_are_written_to_the_directory() {
    let s = Slapd::start();
    let server = server(&s, &[]);
    let (uid, pw) = slapd::PETROVA;
    let dn = slapd::dn(uid);
    let c = server.client();
    // An administrator (eios_admin from a group) passes the second factor too (D-5).
    let mut keys = second_factor::Keys::default();
    assert_eq!(second_factor::complete(&server, &c, sign_in(&server, &c, uid, pw).await, &mut keys).await, "/account");
    // Change the password in the personal account: Password Modify in the directory.
    let new = "Тихий-вечер-у-реки-7";
    let csrf = csrf_of(&server, &c, "/account/password").await;
    let r = c
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", pw), ("new", new), ("confirm", new)])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", server.log());
    assert!(s.whoami(&dn, new) && !s.whoami(&dn, pw));
    // D-1: five failures lock the account in propusk, and the lock reaches the directory.
    for _ in 0..5 {
        assert_eq!(sign_in(&server, &server.client(), uid, "wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(show(&server, uid)["account"]["status"], "locked");
    eventually("the lock is in the directory", || !s.whoami(&dn, new)).await;
    assert!(s.search(&dn, "(objectClass=*)").contains("pwdAccountLockedTime: 000001010000Z"));
    let out = server.cli(&["user", "unlock", uid]);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually("the unlock is in the directory", || s.whoami(&dn, new)).await;
    let c = server.client();
    assert_eq!(second_factor::complete(&server, &c, sign_in(&server, &c, uid, new).await, &mut keys).await, "/account");
    let writes: Vec<String> = s
        .search(&dn, "(objectClass=*)")
        .lines()
        .filter(|l| l.starts_with("pwdAccountLockedTime"))
        .map(str::to_owned)
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn the_scheduled_sync_brings_every_person_into_the_store() {
    let s = Slapd::start();
    let server = server(&s, &[("PROPUSK_DIRECTORY_SYNC_INTERVAL_MINUTES", "60")]);
    eventually("the sync ran", || server.cli(&["user", "show", slapd::PETROVA.0]).status.success()).await;
    let v = show(&server, slapd::PETROVA.0);
    assert_eq!(v["account"]["roles"], serde_json::json!(["teacher", "eios_admin"]));
    assert_eq!(show(&server, slapd::BARE.0)["account"]["full_name"], slapd::BARE.0);
    assert!(server.cli(&["user", "show", slapd::IVANOV.0]).status.success());
}

#[tokio::test]
async fn the_directory_stopping_fails_sign_in_closed_and_writes_wait_for_its_return() {
    let mut s = Slapd::start();
    let server = server(&s, &[]);
    let (uid, pw) = slapd::IVANOV;
    let dn = slapd::dn(uid);
    let c = server.client();
    assert_eq!(c.get(server.url("/readyz")).send().await.expect("readyz").status(), StatusCode::OK);
    assert_eq!(location(&sign_in(&server, &c, uid, pw).await), "/account");
    s.stop();
    let r = sign_in(&server, &server.client(), uid, pw).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.expect("body").contains("не отвечает"));
    let r = c.get(server.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.expect("body").starts_with("directory unavailable"));
    // A suspension while the directory is down is queued, not lost.
    let out = server.cli(&["user", "suspend", uid, "--reason", "приказ № 7-к"]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.resume();
    let ready =
        || async { c.get(server.url("/readyz")).send().await.map(|r| r.status() == StatusCode::OK).unwrap_or(false) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready().await {
        assert!(Instant::now() < deadline, "not ready after the directory returned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually("the suspension is in the directory", || !s.whoami(&dn, pw)).await;
    let out = server.cli(&["user", "activate", uid, "--reason", "восстановлен"]);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually("the activation is in the directory", || s.whoami(&dn, pw)).await;
    assert_eq!(location(&sign_in(&server, &server.client(), uid, pw).await), "/account");
}

#[tokio::test]
async fn an_administrative_reset_sets_the_issued_password_in_the_directory() {
    let s = Slapd::start();
    let server = server(&s, &[]);
    let (uid, pw) = slapd::PETROVA;
    let mut keys = second_factor::Keys::default();
    let c = server.client();
    assert_eq!(second_factor::complete(&server, &c, sign_in(&server, &c, uid, pw).await, &mut keys).await, "/account");
    let out = server.cli(&["user", "reset-password", uid, "--channel", "in_person", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let issued = v["password"].as_str().expect("password");
    assert!(s.whoami(&slapd::dn(uid), issued) && !s.whoami(&slapd::dn(uid), pw));
    // D-2: an issued password must be changed at first sign-in, here as anywhere.
    let c = server.client();
    let r = sign_in(&server, &c, uid, issued).await;
    assert_eq!(second_factor::complete(&server, &c, r, &mut keys).await, "/account/password");
}
