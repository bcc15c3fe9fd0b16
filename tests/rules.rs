//! The rules of the environment: the rows on SQLite and PostgreSQL, and end to end
//! through the real binary over TLS: the shipped text published at first start, the
//! first sign-in asking for it after the forced password change, the acceptance recorded
//! with its address, a new version asking again (a translation not), a stale or
//! anti-forgery-less answer changing nothing, declining signing out, and the authorization
//! endpoint and forward-auth sending the person to the rules first and back afterwards.

mod common;
#[macro_use]
#[path = "common/store_db.rs"]
mod store_db;

use std::sync::Arc;

use common::*;
use propusk::domain::{AccountId, Timestamp};
use propusk::ports::rules::{Acceptance, RuleVersion, RulesChange, RulesStanding};
use propusk::ports::{Change, Store, StoreError};
use reqwest::StatusCode;

// ---- the rows, on both backends ----

fn version(number: i64, text: &str) -> RuleVersion {
    RuleVersion {
        number,
        digest: propusk::app::rules_digest(text),
        text_ru: text.into(),
        text_en: None,
        published_at: Timestamp::from_millis(1_800_000_000_000 + number),
        published_by: "os:registrar".into(),
    }
}

async fn rule_rows(store: Arc<dyn Store>) {
    use propusk::domain::account::{Account, AccountStatus, Role, Roles};
    let t0 = Timestamp::from_millis(1_800_000_000_000);
    let a = Account {
        id: AccountId::generate(t0.as_millis(), &mut rand::rngs::OsRng),
        login: propusk::domain::Login::parse("pravilov.p").expect("login"),
        full_name: "Правилов Пётр".into(),
        email: None,
        roles: Roles::new([Role::Student]),
        study_group: None,
        department: None,
        external_id: None,
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: t0,
        updated_at: t0,
    };
    let account = a.id.clone();
    store.commit(vec![Change::InsertAccount { account: a, password_hash: "x".into() }]).await.expect("account");

    assert_eq!(store.find_current_rules().await.expect("current"), None);
    assert_eq!(store.rules_standing(&account).await.expect("standing"), RulesStanding::default());
    let publish = |v: RuleVersion| Change::Rules(RulesChange::Publish(v));
    store.commit(vec![publish(version(1, "Правила 1"))]).await.expect("v1");
    let e = store.commit(vec![publish(version(1, "Другие"))]).await.expect_err("number taken");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store
        .commit(vec![Change::Rules(RulesChange::Translate { number: 7, text_en: "Rules".into() })])
        .await
        .expect_err("no version 7");
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    store
        .commit(vec![Change::Rules(RulesChange::Translate { number: 1, text_en: "Rules 1".into() })])
        .await
        .expect("translate");
    let accept = |v: i64, ip: Option<&str>| {
        Change::Rules(RulesChange::Accept(Acceptance {
            account: account.clone(),
            version: v,
            at: Timestamp::from_millis(1_800_000_100_000 + v),
            ip: ip.map(str::to_owned),
        }))
    };
    store.commit(vec![accept(1, Some("192.0.2.10"))]).await.expect("accept");
    let e = store.commit(vec![accept(1, None)]).await.expect_err("accepted before");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(
        store.rules_standing(&account).await.expect("standing"),
        RulesStanding { current: Some(1), accepted: Some(1) }
    );
    // A failing change leaves nothing behind: the version and its acceptance go together.
    let e = store.commit(vec![publish(version(2, "Правила 2")), accept(2, None), accept(1, None)]).await;
    assert!(e.is_err());
    assert_eq!(store.find_current_rules().await.expect("current").map(|v| v.number), Some(1));
    store.commit(vec![publish(version(2, "Правила 2"))]).await.expect("v2");
    assert_eq!(
        store.rules_standing(&account).await.expect("standing"),
        RulesStanding { current: Some(2), accepted: Some(1) }
    );
    store.commit(vec![accept(2, None)]).await.expect("accept v2");
    let current = store.find_current_rules().await.expect("current").expect("v2");
    assert_eq!(current, version(2, "Правила 2"));
    let all = store.list_rule_versions().await.expect("versions");
    assert_eq!(all.iter().map(|v| v.number).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(all[1].text_en.as_deref(), Some("Rules 1"));
    let accepted = store.list_acceptances(&account).await.expect("acceptances");
    assert_eq!(accepted.len(), 2);
    assert_eq!((accepted[0].version, accepted[0].ip.as_deref()), (2, None));
    assert_eq!((accepted[1].version, accepted[1].ip.as_deref()), (1, Some("192.0.2.10")));
    assert_eq!(accepted[1].at, Timestamp::from_millis(1_800_000_100_001));
    let other = AccountId::from_stored("nobody".into());
    assert_eq!(store.list_acceptances(&other).await.expect("none"), []);
}

conformance!(rule_rows);

// ---- end to end ----

const NEW_PASSWORD: &str = "Правило-принято-2026";

fn start() -> Server {
    Server::start(&[("PROPUSK_RULES_REQUIRED", "true"), ("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")])
}

/// Registers a student, signs in with the issued password and changes it; returns the
/// client (its jar holds the session) and where the password change led.
async fn student(server: &Server, login: &str) -> (reqwest::Client, String) {
    let issued = add_user(server, login, "Правилова Полина", "student");
    let c = server.client();
    let r = sign_in(server, &c, login, &issued).await;
    assert_eq!(location(&r), "/account/password", "the issued password is changed first");
    // The rules wait until the password is changed.
    let r = c.get(server.url("/rules")).send().await.expect("rules");
    assert_eq!(location(&r), "/account/password?next=%2Frules%3Fnext%3D%252Faccount");
    let csrf = csrf_of(server, &c, "/account/password").await;
    let r = c
        .post(server.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", issued.as_str()),
            ("new", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (c, location(&r))
}

async fn answer(server: &Server, c: &reqwest::Client, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(server.url("/rules")).form(form).send().await.expect("post")
}

fn accepted(server: &Server, login: &str) -> serde_json::Value {
    let out = server.cli(&["rules", "accepted", login, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn publish(server: &Server, text: &str, lang: &str) -> serde_json::Value {
    let file = server.dir.path().join(format!("rules-{lang}.md"));
    std::fs::write(&file, text).expect("write");
    let out = server.cli(&["rules", "publish", file.to_str().expect("path"), "--lang", lang, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test]
async fn first_sign_in_asks_for_the_rules_and_each_new_version_asks_again() {
    let server = start();
    // The shipped text is version 1, published by the first start.
    let out = server.cli(&["rules", "show", "--json"]);
    let versions: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(versions.as_array().map(Vec::len), Some(1));
    assert_eq!(versions[0]["number"], 1);
    assert_eq!(versions[0]["published_by"], "system");
    let shipped = std::fs::read_to_string(shipped_policies().join("rules/ru.md")).expect("ru.md");
    assert_eq!(versions[0]["text_ru"].as_str(), Some(shipped.trim()));
    assert_eq!(versions[0]["digest"].as_str(), Some(propusk::app::rules_digest(shipped.trim()).as_str()));
    assert!(versions[0]["text_en"].as_str().is_some_and(|t| t.contains("Appendix 1")));

    let (c, after_change) = student(&server, "pravilova.p").await;
    assert_eq!(after_change, "/account?done=password");
    let r = c.get(server.url(&after_change)).send().await.expect("account");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/rules?next=%2Faccount%3Fdone%3Dpassword", "the rules before the account");
    let page = c.get(server.url("/rules?next=%2Faccount%3Fdone%3Dpassword")).send().await.expect("rules");
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.expect("body");
    for want in
        ["Правила работы в ЭИОС", "Редакция 1", "передачу своего логина и пароля другому лицу", "Принимаю правила"]
    {
        assert!(page.contains(want), "the rules page lacks {want:?}");
    }
    assert!(page.contains("<ol start=\"1\">") && page.contains("<ul>"), "lists are lists");
    let csrf = input_value(&page, "csrf").expect("csrf");
    assert_eq!(input_value(&page, "version").as_deref(), Some("1"));
    assert_eq!(input_value(&page, "next").as_deref(), Some("/account?done=password"));

    // Without the anti-forgery token nothing is recorded.
    let r = answer(&server, &c, &[("version", "1"), ("answer", "accept"), ("next", "/account")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = answer(&server, &c, &[("csrf", "x".repeat(43).as_str()), ("version", "1"), ("answer", "accept")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(accepted(&server, "pravilova.p"), serde_json::json!([]));
    assert_eq!(location(&c.get(server.url("/account")).send().await.expect("get")), "/rules?next=%2Faccount");
    // Nonsense answers are refused the same way.
    for bad in [[("answer", "maybe"), ("version", "1")], [("answer", "accept"), ("version", "один")]] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(bad);
        assert_eq!(answer(&server, &c, &form).await.status(), StatusCode::BAD_REQUEST);
    }
    // Another site as the place to go on to is not followed (invariant 8).
    let r = answer(
        &server,
        &c,
        &[("csrf", csrf.as_str()), ("version", "1"), ("answer", "accept"), ("next", "https://evil.example/")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");
    let list = accepted(&server, "pravilova.p");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["version"], 1);
    assert_eq!(list[0]["ip"], "127.0.0.1");
    let r = c.get(server.url("/account")).send().await.expect("account");
    assert_eq!(r.status(), StatusCode::OK, "accepted: the account opens");

    // A translation does not ask again; a new Russian text does.
    let v = publish(&server, "Rules, revised", "en");
    assert_eq!(v["version"], 1);
    assert_eq!(c.get(server.url("/account")).send().await.expect("get").status(), StatusCode::OK);
    let v = publish(&server, "# Правила\n\nНовая редакция: пароль никому не сообщать.", "ru");
    assert_eq!(v["version"], 2);
    let r = c.get(server.url("/account")).send().await.expect("get");
    assert_eq!(location(&r), "/rules?next=%2Faccount");
    let page = c.get(server.url("/rules")).send().await.expect("rules").text().await.expect("body");
    assert!(page.contains("изменились") && page.contains("Новая редакция"), "{page}");
    // The page shown before the new version was published: its answer is stale.
    let r = answer(&server, &c, &[("csrf", csrf.as_str()), ("version", "1"), ("answer", "accept")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.expect("body").contains("Пока вы читали, правила изменились"));
    assert_eq!(accepted(&server, "pravilova.p").as_array().map(Vec::len), Some(1));
    let r = answer(&server, &c, &[("csrf", csrf.as_str()), ("version", "2"), ("answer", "accept")]).await;
    assert_eq!(location(&r), "/account");
    assert_eq!(accepted(&server, "pravilova.p")[0]["version"], 2);

    // In English the translation is shown (or the Russian text, marked as Russian).
    let en = server.client();
    let r = en.get(server.url("/lang/en?next=/sign-in")).send().await.expect("lang");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = sign_in(&server, &en, "pravilova.p", NEW_PASSWORD).await;
    assert_eq!(location(&r), "/account");
    let page = en.get(server.url("/rules")).send().await.expect("rules").text().await.expect("body");
    assert!(page.contains("no English translation") && page.contains("lang=\"ru\""), "{page}");
    assert!(!page.contains("I accept the rules"), "nothing to accept");

    // Declining signs out, with the reason.
    publish(&server, "Правила, редакция 3", "ru");
    let r = answer(&server, &c, &[("csrf", csrf.as_str()), ("version", "3"), ("answer", "decline")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap_or("").starts_with("__Host-propusk=;")));
    assert!(r.text().await.expect("body").contains("Вы не приняли правила"));
    let r = c.get(server.url("/account")).send().await.expect("get");
    assert!(location(&r).starts_with("/sign-in"), "signed out");
    assert_eq!(accepted(&server, "pravilova.p")[0]["version"], 2, "nothing accepted");
}

#[tokio::test]
async fn authorization_and_forward_auth_go_to_the_rules_first() {
    let server = start();
    let out = server.cli(&[
        "client",
        "add",
        "portal",
        "--name",
        "Портал",
        "--redirect-uri",
        "https://portal.college.example/cb",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (c, _) = student(&server, "pravilov.o").await;

    let authorize = "/authorize?client_id=portal&redirect_uri=https%3A%2F%2Fportal.college.example%2Fcb\
                     &response_type=code&scope=openid&state=s1";
    let r = c.get(server.url(authorize)).send().await.expect("authorize");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to_rules = location(&r);
    assert!(to_rules.starts_with("/rules?next=%2Fauthorize%3F"), "{to_rules}");
    // prompt=none cannot show the rules: the client is told interaction is required.
    let r = c.get(server.url(&format!("{authorize}&prompt=none"))).send().await.expect("authorize");
    let back = location(&r);
    assert!(back.starts_with("https://portal.college.example/cb?error=interaction_required"), "{back}");

    // Forward-auth: not yet accepted is "sign in" (which leads to the rules), for the
    // person's own session cookie as for anyone.
    const TIMETABLE: &str = "https://timetable.college.example/group/IS-21";
    let verify = || c.get(server.url("/auth/verify")).header("X-Original-URL", TIMETABLE).send();
    let r = verify().await.expect("verify");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(server.url(&format!("/auth/continue?rd={}", urlencode(TIMETABLE)))).send().await.expect("continue");
    let continue_rules = location(&r);
    assert!(continue_rules.starts_with("/rules?next=%2Fauth%2Fcontinue%3Frd%3D"), "{continue_rules}");

    let page = c.get(server.url(&to_rules)).send().await.expect("rules").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let next = input_value(&page, "next").expect("next");
    assert!(next.starts_with("/authorize?client_id=portal"), "{next}");
    let r =
        answer(&server, &c, &[("csrf", csrf.as_str()), ("version", "1"), ("answer", "accept"), ("next", &next)]).await;
    assert_eq!(location(&r), next, "back to the authorization request");
    let r = c.get(server.url(&next)).send().await.expect("authorize");
    let code = location(&r);
    assert!(code.starts_with("https://portal.college.example/cb?code="), "{code}");
    assert!(code.contains("state=s1"));
    let r = verify().await.expect("verify");
    assert_eq!(r.status(), StatusCode::OK, "forward-auth lets them through now");
    assert_eq!(r.headers().get("remote-user").and_then(|v| v.to_str().ok()), Some("pravilov.o"));

    // A new version: both ask again.
    publish(&server, "Правила, редакция 2", "ru");
    assert_eq!(verify().await.expect("verify").status(), StatusCode::UNAUTHORIZED);
    let r = c.get(server.url(authorize)).send().await.expect("authorize");
    assert!(location(&r).starts_with("/rules?next="));
}

fn urlencode(s: &str) -> String {
    url_escape(s)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
