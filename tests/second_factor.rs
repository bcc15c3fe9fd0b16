//! The second factor of administrative roles (D-5) end to end: the real binary over TLS,
//! a real HTTP client with a cookie jar, codes computed from the secret shown on the page.

mod common;

use common::second_factor::{now_plus, recovery_codes_on, secret_on};
use common::{Server, add_user, input_value, location, sign_in, stderr};
use propusk::domain::totp::{TotpSecret, code_at};
use reqwest::StatusCode;

async fn get(server: &Server, c: &reqwest::Client, path: &str) -> reqwest::Response {
    c.get(server.url(path)).send().await.expect("get")
}

async fn post(server: &Server, c: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(server.url(path)).form(form).send().await.expect("post")
}

/// The sign-in form's anti-forgery token, which the second-factor forms carry too.
async fn pre_csrf(server: &Server, c: &reqwest::Client) -> String {
    let page = get(server, c, "/sign-in/second-factor").await.text().await.expect("body");
    input_value(&page, "csrf").unwrap_or_else(|| panic!("no csrf in {page}"))
}

async fn submit_code(server: &Server, c: &reqwest::Client, code: &str) -> reqwest::Response {
    let csrf = pre_csrf(server, c).await;
    post(server, c, "/sign-in/second-factor", &[("csrf", &csrf), ("code", code)]).await
}

