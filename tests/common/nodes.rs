//! Two propusk nodes on one PostgreSQL database, as behind a load balancer: the real
//! binary twice, sharing the database, the master key and the certificate (node A starts
//! first and makes it), with one browser-like client whose cookies reach both. Node B may
//! be given more environment, such as a clock set off with libfaketime.

#![allow(dead_code)]

use std::path::PathBuf;

use crate::common::{Server, csrf_of, input_value, location};
use crate::store_db;

pub struct Pair {
    pub a: Server,
    pub b: Server,
    pub ca: PathBuf,
    _shared: tempfile::TempDir,
    pub db: store_db::Db,
}

/// Two nodes with the same settings.
pub async fn pair() -> Pair {
    pair_with(&[], &[]).await
}

/// Two nodes; `both` goes to each, `only_b` to node B alone.
pub async fn pair_with(both: &[(&str, &str)], only_b: &[(&str, &str)]) -> Pair {
    let db = store_db::Db::postgres().await;
    let shared = tempfile::tempdir().expect("tempdir");
    let key = shared.path().join("master.key").display().to_string();
    let certs = shared.path().join("certs").display().to_string();
    let url = db.url();
    let mut env = vec![
        ("PROPUSK_STORE_URL", url.as_str()),
        ("PROPUSK_KEYS_MASTER_KEY_FILE", key.as_str()),
        ("PROPUSK_TLS_DEV_CERT_DIR", certs.as_str()),
    ];
    env.extend_from_slice(both);
    let a = Server::start(&env);
    env.extend_from_slice(only_b);
    let b = Server::start(&env);
    Pair { a, b, ca: shared.path().join("certs/dev-ca.pem"), _shared: shared, db }
}

impl Pair {
    /// One cookie jar for both nodes (cookies go by host, not port), trusting the CA.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).expect("the shared CA");
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .https_only(true)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// Registers a confidential client through node A's command line; returns its secret.
    pub fn add_client(&self, id: &str, redirect_uri: &str) -> String {
        let out = self.a.cli(&["client", "add", id, "--name", id, "--redirect-uri", redirect_uri, "--json"]);
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned()
    }
}

pub async fn sign_in_at(node: &Server, c: &reqwest::Client, login: &str, password: &str) -> reqwest::Response {
    let page = c.get(node.url("/sign-in")).send().await.expect("form").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    c.post(node.url("/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password), ("next", "/account")])
        .send()
        .await
        .expect("sign in")
}

/// Replaces the issued password `current` through `node` (the session may come from the
/// other node), so that the browser may go on to connected services.
pub async fn change_password_at(node: &Server, c: &reqwest::Client, current: &str) {
    let new = "Два-узла-одни-часы-2026";
    let csrf = csrf_of(node, c, "/account/password").await;
    let r = c
        .post(node.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", current), ("new", new), ("confirm", new)])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status().as_u16(), 303, "the password changed at {}", node.base);
}

/// A client registered at both nodes' store, for the code flow.
pub struct Rp<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub redirect_uri: &'a str,
}

/// An authorization code from `node` for the signed-in browser `c`.
pub async fn code_at(node: &Server, c: &reqwest::Client, rp: &Rp<'_>) -> String {
    let uri: String = rp.redirect_uri.bytes().map(|b| format!("%{b:02X}")).collect();
    let r = c
        .get(node.url(&format!(
            "/authorize?client_id={}&redirect_uri={uri}&response_type=code&scope=openid%20profile&state=s&nonce=n",
            rp.id
        )))
        .send()
        .await
        .expect("authorize");
    let back = location(&r);
    back.split("code=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_else(|| panic!("no code in {back:?}"))
        .to_owned()
}

/// Redeems `code` at `node`'s token endpoint; the answer's status and JSON.
pub async fn redeem_at(node: &Server, c: &reqwest::Client, rp: &Rp<'_>, code: &str) -> (u16, serde_json::Value) {
    let r = c
        .post(node.url("/token"))
        .basic_auth(rp.id, Some(rp.secret))
        .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", rp.redirect_uri)])
        .send()
        .await
        .expect("token");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

/// The path of libfaketime's preload library (Debian's `faketime` package).
pub fn libfaketime() -> String {
    for dir in ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"] {
        let lib = format!("{dir}/faketime/libfaketime.so.1");
        if std::path::Path::new(&lib).exists() {
            return lib;
        }
    }
    panic!("libfaketime.so.1 not found: install the faketime package (scripts/test does)");
}
