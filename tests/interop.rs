//! Interoperability: `openid-client` (Node.js, OpenID Certified) completes the whole flow
//! against the real server over TLS, unchanged: discovery, PKCE, sign-in through the
//! HTML form, code exchange with ID token validation, UserInfo, refresh with rotation,
//! revocation and RP-initiated logout. `scripts/test` installs it (`npm ci`).

mod common;

use std::process::Command;

use common::*;

#[test]
fn openid_client_completes_the_flow_unchanged() {
    let server = Server::start(&[]);
    let issued = add_user(&server, "node.user", "Нодова Нина", "student");
    // The account's password is changed first, as any person's would be.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = server.client();
        sign_in(&server, &c, "node.user", &issued).await;
        let csrf = csrf_of(&server, &c, "/account/password").await;
        let r = c
            .post(server.url("/account/password"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("current", issued.as_str()),
                ("new", "Зелёный-клён-2026"),
                ("confirm", "Зелёный-клён-2026"),
            ])
            .send()
            .await
            .expect("change");
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    });
    let out = server.cli(&[
        "client",
        "add",
        "portal",
        "--name",
        "Портал",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--post-logout-redirect-uri",
        "http://127.0.0.1:9/bye",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let secret = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    assert!(dir.join("node_modules/openid-client").exists(), "run `npm ci --prefix tests/interop` (scripts/test does)");
    let out = Command::new("node")
        .arg(dir.join("rp.mjs"))
        .env("NODE_EXTRA_CA_CERTS", server.ca())
        .env("ISSUER", &server.base)
        .env("CLIENT_ID", "portal")
        .env("CLIENT_SECRET", &secret)
        .env("LOGIN", "node.user")
        .env("PASSWORD", "Зелёный-клён-2026")
        .env("REDIRECT_URI", "http://127.0.0.1:9/cb")
        .env("LOGOUT_URI", "http://127.0.0.1:9/bye")
        .output()
        .expect("node");
    assert!(out.status.success(), "openid-client failed:\n{}\n{}", stdout(&out), stderr(&out));
    let seen: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(seen["username"], "node.user");
    assert_eq!(seen["roles"], serde_json::json!(["student"]));
    assert_eq!(seen["refreshed"], true);
    assert_eq!(seen["reuseRefused"], true, "{seen}");
    assert_eq!(seen["revokedRefused"], true, "{seen}");
    assert_eq!(seen["logoutStatus"], 303);
    assert_eq!(seen["logoutLocation"], "http://127.0.0.1:9/bye?state=bye");
}