/// Signs in with the password and enrols; returns the secret and the recovery codes.
async fn enrol(server: &Server, c: &reqwest::Client, login: &str, password: &str) -> (TotpSecret, Vec<String>) {
    let r = sign_in(server, c, login, password).await;
    assert_eq!(location(&r), "/sign-in/second-factor", "no session before the second factor");
    let page = get(server, c, "/sign-in/second-factor").await.text().await.expect("body");
    assert!(page.contains("<svg"), "the QR code is inline SVG");
    assert!(!page.contains("data:"), "no data: address under the content policy");
    let secret = secret_on(&page);
    let r = submit_code(server, c, &code_at(&secret, now_plus(0))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("body");
    let codes = recovery_codes_on(&page);
    assert_eq!(codes.len(), 10, "ten recovery codes shown once: {page}");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = post(server, c, "/sign-in/second-factor/saved", &[("csrf", &csrf)]).await;
    assert!(location(&r).starts_with("/account"), "{}", location(&r));
    (secret, codes)
}

async fn sign_out(server: &Server, c: &reqwest::Client) {
    let csrf = common::csrf_of(server, c, "/account/second-factor").await;
    let r = post(server, c, "/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_bootstrap_administrator_enrols_then_signs_in_with_a_code_once_and_a_recovery_code_once() {
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let password = server.bootstrap_password.clone().expect("bootstrap password");
    let c = server.client();
    // Before enrolling: no personal account, no forward-auth.
    let r = sign_in(&server, &c, "admin", &password).await;
    assert_eq!(location(&r), "/sign-in/second-factor");
    assert!(location(&get(&server, &c, "/account").await).starts_with("/sign-in"));
    let r = c
        .get(server.url("/auth/verify"))
        .header("X-Original-URL", "https://timetable.college.example/group/IS-21")
        .send()
        .await
        .expect("verify");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "forward-auth sees no session");
    // Enrol (a fresh client: the earlier pending sign-in is simply abandoned).
    let c = server.client();
    let (secret, codes) = enrol(&server, &c, "admin", &password).await;
    // The issued password must still be changed first (D-2).
    assert_eq!(location(&get(&server, &c, "/account").await), "/account/password");
    let csrf = common::csrf_of(&server, &c, "/account/password").await;
    let new_password = "Крепкий-пароль-2026!";
    let r = post(
        &server,
        &c,
        "/account/password",
        &[("csrf", &csrf), ("current", &password), ("new", new_password), ("confirm", new_password)],
    )
    .await;
    assert_eq!(location(&r), "/account?done=password");
    let page = get(&server, &c, "/account/second-factor").await.text().await.expect("body");
    assert!(page.contains("10"), "recovery codes left: {page}");
    sign_out(&server, &c).await;

    // Signing in again asks for a code; the next step's code works once.
    let next_code = code_at(&secret, now_plus(30));
    let c = server.client();
    assert_eq!(location(&sign_in(&server, &c, "admin", new_password).await), "/sign-in/second-factor");
    let r = submit_code(&server, &c, &next_code).await;
    assert_eq!(location(&r), "/account");
    assert_eq!(get(&server, &c, "/account").await.status(), StatusCode::OK);
    sign_out(&server, &c).await;
    let c = server.client();
    sign_in(&server, &c, "admin", new_password).await;
    let r = submit_code(&server, &c, &next_code).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a replayed code is refused");
    assert!(location(&get(&server, &c, "/account").await).starts_with("/sign-in"));

    // A recovery code, typed in capitals, works once.
    let r = submit_code(&server, &c, &codes[0].to_uppercase()).await;
    assert_eq!(location(&r), "/account");
    sign_out(&server, &c).await;
    let c = server.client();
    sign_in(&server, &c, "admin", new_password).await;
    assert_eq!(submit_code(&server, &c, &codes[0]).await.status(), StatusCode::UNAUTHORIZED);

    // The secret never reaches the log, nor do recovery codes.
    let log = server.log();
    assert!(log.contains("second factor passed"), "the log is the server's: {log}");
    assert!(!log.contains(&secret.to_base32()), "the secret is in the log");
    assert!(!log.contains(&secret.to_grouped_base32()), "the secret is in the log");
    assert!(!log.contains(&codes[1]), "a recovery code is in the log");
}

/// The sign-in page with its anti-forgery values removed, for comparing answers.
fn without_tokens(page: &str) -> String {
    let mut out = page.to_owned();
    while let Some(i) = out.find("name=\"csrf\" value=\"") {
        let start = i + "name=\"csrf\" value=\"".len();
        let end = start + out[start..].find('"').unwrap_or(0);
        out.replace_range(i..end, "name=\"csrf-removed");
    }
    out
}

#[tokio::test]
async fn five_wrong_codes_lock_the_account_with_the_wrong_password_page() {
    let server = Server::start(&[]);
    let password = add_user(&server, "ohrana.o", "Охранова Ольга", "security_officer");
    let c = server.client();
    let wrong_password = sign_in(&server, &c, "ohrana.o", "not-the-password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    let wrong_password = without_tokens(&wrong_password.text().await.expect("body"));
    let c = server.client();
    assert_eq!(location(&sign_in(&server, &c, "ohrana.o", &password).await), "/sign-in/second-factor");
    // The wrong password above was the first failure; four wrong codes make five.
    for i in 0..3 {
        let r = submit_code(&server, &c, "000000").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.text().await.expect("body").contains("<svg"), "still the enrolment page");
    }
    let r = submit_code(&server, &c, "000000").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let locked = without_tokens(&r.text().await.expect("body"));
    assert_eq!(locked, wrong_password, "a lock at the code looks like a wrong password");
    // Locked: the right password gets the same page.
    let c = server.client();
    let r = sign_in(&server, &c, "ohrana.o", &password).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(without_tokens(&r.text().await.expect("body")), wrong_password);
}

#[tokio::test]
async fn a_student_is_never_asked_and_a_reset_ends_sessions_and_forces_enrolment() {
    let server = Server::start(&[]);
    let student = add_user(&server, "uchenik.u", "Учеников Устин", "student");
    let c = server.client();
    assert_eq!(location(&sign_in(&server, &c, "uchenik.u", &student).await), "/account/password");

    let password = add_user(&server, "biblio.b", "Библиотекарева Берта", "librarian");
    let c = server.client();
    let (secret, _) = enrol(&server, &c, "biblio.b", &password).await;
    let out = server.cli(&["user", "reset-second-factor", "biblio.b"]);
    assert!(!out.status.success(), "a reason is required");
    let out = server.cli(&["user", "reset-second-factor", "biblio.b", "--reason", "телефон утерян"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(location(&get(&server, &c, "/account/password").await).starts_with("/sign-in"), "the session ended");
    let c = server.client();
    assert_eq!(location(&sign_in(&server, &c, "biblio.b", &password).await), "/sign-in/second-factor");
    let page = get(&server, &c, "/sign-in/second-factor").await.text().await.expect("body");
    let fresh = secret_on(&page);
    assert_ne!(fresh, secret, "a new secret is proposed: enrolment again");
}

/// The payload of a JWS, decoded.
fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn openid_connect_waits_for_the_second_factor_and_says_so_in_amr() {
    let server = Server::start(&[]);
    let out = server.cli(&[
        "client",
        "add",
        "portal",
        "--name",
        "Портал",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--scopes",
        "openid profile",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let client_secret = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let password = add_user(&server, "portal.admin", "Порталова Полина", "eios_admin");
    let auth = "/authorize?response_type=code&client_id=portal&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
                &scope=openid&state=s1&nonce=n1";
    let c = server.client();
    assert!(location(&get(&server, &c, auth).await).starts_with("/sign-in"));
    let page = get(&server, &c, "/sign-in").await.text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = post(
        &server,
        &c,
        "/sign-in",
        &[("csrf", &csrf), ("login", "portal.admin"), ("password", &password), ("next", auth)],
    )
    .await;
    assert_eq!(location(&r), "/sign-in/second-factor");
    // Not enrolled yet: the authorization endpoint still sees nobody.
    assert!(location(&get(&server, &c, auth).await).starts_with("/sign-in"), "no code before enrolment");
    let page = get(&server, &c, "/sign-in/second-factor").await.text().await.expect("body");
    let secret = secret_on(&page);
    let page = submit_code(&server, &c, &code_at(&secret, now_plus(0))).await.text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = post(&server, &c, "/sign-in/second-factor/saved", &[("csrf", &csrf)]).await;
    let to_password = location(&r);
    assert!(to_password.starts_with("/account/password?next="), "{to_password}");
    let page = get(&server, &c, &to_password).await.text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let next = input_value(&page, "next").expect("next");
    let new_password = "Порталы-и-коды-2026";
    let r = post(
        &server,
        &c,
        "/account/password",
        &[("csrf", &csrf), ("current", &password), ("new", new_password), ("confirm", new_password), ("next", &next)],
    )
    .await;
    assert_eq!(location(&r), auth, "back to the authorization request");
    let r = get(&server, &c, auth).await;
    let callback = location(&r);
    assert!(callback.starts_with("http://127.0.0.1:9/cb?code="), "{callback}");
    let code = callback.split("code=").nth(1).and_then(|v| v.split('&').next()).expect("code").to_owned();
    let r = c
        .post(server.url("/token"))
        .basic_auth("portal", Some(&client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "http://127.0.0.1:9/cb")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: serde_json::Value = r.json().await.expect("json");
    let claims = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]), "{claims}");

    // prompt=login: the password, and then the code again.
    let r = get(&server, &c, &format!("{auth}&prompt=login")).await;
    let to = location(&r);
    assert!(to.starts_with("/sign-in?") && to.contains("force"), "{to}");
    let page = get(&server, &c, &to).await.text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let next = input_value(&page, "next").expect("next");
    let r = post(
        &server,
        &c,
        "/sign-in",
        &[("csrf", &csrf), ("login", "portal.admin"), ("password", new_password), ("next", &next)],
    )
    .await;
    assert_eq!(location(&r), "/sign-in/second-factor", "re-authentication asks for the code again");
    let r = submit_code(&server, &c, &code_at(&secret, now_plus(30))).await;
    assert_eq!(location(&r), next);
}
