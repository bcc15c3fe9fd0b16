//! Every malformed OpenID Connect request gets the spec's error and changes nothing.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

fn register(server: &Server) -> String {
    let out = server.cli(&[
        "client",
        "add",
        "app",
        "--name",
        "App",
        "--redirect-uri",
        "https://app.college.example/cb",
        "--post-logout-redirect-uri",
        "https://app.college.example/",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout).expect("json")["client_secret"].as_str().expect("secret").to_owned()
}

async fn json_error(r: reqwest::Response) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let status = r.status();
    let headers = r.headers().clone();
    let v: Value = r.json().await.expect("a JSON error body");
    (status, v["error"].as_str().unwrap_or("").to_owned(), headers)
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749_5_2() {
    let server = Server::start(&[]);
    let secret = register(&server);
    let c = server.client();
    let token = server.url("/token");
    let form = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).expect("form");
    let post =
        |body: String| c.post(&token).header("content-type", "application/x-www-form-urlencoded").body(body).send();
    let ok_auth = [("client_id", "app"), ("client_secret", secret.as_str())];
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (form(&[("client_id", "app")]), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            form(&[ok_auth[0], ok_auth[1], ("grant_type", "password")]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            form(&[ok_auth[0], ("client_secret", "wrong"), ("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            form(&[("client_id", "nobody"), ("client_secret", "x"), ("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            form(&[ok_auth[0], ok_auth[1], ("grant_type", "authorization_code")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            form(&[
                ok_auth[0],
                ok_auth[1],
                ("grant_type", "authorization_code"),
                ("code", "forged"),
                ("redirect_uri", "https://app.college.example/cb"),
            ]),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            form(&[ok_auth[0], ok_auth[1], ("grant_type", "refresh_token"), ("refresh_token", "forged")]),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            form(&[ok_auth[0], ok_auth[1], ("grant_type", "client_credentials"), ("scope", "openid")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            format!("{}&grant_type=client_credentials&grant_type=client_credentials", form(&ok_auth)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, error) in cases {
        let (s, e, h) = json_error(post(body.clone()).await.expect("post")).await;
        assert_eq!((s, e.as_str()), (status, error), "{body}");
        assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        if s == StatusCode::UNAUTHORIZED {
            assert!(h.contains_key("www-authenticate"));
        }
    }
    // Wrong media type, two authentication methods at once.
    let r = c.post(&token).json(&serde_json::json!({"grant_type": "client_credentials"})).send().await.expect("post");
    assert_eq!(json_error(r).await.1, "invalid_request");
    let r = c
        .post(&token)
        .basic_auth("app", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("client_secret", secret.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(json_error(r).await.1, "invalid_request");
    // Basic authentication works, and an oversized body is refused.
    let r = c
        .post(&token)
        .basic_auth("app", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["token_type"], "Bearer");
    let r = post(format!("{}&pad={}", form(&ok_auth), "x".repeat(40_000))).await.expect("post");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Introspection needs a client; unknown tokens are inactive; revocation always 200.
    let r = c.post(server.url("/introspect")).form(&[("token", "x")]).send().await.expect("post");
    assert_eq!(json_error(r).await.0, StatusCode::UNAUTHORIZED);
    let r = c
        .post(server.url("/introspect"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.json::<Value>().await.expect("json"), serde_json::json!({"active": false}));
    let r = c
        .post(server.url("/revoke"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    // UserInfo: no token, a forged token.
    let r = c.get(server.url("/userinfo")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().expect("ascii").starts_with("Bearer"));
    let r = c.get(server.url("/userinfo")).bearer_auth("forged").send().await.expect("get");
    assert!(r.headers()["www-authenticate"].to_str().expect("ascii").contains("invalid_token"));
}

#[tokio::test]
async fn authorization_errors_never_redirect_to_unregistered_places() {
    let server = Server::start(&[]);
    register(&server);
    let c = server.client();
    let auth = |q: &str| c.get(server.url(&format!("/authorize?{q}"))).send();
    let base = "client_id=app&redirect_uri=https%3A%2F%2Fapp.college.example%2Fcb&scope=openid&state=s1";
    for q in [
        "client_id=nobody&redirect_uri=https%3A%2F%2Fapp.college.example%2Fcb&response_type=code&scope=openid",
        "client_id=app&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid",
        "client_id=app&response_type=code&scope=openid",
        &format!("{base}&response_type=code&response_type=code"),
    ] {
        let r = auth(q).await.expect("get");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        assert!(r.headers().get("location").is_none(), "{q}");
        assert!(r.text().await.expect("body").contains("role=\"alert\""));
    }
    let r = auth(&format!("{base}&response_type=token")).await.expect("get");
    let to = location(&r);
    assert!(to.starts_with("https://app.college.example/cb?error=unsupported_response_type"), "{to}");
    assert!(
        to.contains("state=s1") && to.contains(&format!("iss={}", propusk::http::extract::urlencode(&server.base)))
    );
    // Not signed in: to the sign-in page, and back afterwards.
    let r = auth(&format!("{base}&response_type=code")).await.expect("get");
    assert!(location(&r).starts_with("/sign-in?next=%2Fauthorize%3F"), "{}", location(&r));
    let r = auth(&format!("{base}&response_type=code&prompt=none")).await.expect("get");
    assert!(location(&r).contains("error=login_required"));
    // Logout to an unregistered place is refused with a page.
    let r = c
        .get(server.url("/logout?client_id=app&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn discovery_keys_and_rotation() {
    let server = Server::start(&[]);
    let c = server.client();
    let d: Value =
        c.get(server.url("/.well-known/openid-configuration")).send().await.expect("get").json().await.expect("json");
    assert_eq!(d["issuer"], server.base.as_str());
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    async fn jwks(server: &Server) -> Value {
        server.client().get(server.url("/jwks")).send().await.expect("get").json::<Value>().await.expect("json")
    }
    let keys = jwks(&server).await;
    let kinds: Vec<_> =
        keys["keys"].as_array().expect("keys").iter().map(|k| k["alg"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, ["RS256", "ES256"]);
    assert!(keys["keys"].as_array().expect("keys").iter().all(|k| k.get("d").is_none()), "no private parts");
    // A rotation by the CLI is published by the running server within its refresh period
    // and at once to a new node; here the CLI's own view proves the store has four keys.
    let out = server.cli(&["keys", "rotate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&server.cli(&["keys", "list"]).stdout).expect("json");
    assert_eq!(listed["keys"].as_array().expect("keys").len(), 4);
    let server = server.restart();
    assert_eq!(jwks(&server).await["keys"].as_array().expect("keys").len(), 4);
    let master = std::fs::metadata(server.dir.path().join("data/master.key")).expect("master key");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&master.permissions()) & 0o777, 0o600);
}

#[tokio::test]
async fn clients_declared_in_the_configuration_file() {
    use sha2::Digest as _;
    let secret = "a-long-random-client-secret-for-the-timetable";
    let hash = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("propusk.toml");
    let declare = |redirect: &str| {
        format!(
            "[[client]]\nid = \"timetable\"\nname = \"Расписание\"\nredirect_uris = [\"{redirect}\"]\n\
             scopes = \"openid roles\"\nsecret_sha256 = \"{hash}\"\n"
        )
    };
    std::fs::write(&file, declare("https://timetable.college.example/cb")).expect("write");
    let path = file.to_str().expect("utf-8").to_owned();
    let server = Server::start(&[("PROPUSK_CONFIG", path.as_str())]);
    let c = server.client();
    let r = c
        .post(server.url("/token"))
        .basic_auth("timetable", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value =
        serde_json::from_slice(&server.cli(&["client", "show", "timetable", "--json"]).stdout).expect("json");
    assert_eq!(shown["redirect_uris"], serde_json::json!(["https://timetable.college.example/cb"]));
    // A declaration that breaks the rules stops start-up naming the entry.
    std::fs::write(&file, declare("http://timetable.college.example/cb")).expect("write");
    let out = server.cli(&["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("client[0]"), "{}", stderr(&out));
}
