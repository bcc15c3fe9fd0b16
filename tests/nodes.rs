//! Two propusk nodes on one PostgreSQL database, as behind a load balancer: the
//! real binary twice, sharing the database, the master key and the certificate, and one
//! browser-like client whose cookies reach both. A session made on one node works on the
//! other; a code issued by one is redeemed at the other; a lock earned on one holds on
//! the other at once; a suspension made through either ends the session on both; one
//! node killed in the middle of sign-ins leaves the other answering every request.

mod common;
#[path = "common/store_db.rs"]
mod store_db;

use common::{Server, add_user, input_value, location};
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "Два-узла-одна-база-2026";

struct Pair {
    a: Server,
    b: Server,
    ca: std::path::PathBuf,
    _shared: tempfile::TempDir,
    db: store_db::Db,
}

async fn pair() -> Pair {
    let db = store_db::Db::postgres().await;
    let shared = tempfile::tempdir().expect("tempdir");
    let key = shared.path().join("master.key").display().to_string();
    let certs = shared.path().join("certs").display().to_string();
    let url = db.url();
    let env = [
        ("PROPUSK_STORE_URL", url.as_str()),
        ("PROPUSK_KEYS_MASTER_KEY_FILE", key.as_str()),
        ("PROPUSK_TLS_DEV_CERT_DIR", certs.as_str()),
    ];
    let a = Server::start(&env);
    let b = Server::start(&env);
    Pair { a, b, ca: shared.path().join("certs/dev-ca.pem"), _shared: shared, db }
}

impl Pair {
    /// One cookie jar for both nodes (cookies go by host, not port), trusting the CA.
    fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).expect("the shared CA");
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .https_only(true)
            .build()
            .expect("client")
    }
}

async fn sign_in_at(node: &Server, c: &reqwest::Client, login: &str, password: &str) -> reqwest::Response {
    let page = c.get(node.url("/sign-in")).send().await.expect("form").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    c.post(node.url("/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password), ("next", "/account")])
        .send()
        .await
        .expect("sign in")
}

#[tokio::test]
async fn sessions_codes_locks_and_suspensions_hold_across_nodes() {
    let p = pair().await;
    let c = p.client();
    let issued = add_user(&p.a, "dvuhuzlova.d", "Двухузлова Дарья", "student");

    // A session made on node A is the session on node B.
    let r = sign_in_at(&p.a, &c, "dvuhuzlova.d", &issued).await;
    assert_eq!(location(&r), "/account/password");
    let page = c.get(p.b.url("/account/password")).send().await.expect("b").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("node B knows the session");
    let r = c
        .post(p.b.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", issued.as_str()),
            ("new", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ])
        .send()
        .await
        .expect("change at B");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the password changed through node B");
    assert_eq!(c.get(p.a.url("/account")).send().await.expect("a").status(), StatusCode::OK, "and node A agrees");

    // An authorization code issued by A is redeemed at B; B's token works at A.
    let out = p.a.cli(&[
        "client",
        "add",
        "portal",
        "--name",
        "Портал",
        "--redirect-uri",
        "https://portal.college.example/cb",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let secret = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let r = c
        .get(p.a.url(
            "/authorize?client_id=portal&redirect_uri=https%3A%2F%2Fportal.college.example%2Fcb\
             &response_type=code&scope=openid%20profile&state=s1&nonce=n1",
        ))
        .send()
        .await
        .expect("authorize at A");
    let back = location(&r);
    let code = back.split("code=").nth(1).and_then(|s| s.split('&').next()).expect(&back).to_owned();
    let token: serde_json::Value = c
        .post(p.b.url("/token"))
        .basic_auth("portal", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://portal.college.example/cb"),
        ])
        .send()
        .await
        .expect("token at B")
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("an access token from B").to_owned();
    let info = c.get(p.a.url("/userinfo")).bearer_auth(&access).send().await.expect("userinfo at A");
    assert_eq!(info.status(), StatusCode::OK);
    let info: serde_json::Value = info.json().await.expect("json");
    assert_eq!(info["preferred_username"], "dvuhuzlova.d");
    // The same code again, at A this time: refused, and what it gave is revoked everywhere.
    let again = c
        .post(p.a.url("/token"))
        .basic_auth("portal", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://portal.college.example/cb"),
        ])
        .send()
        .await
        .expect("replay at A");
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        c.get(p.b.url("/userinfo")).bearer_auth(&access).send().await.expect("b").status(),
        StatusCode::UNAUTHORIZED
    );

    // A lock earned through node B holds on node A at once, with the same answer.
    add_user(&p.a, "ugadaykin.u", "Угадайкин Устин", "student");
    let guesser = p.client();
    for _ in 0..5 {
        let r = sign_in_at(&p.b, &guesser, "ugadaykin.u", "wrong-password-1").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let shown = p.a.cli(&["user", "show", "ugadaykin.u", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(shown["account"]["status"], "locked", "{shown}");

    // A suspension through either node's command line ends the session on both.
    let out = p.b.cli(&["user", "suspend", "dvuhuzlova.d", "--reason", "проверка"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    for node in [&p.a, &p.b] {
        let r = c.get(node.url("/account")).send().await.expect("account");
        assert!(location(&r).starts_with("/sign-in"), "the session ended at {}", node.base);
    }
    p.db.finish().await;
}

#[tokio::test]
async fn a_node_killed_under_sign_ins_leaves_the_other_answering() {
    let p = pair().await;
    let mut logins = Vec::new();
    for i in 0..6 {
        let login = format!("nagruzkin.n{i}");
        let issued = add_user(&p.a, &login, "Нагрузкин Никита", "student");
        logins.push((login, issued));
    }
    let pid = p.a.pid();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
        assert!(status.success());
    });
    // Sign-ins go to both nodes while A is killed; every one sent to B must succeed.
    let mut at_b = 0;
    for round in 0..8 {
        for (login, password) in &logins {
            let c = p.client();
            let node = if round % 2 == 0 { &p.b } else { &p.a };
            let r = sign_in_at_maybe(node, &c, login, password).await;
            if std::ptr::eq(node, &p.b) {
                let r = r.expect("node B answers");
                assert_eq!(r.status(), StatusCode::SEE_OTHER, "a sign-in at B succeeds");
                at_b += 1;
            }
        }
    }
    killer.await.expect("killer");
    assert_eq!(at_b, 24);
    assert!(sign_in_at_maybe(&p.a, &p.client(), &logins[0].0, &logins[0].1).await.is_none(), "node A is gone");
    // Each sign-in at B wrote one success to the shared log: 4 rounds per person.
    let out = p.b.cli(&["user", "show", "nagruzkin.n0", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let successes =
        shown["sign_ins"].as_array().expect("sign-ins").iter().filter(|s| s["outcome"] == "success").count();
    assert!((4..=8).contains(&successes), "B's four and whatever A finished before it died: {shown}");
    p.db.finish().await;
}

/// A sign-in that may meet a node that is gone (connection refused): `None` then.
async fn sign_in_at_maybe(
    node: &Server,
    c: &reqwest::Client,
    login: &str,
    password: &str,
) -> Option<reqwest::Response> {
    let page = c.get(node.url("/sign-in")).send().await.ok()?.text().await.ok()?;
    let csrf = input_value(&page, "csrf")?;
    c.post(node.url("/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password), ("next", "/account")])
        .send()
        .await
        .ok()
}
