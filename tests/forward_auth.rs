//! Role policies through the real binary: forward-auth answers for an
//! allowed, refused and unauthenticated person and for forged forwarding headers, the
//! return address after sign-in and the handoff of the session to the app's host (one
//! use, that host only), restrictions set and lifted with the CLI, `policy check` and
//! `policy explain`, and reloading valid and invalid policy files.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;

const EDITOR: &str = "https://timetable.college.example/edit/week";
const TIMETABLE: &str = "https://timetable.college.example/group/IS-21";

/// The session cookie a response sets, if any.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-propusk="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Registers `login` with `role`, signs in and changes the issued password; returns the
/// client (its jar holds the session) and the session cookie's value.
async fn signed_in(server: &Server, login: &str, role: &str) -> (reqwest::Client, String) {
    let issued = add_user(server, login, "Проверкин Пётр", role);
    let c = server.client();
    let r = sign_in(server, &c, login, &issued).await;
    let mut cookie = session_cookie(&r).expect("session cookie");
    let csrf = csrf_of(server, &c, "/account/password").await;
    let new = "Северное-сияние-2026";
    let r = c
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", issued.as_str()), ("new", new), ("confirm", new)])
        .send()
        .await
        .expect("change password");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password changed");
    if let Some(c) = session_cookie(&r) {
        cookie = c;
    }
    (c, cookie)
}

async fn verify(server: &Server, c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.get(server.url("/auth/verify")).header("X-Original-URL", url).send().await.expect("verify")
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[tokio::test]
async fn forward_auth_allows_refuses_and_asks_to_sign_in() {
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let (staff, _) = signed_in(&server, "staff.s", "staff").await;
    let (student, _) = signed_in(&server, "student.s", "student").await;

    let r = verify(&server, &staff, EDITOR).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "remote-user").as_deref(), Some("staff.s"));
    assert_eq!(header(&r, "remote-name").as_deref(), Some("Проверкин Пётр"));
    assert_eq!(header(&r, "remote-groups").as_deref(), Some("staff"));

    // The public timetable is told the login only, whatever the request carried.
    let r = student
        .get(server.url("/auth/verify"))
        .header("X-Original-URL", TIMETABLE)
        .header("Remote-User", "admin")
        .header("Remote-Groups", "eios_admin")
        .send()
        .await
        .expect("verify");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "remote-user").as_deref(), Some("student.s"));
    assert_eq!((header(&r, "remote-name"), header(&r, "remote-groups")), (None, None));

    let r = verify(&server, &student, EDITOR).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "staff tools are not for students");
    assert!(r.headers().get("remote-user").is_none());

    let anonymous = server.client();
    let r = verify(&server, &anonymous, EDITOR).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let to = location(&r);
    assert!(to.starts_with(&format!("{}/sign-in?next=%2Fauth%2Fcontinue%3Frd%3Dhttps", server.base)), "{to}");
    let r = anonymous
        .get(server.url("/auth/verify?redirect=1"))
        .header("X-Forwarded-Host", "timetable.college.example")
        .header("X-Forwarded-Uri", "/edit/week")
        .send()
        .await
        .expect("verify");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with(&format!("{}/sign-in?next=%2Fauth%2Fcontinue%3Frd%3Dhttps", server.base)), "{to}");

    // A request for no catalogue resource, or one that could be read differently.
    for url in ["https://elsewhere.example/", "https://timetable.college.example/edit/../group/x"] {
        assert_eq!(verify(&server, &staff, url).await.status(), StatusCode::FORBIDDEN, "{url}");
    }

    // After sign-in the person goes back only to a catalogue address, through its
    // host's callback.
    let back = |rd: &str| {
        let q = serde_urlencoded::to_string([("rd", rd)]).expect("query");
        staff.get(server.url(&format!("/auth/continue?{q}"))).send()
    };
    let to = location(&back(EDITOR).await.expect("continue"));
    assert!(to.starts_with("https://timetable.college.example/.propusk/callback?code="), "{to}");
    for evil in ["https://evil.example/", "https://timetable.college.example@evil.example/edit/x", "//evil.example/"] {
        assert_eq!(location(&back(evil).await.expect("continue")), "/account", "{evil}");
    }

    // The launcher lists what the policy allows, in the page's language.
    let page = student.get(server.url("/account")).send().await.expect("account").text().await.expect("body");
    assert!(page.contains("Мои ресурсы") && page.contains("Электронное обучение (Moodle)"), "launcher");
    assert!(page.contains("rel=\"noopener noreferrer\""), "link tiles open in a new tab");
    assert!(!page.contains("Составление расписания"), "no tile for a refused resource");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_not_believed() {
    let server = Server::start(&[]);
    let (staff, _) = signed_in(&server, "staff.s", "staff").await;
    let r = verify(&server, &staff, EDITOR).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("remote-user").is_none());

    // Nor is a handoff code redeemed for an untrusted peer, whatever host it names.
    let to = handoff_url(&server, &staff, EDITOR).await;
    let r = callback(&server, &to, &to).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(host_cookie(&r).is_none());
}

