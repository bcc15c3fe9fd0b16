//! Guessing stopped and compromise contained, through the real server: rate limits,
//! lockout with identical answers, unlock, compromise by lock code and by button (old
//! cookie, access and refresh tokens refused, back-channel logout delivered), and one lock
//! shared by two nodes on PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection as _;

async fn wrong(server: &Server, c: &reqwest::Client, login: &str) -> (StatusCode, String) {
    let r = sign_in(server, c, login, "not-the-password-1").await;
    (r.status(), r.text().await.expect("body").replace(login, "LOGIN"))
}

#[tokio::test]
async fn per_login_rate_limit_answers_429_with_retry_after() {
    let server =
        Server::start(&[("PROPUSK_PROTECTION_LOGIN_PER_MINUTE", "3"), ("PROPUSK_PROTECTION_LOCKOUT_THRESHOLD", "50")]);
    let c = server.client();
    for _ in 0..3 {
        assert_eq!(wrong(&server, &c, "someone.s").await.0, StatusCode::UNAUTHORIZED);
    }
    let r = sign_in(&server, &c, "someone.s", "x").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry));
    assert!(r.text().await.expect("body").contains("Слишком много попыток"));
    // Another login from the same address is still served.
    assert_eq!(wrong(&server, &c, "other.o").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn lockout_answers_like_a_wrong_password_until_unlocked() {
    let server = Server::start(&[]);
    let issued = add_user(&server, "target.t", "Мишенев Тимур", "student");
    let c = server.client();
    let (status, wrong_page) = wrong(&server, &c, "target.t").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for _ in 0..4 {
        wrong(&server, &c, "target.t").await;
    }
    // Locked now: the right password gets the very same answer as a wrong one, and as an
    // unknown login.
    let r = sign_in(&server, &c, "target.t", &issued).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.text().await.expect("body").replace("target.t", "LOGIN"), wrong_page);
    assert_eq!(wrong(&server, &c, "nobody.n").await.1, wrong_page);
    let show: Value =
        serde_json::from_slice(&server.cli(&["user", "show", "target.t", "--json"]).stdout).expect("json");
    assert_eq!(show["account"]["status"], "locked");
    assert_eq!(show["sign_ins"][0]["outcome"], "locked");
    let out = server.cli(&["user", "unlock", "target.t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(location(&sign_in(&server, &c, "target.t", &issued).await), "/account/password");
    let events: Value = serde_json::from_slice(&server.cli(&["user", "events", "--json"]).stdout).expect("json");
    let kinds: Vec<_> = events.as_array().expect("events").iter().map(|e| e["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, ["unlock", "lock"]);
}

/// A listener for back-channel logout tokens.
async fn logout_listener() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("lock").push(body);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}/bcl"), got)
}

/// Signs the person in (changing the issued password) and gets tokens for `client`.
async fn signed_in_with_tokens(server: &Server, c: &reqwest::Client, login: &str, issued: &str, secret: &str) -> Value {
    sign_in(server, c, login, issued).await;
    let csrf = csrf_of(server, c, "/account/password").await;
    c.post(server.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", issued),
            ("new", "Тайная-тропа-в-лесу"),
            ("confirm", "Тайная-тропа-в-лесу"),
        ])
        .send()
        .await
        .expect("change");
    let verifier = "v".repeat(50);
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let q = serde_urlencoded::to_string([
        ("client_id", "lms"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .expect("query");
    let r = c.get(server.url(&format!("/authorize?{q}"))).send().await.expect("authorize");
    let loc = location(&r);
    let code = loc.split("code=").nth(1).and_then(|s| s.split('&').next()).expect("code").to_owned();
    c.post(server.url("/token"))
        .basic_auth("lms", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn compromise_by_lock_code_ends_everything_at_once() {
    let server = Server::start(&[]);
    let (bcl, received) = logout_listener().await;
    let out = server.cli(&["user", "add", "victim.v", "--name", "Жертвова Вера", "--role", "student", "--json"]);
    let user: Value = serde_json::from_slice(&out.stdout).expect("json");
    let (issued, lock_code) = (user["password"].as_str().expect("pw"), user["lock_code"].as_str().expect("code"));
    let out = server.cli(&[
        "client",
        "add",
        "lms",
        "--name",
        "LMS",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--scopes",
        "openid profile offline_access",
        "--backchannel-logout-uri",
        &bcl,
        "--json",
    ]);
    let secret =
        serde_json::from_slice::<Value>(&out.stdout).expect("json")["client_secret"].as_str().expect("s").to_owned();
    let browser = server.client();
    let tokens = signed_in_with_tokens(&server, &browser, "victim.v", issued, &secret).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"].as_str().expect("refresh").to_owned();

    // Someone else reports it without signing in, from the public form.
    let stranger = server.client();
    let page = stranger.get(server.url("/compromised")).send().await.expect("get").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let report = |code: String| {
        stranger
            .post(server.url("/compromised"))
            .form(&[("csrf", csrf.clone()), ("login", "victim.v".into()), ("code", code)])
            .send()
    };
    let wrong = report("AAAA-BBBB-CCCC".into()).await.expect("post").text().await.expect("body");
    assert_eq!(
        browser.get(server.url("/account")).send().await.expect("get").status(),
        StatusCode::OK,
        "a wrong code changes nothing"
    );
    let right = report(lock_code.to_lowercase()).await.expect("post").text().await.expect("body");
    assert_eq!(wrong, right, "the answer does not tell whether the code was right");

    assert_eq!(
        browser.get(server.url("/account")).send().await.expect("get").status(),
        StatusCode::SEE_OTHER,
        "old cookie refused"
    );
    let r = browser.get(server.url("/userinfo")).bearer_auth(&access).send().await.expect("userinfo");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "access token refused");
    let r = browser
        .post(server.url("/token"))
        .basic_auth("lms", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .expect("refresh");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "offline refresh token refused too");
    let r = browser
        .post(server.url("/introspect"))
        .basic_auth("lms", Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.json::<Value>().await.expect("json")["active"], false);
    for _ in 0..100 {
        if !received.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "one back-channel logout for the one session");
    assert!(got[0].starts_with("logout_token=ey"));
    let show: Value =
        serde_json::from_slice(&server.cli(&["user", "show", "victim.v", "--json"]).stdout).expect("json");
    assert_eq!(show["account"]["status"], "compromised");
    let restored = server.cli(&["user", "restore", "victim.v", "--json"]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    let restored: Value = serde_json::from_slice(&restored.stdout).expect("json");
    assert_ne!(restored["lock_code"], lock_code);
    assert_eq!(
        location(&sign_in(&server, &server.client(), "victim.v", restored["password"].as_str().expect("pw")).await),
        "/account/password"
    );
}

#[tokio::test]
async fn compromise_by_button_needs_the_password() {
    let server = Server::start(&[]);
    let issued = add_user(&server, "button.b", "Кнопкина Бела", "teacher");
    let c = server.client();
    sign_in(&server, &c, "button.b", &issued).await;
    let page = c.get(server.url("/account/compromised")).send().await.expect("get").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = c
        .post(server.url("/account/compromised"))
        .form(&[("csrf", csrf.as_str()), ("password", "wrong")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .post(server.url("/account/compromised"))
        .form(&[("csrf", csrf.as_str()), ("password", issued.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(location(&r), "/compromised?done=1");
    assert_eq!(c.get(server.url("/account/password")).send().await.expect("get").status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn two_nodes_share_one_lock_on_postgresql() {
    let base = std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("propusk_nodes_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.expect("PostgreSQL");
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create");
    let url = format!("{base}/{name}");
    let a = Server::start(&[("PROPUSK_STORE_URL", url.as_str())]);
    // The second node shares the store and the master key.
    let master = a.dir.path().join("data/master.key");
    let b = Server::start(&[
        ("PROPUSK_STORE_URL", url.as_str()),
        ("PROPUSK_KEYS_MASTER_KEY_FILE", master.to_str().expect("utf-8")),
    ]);
    let issued = add_user(&a, "shared.s", "Общий Семён", "student");
    let (ca, cb) = (a.client(), b.client());
    // Interleaved: 3 failures on node A, 2 on node B.
    for i in 0..5 {
        let (server, c) = if i % 2 == 0 { (&a, &ca) } else { (&b, &cb) };
        assert_eq!(wrong(server, c, "shared.s").await.0, StatusCode::UNAUTHORIZED);
    }
    for (server, c) in [(&a, &ca), (&b, &cb)] {
        assert_eq!(
            sign_in(server, c, "shared.s", &issued).await.status(),
            StatusCode::UNAUTHORIZED,
            "locked on both nodes"
        );
    }
    let show: Value = serde_json::from_slice(&b.cli(&["user", "show", "shared.s", "--json"]).stdout).expect("json");
    let outcomes: Vec<_> =
        show["sign_ins"].as_array().expect("list").iter().map(|r| r["outcome"].as_str().unwrap_or("")).collect();
    assert_eq!(
        outcomes,
        ["locked", "locked", "bad_password", "bad_password", "bad_password", "bad_password", "bad_password"],
        "locked at exactly five"
    );
    let out = a.cli(&["user", "unlock", "shared.s"]);
    assert!(out.status.success());
    assert_eq!(location(&sign_in(&b, &cb, "shared.s", &issued).await), "/account/password", "unlocked everywhere");
    drop((a, b));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop");
}

/// A raw connection to the server: plain TCP, or TLS trusting the development CA.
async fn raw_connection(server: &Server) -> Box<dyn Stream> {
    let hostport = server.base.split("://").nth(1).expect("base").to_owned();
    let tcp = tokio::net::TcpStream::connect(&hostport).await.expect("connect");
    if !server.base.starts_with("https") {
        return Box::new(tcp);
    }
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(server.ca()).expect("dev CA");
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("handshake");
    Box::new(tls)
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// Reads until the server closes the connection (or 10 s pass); what it sent.
async fn until_closed(conn: &mut (impl tokio::io::AsyncRead + Unpin)) -> (String, std::time::Duration) {
    use tokio::io::AsyncReadExt as _;
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server kept a slow connection open for 10 s");
    (String::from_utf8_lossy(&got).into_owned(), started.elapsed())
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    use tokio::io::AsyncWriteExt as _;
    let server =
        Server::start(&[("PROPUSK_SERVER_HEADER_TIMEOUT_SECONDS", "1"), ("PROPUSK_SERVER_BODY_TIMEOUT_SECONDS", "1")]);
    let issued = add_user(&server, "patient.p", "Терпелив Пётр", "student");
    // Slow headers: a request line and one header, then nothing more.
    let mut slow_headers = raw_connection(&server).await;
    slow_headers.write_all(b"GET /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.expect("write");
    let headers_cut = tokio::spawn(async move { until_closed(&mut slow_headers).await });
    // A slow body: complete headers promising 40 bytes, then a byte every 300 ms.
    let slow_body = raw_connection(&server).await;
    let (mut rd, mut wr) = tokio::io::split(slow_body);
    let head = "POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 40\r\nAccept-Language: en\r\n\r\nlogin=";
    wr.write_all(head.as_bytes()).await.expect("write");
    tokio::spawn(async move {
        for _ in 0..30 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            if wr.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let body_cut = tokio::spawn(async move { until_closed(&mut rd).await });
    // Meanwhile someone else signs in as usual.
    let c = server.client();
    assert_eq!(location(&sign_in(&server, &c, "patient.p", &issued).await), "/account/password");
    let (sent, took) = headers_cut.await.expect("join");
    assert!(took < std::time::Duration::from_secs(5), "headers cut off after {took:?}");
    assert!(!sent.contains("200 OK"), "no answer to an incomplete request: {sent}");
    let (sent, took) = body_cut.await.expect("join");
    assert!(sent.starts_with("HTTP/1.1 408"), "a trickled body is answered 408: {sent}");
    assert!(sent.contains("could not be processed"), "{sent}");
    assert!(took < std::time::Duration::from_secs(5), "body cut off after {took:?}");
    // The server still answers everyone.
    let r = c.get(server.url("/healthz")).send().await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
}
