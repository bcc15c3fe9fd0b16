//! Bad input changes nothing and gets a clear answer: malformed, oversized and forged
//! forms, unknown configuration, CLI misuse, and a store that goes away.

mod common;

use common::*;
use reqwest::StatusCode;
use sqlx::Connection as _;

/// The sign-in attempts recorded for `login`, via the CLI.
fn attempts(server: &Server, login: &str) -> usize {
    let out = server.cli(&["user", "show", login, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["sign_ins"].as_array().expect("sign_ins").len()
}

#[tokio::test]
async fn malformed_and_forged_forms_are_refused_and_change_nothing() {
    let server = Server::start(&[]);
    let issued = add_user(&server, "target.user", "Целевой Пользователь", "student");
    let c = server.client();
    let page = c.get(server.url("/sign-in")).send().await.expect("get").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let post = |body: Vec<u8>, content_type: &'static str| {
        c.post(server.url("/sign-in")).header("content-type", content_type).body(body).send()
    };
    let form = |extra: &str| format!("csrf={csrf}&login=target.user&password={}{extra}", issued).into_bytes();
    let cases: Vec<(&str, Vec<u8>, &'static str, StatusCode, &str)> = vec![
        (
            "no token",
            b"login=target.user&password=x".to_vec(),
            "application/x-www-form-urlencoded",
            StatusCode::FORBIDDEN,
            "Форма устарела",
        ),
        (
            "wrong token",
            format!("csrf={}&login=target.user&password={issued}", "A".repeat(43)).into_bytes(),
            "application/x-www-form-urlencoded",
            StatusCode::FORBIDDEN,
            "Форма устарела",
        ),
        (
            "json body",
            br#"{"login":"target.user"}"#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "Запрос не удалось обработать",
        ),
        (
            "oversized",
            form(&format!("&pad={}", "x".repeat(20_000))),
            "application/x-www-form-urlencoded",
            StatusCode::PAYLOAD_TOO_LARGE,
            "слишком много данных",
        ),
        (
            "duplicated field",
            form("&login=other"),
            "application/x-www-form-urlencoded",
            StatusCode::BAD_REQUEST,
            "Запрос не удалось обработать",
        ),
    ];
    for (what, body, ct, status, message) in cases {
        let r = post(body, ct).await.expect("post");
        assert_eq!(r.status(), status, "{what}");
        let text = r.text().await.expect("body");
        assert!(text.contains(message), "{what}: {text}");
        assert!(!text.contains("panicked") && !text.contains("sqlx"), "{what}");
    }
    // Invalid UTF-8 and control characters are just a wrong login.
    for body in [
        format!("csrf={csrf}&login=%FF%FE&password=x").into_bytes(),
        [format!("csrf={csrf}&login=").into_bytes(), vec![0xC3, 0x28], b"&password=x".to_vec()].concat(),
        format!("csrf={csrf}&login=target.user%00&password={issued}").into_bytes(),
        format!("csrf={csrf}&login={}&password=x", "a".repeat(5000)).into_bytes(),
    ] {
        let r = post(body, "application/x-www-form-urlencoded").await.expect("post");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempts(&server, "target.user"), 0, "no refused form reached the account");
    assert_eq!(server.cli(&["journal", "list", "--json"]).status.code(), Some(0));

    // Signed-in forms without the session's token do nothing either.
    sign_in(&server, &c, "target.user", &issued).await;
    let r = c
        .post(server.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", issued.as_str()),
            ("new", "Забор-из-синих-досок"),
            ("confirm", "Забор-из-синих-досок"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the pre-sign-in token is not the session's");
    let r = c.post(server.url("/sign-out")).form(&[("csrf", "")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        c.get(server.url("/account/password")).send().await.expect("get").status(),
        StatusCode::OK,
        "still signed in"
    );
    let csrf2 = csrf_of(&server, &c, "/account/password").await;
    let r = c
        .post(server.url("/account/sessions/end"))
        .form(&[("csrf", csrf2.as_str()), ("session", "not-a-handle")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn pages_speak_the_visitors_language_and_unknown_paths_are_404() {
    let server = Server::start(&[]);
    let c = server.client();
    let r = c.get(server.url("/no/such/page")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.expect("body").contains("Страница не найдена"));
    let r = c.get(server.url("/sign-in")).header("accept-language", "en-GB,en;q=0.9").send().await.expect("get");
    let body = r.text().await.expect("body");
    assert!(body.contains("lang=\"en\"") && body.contains("Sign in"));
    // The switch is remembered and returns to where it was used, never to another site.
    let r = c.get(server.url("/lang/en?next=//evil.example/")).send().await.expect("get");
    assert_eq!(location(&r), "/account");
    let body = c.get(server.url("/sign-in")).send().await.expect("get").text().await.expect("body");
    assert!(body.contains("lang=\"en\"") && body.contains("Sign in"), "the chosen language is remembered");
    assert_eq!(c.get(server.url("/lang/de")).send().await.expect("get").status(), StatusCode::NOT_FOUND);
}

#[test]
fn configuration_errors_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("propusk.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n").expect("write");
    let file_arg = file.to_str().expect("utf-8 path");
    let cases: Vec<(Vec<&str>, Vec<(String, String)>, &str)> = vec![
        (vec!["--config", file_arg, "serve"], vec![], "lisen"),
        (vec!["serve"], vec![("PROPUSK_SERVER_LISTN".into(), "x".into())], "PROPUSK_SERVER_LISTN"),
        (vec!["serve"], vec![("PROPUSK_PASSWORDS_MIN_LENGTH".into(), "eight".into())], "PROPUSK_PASSWORDS_MIN_LENGTH"),
        (vec!["serve"], vec![("PROPUSK_TLS_MODE".into(), "maybe".into())], "tls.mode"),
        (vec!["--config", "/nonexistent/propusk.toml", "serve"], vec![], "/nonexistent/propusk.toml"),
    ];
    for (args, env, key) in cases {
        let out = cli_in(dir.path(), &env, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        assert!(stderr(&out).contains(key), "{args:?}: {}", stderr(&out));
    }
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn an_unreachable_store_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![
        ("PROPUSK_STORE_URL".to_owned(), "postgres://postgres@127.0.0.1:1/propusk".to_owned()),
        ("PROPUSK_SERVER_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    let out = cli_in(dir.path(), &env, &["serve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("store.url") && !err.contains("panicked"), "{err}");
    let out = cli_in(dir.path(), &env, &["user", "list"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

#[test]
fn the_cli_refuses_bad_input_with_exit_codes() {
    let server = Server::start(&[]);
    let code = |args: &[&str]| server.cli(args).status.code();
    assert_eq!(code(&["user", "add", "kim.k", "--name", "Ким Кира", "--role", "dean"]), Some(2));
    assert_eq!(code(&["user", "add", "kim.k", "--name", "Ким Кира", "--role", "student", "--email", "nope"]), Some(2));
    assert_eq!(code(&["user", "add", "1kim", "--name", "Ким Кира", "--role", "student"]), Some(2));
    assert_eq!(code(&["user", "add", "kim.k", "--name", "Ким Кира", "--role", "student"]), Some(0));
    assert_eq!(code(&["user", "add", "KIM.K", "--name", "Другая Ким", "--role", "staff"]), Some(4));
    assert_eq!(code(&["user", "show", "nobody"]), Some(3));
    assert_eq!(code(&["user", "set-roles", "kim.k", "student,dean"]), Some(2));
    assert_eq!(code(&["user", "set-roles", "kim.k", "teacher,librarian"]), Some(0));
    assert_eq!(code(&["user", "reset-password", "nobody"]), Some(3));
    let list = server.cli(&["user", "list", "--role", "librarian", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(v.as_array().expect("array").len(), 1);
    assert_eq!(v[0]["roles"], serde_json::json!(["teacher", "librarian"]));
    let journal = server.cli(&["journal", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&journal.stdout).expect("json");
    assert_eq!(v.as_array().expect("array").len(), 2, "bootstrap and kim.k; refused commands issued nothing");
}

#[tokio::test]
async fn a_store_that_goes_away_answers_503_and_recovers() {
    let base = std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("propusk_outage_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.expect("PostgreSQL");
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create");
    let url = format!("{base}/{name}");
    let server = Server::start(&[("PROPUSK_STORE_URL", url.as_str())]);
    let issued = add_user(&server, "outage.user", "Сбой Пользователь", "student");
    let c = server.client();
    assert_eq!(location(&sign_in(&server, &c, "outage.user", &issued).await), "/account/password");

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).execute(&mut admin).await.expect("block");
    sqlx::query(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        .execute(&mut admin)
        .await
        .expect("terminate");
    let r = c.get(server.url("/account/password")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let body = r.text().await.expect("body");
    assert!(body.contains("временно недоступен") && !body.contains("pg_") && !body.contains("sqlx"), "{body}");
    assert_eq!(c.get(server.url("/readyz")).send().await.expect("get").status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(c.get(server.url("/healthz")).send().await.expect("get").status(), StatusCode::OK);

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).execute(&mut admin).await.expect("unblock");
    assert_eq!(c.get(server.url("/readyz")).send().await.expect("get").status(), StatusCode::OK);
    assert_eq!(
        c.get(server.url("/account/password")).send().await.expect("get").status(),
        StatusCode::OK,
        "the session survived"
    );
    drop(server);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop");
}