/// `/auth/continue?rd=RD` of a signed-in client: the callback URL it sends the browser to.
async fn handoff_url(server: &Server, c: &reqwest::Client, rd: &str) -> String {
    let q = serde_urlencoded::to_string([("rd", rd)]).expect("query");
    let r = c.get(server.url(&format!("/auth/continue?{q}"))).send().await.expect("continue");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    location(&r)
}

/// The proxy passing `callback_url`'s query to propusk's `/auth/callback`, telling it the
/// request was for `original`.
async fn callback(server: &Server, callback_url: &str, original: &str) -> reqwest::Response {
    let query = callback_url.split_once('?').map_or("", |(_, q)| q);
    let anonymous = server.client();
    let r = anonymous.get(server.url(&format!("/auth/callback?{query}"))).header("X-Original-URL", original);
    r.send().await.expect("callback")
}

fn host_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-propusk-host="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[tokio::test]
async fn the_session_is_handed_to_the_app_host_once_and_only_there() {
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let (staff, _) = signed_in(&server, "staff.s", "staff").await;
    let app_host = server.client();
    let with_host_cookie = |token: &str, url: &str| {
        let rb = app_host.get(server.url("/auth/verify")).header("X-Original-URL", url);
        rb.header("Cookie", format!("__Host-propusk-host={token}")).send()
    };

    let to = handoff_url(&server, &staff, EDITOR).await;
    let r = callback(&server, &to, &to).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), EDITOR);
    let token = host_cookie(&r).expect("host cookie");
    let r = with_host_cookie(&token, EDITOR).await.expect("verify");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "remote-user").as_deref(), Some("staff.s"));
    assert_eq!(with_host_cookie(&token, TIMETABLE).await.expect("verify").status(), StatusCode::OK, "same host");

    // Replayed: refused, and the host session it opened ends.
    let r = callback(&server, &to, &to).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(host_cookie(&r).is_none());
    assert_eq!(with_host_cookie(&token, EDITOR).await.expect("verify").status(), StatusCode::UNAUTHORIZED);

    // Shown at another host (the proxy says so): refused and burnt.
    let to = handoff_url(&server, &staff, EDITOR).await;
    let foreign = to.replace("timetable.college.example", "evil.example");
    assert_eq!(callback(&server, &to, &foreign).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(callback(&server, &to, &to).await.status(), StatusCode::BAD_REQUEST, "burnt");

    // Made up or missing codes.
    for q in ["/auth/callback?code=nonsense", "/auth/callback"] {
        let r = server.client().get(server.url(q)).header("X-Original-URL", EDITOR).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn restrictions_from_the_cli_take_effect_at_once_and_are_lifted() {
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let (staff, _) = signed_in(&server, "staff.s", "staff").await;
    assert_eq!(verify(&server, &staff, EDITOR).await.status(), StatusCode::OK);

    let out = server.cli(&["user", "restrict", "staff.s", "timetable-editor", "--reason", "служебная проверка"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verify(&server, &staff, EDITOR).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(verify(&server, &staff, TIMETABLE).await.status(), StatusCode::OK, "only that resource");
    let out = server.cli(&["policy", "explain", "staff.s", "timetable-editor"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("refused") && text.contains("personal-restriction") && text.contains("служебная проверка"),
        "{text}"
    );

    let out = server.cli(&["user", "unrestrict", "staff.s", "timetable-editor", "--reason", "проверка завершена"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verify(&server, &staff, EDITOR).await.status(), StatusCode::OK);
    let out = server.cli(&["user", "unrestrict", "staff.s", "timetable-editor", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(3), "nothing to lift");

    for (args, code) in [
        (vec!["user", "restrict", "staff.s", "timetable-editor", "--reason", "x", "--until", "2001-01-01"], 2),
        (vec!["user", "restrict", "staff.s", "timetable-editor", "--reason", "x", "--until", "31.12.2030"], 2),
        (vec!["user", "restrict", "staff.s", "no-such-resource", "--reason", "x"], 3),
        (vec!["user", "restrict", "nobody", "timetable-editor", "--reason", "x"], 3),
    ] {
        assert_eq!(server.cli(&args).status.code(), Some(code), "{args:?}");
    }
    let out = server.cli(&[
        "user",
        "restrict",
        "staff.s",
        "timetable-editor",
        "--reason",
        "до конца года",
        "--until",
        "2999-12-31",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verify(&server, &staff, EDITOR).await.status(), StatusCode::FORBIDDEN);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for f in std::fs::read_dir(from).expect("read dir") {
        let f = f.expect("entry").path();
        if f.is_file() {
            std::fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
        }
    }
}

#[test]
fn policy_check_names_the_file_and_line_of_each_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cli_in(dir.path(), &[], &["policy", "check", "--dir", &shipped_policies().display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("valid"), "{}", stdout(&out));

    let broken = dir.path().join("broken");
    copy_dir(&shipped_policies(), &broken);
    let roles = broken.join("roles.cedar");
    let text = std::fs::read_to_string(&roles).expect("read");
    std::fs::write(
        &roles,
        text.replace("resource.audience.contains(\"learning\")", "resource.audiences.contains(\"learning\")"),
    )
    .expect("write");
    let out = cli_in(dir.path(), &[], &["policy", "check", "--dir", &broken.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("roles.cedar:") && err.contains("audiences"), "{err}");
}

/// Waits until `verify` answers `want`, for at most 10 s (the poll runs every 2 s).
async fn eventually(server: &Server, c: &reqwest::Client, url: &str, want: StatusCode) {
    for _ in 0..100 {
        if verify(server, c, url).await.status() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered {want}");
}

#[tokio::test]
async fn policies_reload_on_change_and_on_sighup_and_a_broken_version_is_refused() {
    let policies = tempfile::tempdir().expect("tempdir");
    copy_dir(&shipped_policies(), policies.path());
    let dir = policies.path().display().to_string();
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1"), ("PROPUSK_POLICIES_DIR", &dir)]);
    let (staff, _) = signed_in(&server, "staff.s", "staff").await;
    assert_eq!(verify(&server, &staff, EDITOR).await.status(), StatusCode::OK);

    let roles = policies.path().join("roles.cedar");
    let shipped = std::fs::read_to_string(&roles).expect("read");
    let teachers_only = shipped
        .replace("principal.roles.containsAny([\"staff\", \"teacher\"])", "principal.roles.contains(\"teacher\")");
    assert_ne!(teachers_only, shipped);

    // A valid change is picked up by the poll, with requests in flight meanwhile.
    std::fs::write(&roles, &teachers_only).expect("write");
    eventually(&server, &staff, EDITOR, StatusCode::FORBIDDEN).await;

    // A broken version is refused and the one in force stays.
    std::fs::write(&roles, "permit (principal, action, resource) when { principal.nonsense };").expect("write");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(verify(&server, &staff, EDITOR).await.status(), StatusCode::FORBIDDEN, "the previous version stays");
    assert_eq!(verify(&server, &staff, TIMETABLE).await.status(), StatusCode::OK);

    // SIGHUP reloads at once.
    std::fs::write(&roles, &shipped).expect("write");
    let ok = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().expect("kill");
    assert!(ok.success());
    eventually(&server, &staff, EDITOR, StatusCode::OK).await;
}
