//! Prometheus metrics through the real binary: a separate plain-HTTP listener when
//! `metrics.listen` is set and none otherwise, counters that move by exactly what was
//! done, and nothing personal in them.

mod common;

use std::time::Duration;

use common::{Server, add_user, sign_in};

/// The metrics address the server printed at start.
fn metrics_url(server: &Server) -> String {
    server
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("propusk: metrics on ").map(str::to_owned))
        .unwrap_or_else(|| panic!("no metrics address printed: {:?}", server.stdout))
}

async fn scrape(url: &str) -> String {
    let resp = reqwest::Client::new().get(url).send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    resp.text().await.expect("body")
}

/// The value of the sample `series` (name and labels exactly as written), 0 if absent.
fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map_or(0, |v| v.parse().unwrap_or_else(|_| panic!("{series} is not a count: {v}")))
}

/// The sum of the samples of `name` whose labels contain `label`.
fn total(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

fn outcome(text: &str, o: &str) -> u64 {
    value(text, &format!("propusk_sign_ins_total{{outcome=\"{o}\"}}"))
}

/// TCP ports the process `pid` listens on (from /proc).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|p| p.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()).expect("port");
                ports.push(port);
            }
        }
    }
    ports.sort_unstable();
    ports
}

fn port_of(url: &str) -> u16 {
    let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).expect("host");
    host.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

#[tokio::test]
async fn metrics_count_sign_ins_exactly_on_their_own_listener_and_name_nobody() {
    let server =
        Server::start(&[("PROPUSK_METRICS_LISTEN", "127.0.0.1:0"), ("PROPUSK_PROTECTION_LOCKOUT_THRESHOLD", "3")]);
    let url = metrics_url(&server);
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"), "{url}");
    let mut ports = vec![port_of(&url), port_of(&server.base)];
    ports.sort_unstable();
    assert_eq!(listening_ports(server.pid()), ports, "the public listener and the metrics listener, nothing else");

    let student = add_user(&server, "sidorova.aa", "Сидорова Анна Андреевна", "student");
    let victim = add_user(&server, "kuznetsov.pp", "Кузнецов Пётр Петрович", "student");

    // The public listener knows no /metrics.
    let public = server.client().get(server.url("/metrics")).send().await.expect("get");
    assert_eq!(public.status(), 404);
    // Nor does the metrics listener serve anything else.
    let other = reqwest::Client::new().get(url.replace("/metrics", "/account")).send().await.expect("get");
    assert_eq!(other.status(), 404);

    let before = scrape(&url).await;
    assert_eq!(value(&before, "propusk_store_up"), 1);
    for o in ["success", "bad_password", "unknown_login", "locked"] {
        assert_eq!(outcome(&before, o), 0, "{o} before anyone signed in");
    }
    assert_eq!(value(&before, "propusk_lockouts_total"), 0);
    assert!(value(&before, "propusk_hash_queue_capacity") > 0, "{before}");

    // One right password, two wrong, one unknown login, and a lock: three wrong
    // passwords on another account lock it, and a fourth attempt is refused as locked.
    let c = server.client();
    let ok = sign_in(&server, &c, "sidorova.aa", &student).await;
    assert_eq!(ok.status(), 303, "signed in");
    let session_cookie: Vec<String> =
        ok.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
    assert!(!session_cookie.is_empty(), "a session cookie was set");
    let stranger = server.client();
    for _ in 0..2 {
        let r = sign_in(&server, &stranger, "sidorova.aa", "not-her-password").await;
        assert_ne!(r.status(), 303);
    }
    sign_in(&server, &stranger, "nobody.xx", "whatever-password").await;
    for _ in 0..4 {
        sign_in(&server, &stranger, "kuznetsov.pp", "wrong-password-1").await;
    }
    let locked = sign_in(&server, &stranger, "kuznetsov.pp", &victim).await;
    assert_ne!(locked.status(), 303, "a locked account does not sign in with its right password");

    // Values from the store are reused for up to two seconds between scrapes.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let after = scrape(&url).await;
    assert_eq!(outcome(&after, "success"), 1, "{after}");
    assert_eq!(outcome(&after, "bad_password"), 2 + 3);
    assert_eq!(outcome(&after, "unknown_login"), 1);
    assert_eq!(outcome(&after, "locked"), 2, "the fourth wrong password and the right one, both after the lock");
    assert_eq!(value(&after, "propusk_lockouts_total"), 1);
    assert_eq!(value(&after, "propusk_sessions_active"), 1, "one live session, read from the store");
    assert_eq!(value(&after, r#"propusk_deprovisioning_cases{state="open"}"#), 0);
    let sign_in_requests = total(&after, "propusk_http_requests_total", r#"route="/sign-in""#)
        - total(&before, "propusk_http_requests_total", r#"route="/sign-in""#);
    assert_eq!(sign_in_requests, 2 * 9, "a GET and a POST per attempt");
    assert!(
        value(&after, r#"propusk_http_request_duration_seconds_count{route="/sign-in"}"#) >= 18,
        "latency of the same requests"
    );
    assert!(value(&after, r#"propusk_store_duration_seconds_count{operation="commit"}"#) > 0);
    assert!(value(&after, r#"propusk_store_duration_seconds_count{operation="find_account_secret"}"#) > 0);
    assert_eq!(
        value(&after, r#"propusk_http_requests_total{route="unmatched",status="4xx"}"#),
        1,
        "the public /metrics was counted as an unknown page, under no path of its own"
    );

    // A little more, and exactly that more.
    sign_in(&server, &stranger, "sidorova.aa", "still-not-her-password").await;
    let again = scrape(&url).await;
    assert_eq!(outcome(&again, "bad_password") - outcome(&after, "bad_password"), 1);
    assert_eq!(outcome(&again, "success"), outcome(&after, "success"));
    assert_eq!(
        total(&again, "propusk_http_requests_total", r#"route="/sign-in""#)
            - total(&after, "propusk_http_requests_total", r#"route="/sign-in""#),
        2
    );

    // Nothing personal: no login, name, address, password or cookie value.
    let mut secrets = vec![
        "sidorova".to_owned(),
        "kuznetsov".to_owned(),
        "nobody".to_owned(),
        "Сидорова".to_owned(),
        "127.0.0.1".to_owned(),
        student.clone(),
        victim.clone(),
        "not-her-password".to_owned(),
    ];
    secrets
        .extend(session_cookie.iter().filter_map(|c| c.split(';').next()?.split_once('=').map(|(_, v)| v.to_owned())));
    for s in secrets.iter().filter(|s| s.len() >= 6) {
        assert!(!again.contains(s.as_str()), "the metrics contain {s:?}");
    }
    for line in again.lines().filter(|l| !l.starts_with('#')) {
        if let Some(route) = line.split("route=\"").nth(1).and_then(|r| r.split('"').next()) {
            assert!(route == "unmatched" || route.starts_with('/'), "route label {route:?}");
        }
    }
}

#[tokio::test]
async fn without_the_key_nothing_else_listens() {
    let server = Server::start(&[]);
    assert!(!server.stdout.iter().any(|l| l.contains("metrics")), "{:?}", server.stdout);
    assert_eq!(listening_ports(server.pid()), vec![port_of(&server.base)], "only the public listener");
    let public = server.client().get(server.url("/metrics")).send().await.expect("get");
    assert_eq!(public.status(), 404);
}
