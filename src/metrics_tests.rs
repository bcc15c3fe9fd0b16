//! The exposition format (escaping, cumulative buckets, `+Inf`, `_sum` and `_count`), the
//! route table and the tally of committed changes.

use std::collections::HashSet;
use std::time::Duration;

use super::*;
use crate::domain::lockout::LockRecord;
use crate::domain::{AccountId, Timestamp};
use crate::ports::{SecurityEvent, SignInRecord};

fn ms(n: u64) -> Duration {
    Duration::from_micros(n * 1_000)
}

/// The value of the sample line `series` (name and labels, exactly) in `text`.
fn value(text: &str, series: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).map(str::to_owned))
}

#[test]
fn label_values_and_help_are_escaped() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
    assert_eq!(escape_label("/авторизация/{code}"), "/авторизация/{code}", "UTF-8 passes as is");
    assert_eq!(escape_help("a \\ b\nc \"quoted\""), "a \\\\ b\\nc \"quoted\"", "HELP keeps quotes");

    let m = Metrics::new();
    m.http.observe("/odd\"route\\\n", 200, ms(1));
    let text = m.render(None);
    assert!(
        text.contains(r#"propusk_http_requests_total{route="/odd\"route\\\n",status="2xx"} 1"#),
        "escaped route label:\n{text}"
    );
}

#[test]
fn histogram_buckets_are_cumulative_and_end_with_inf_sum_and_count() {
    let m = Metrics::new();
    // On a bound counts in that bucket (le is "less than or equal").
    for d in [ms(1), Duration::from_micros(1_500), ms(30), ms(30), Duration::from_secs(20)] {
        m.http.observe("/sign-in", 200, d);
    }
    let text = m.render(None);
    let b = |le: &str| {
        value(&text, &format!(r#"propusk_http_request_duration_seconds_bucket{{route="/sign-in",le="{le}"}}"#))
            .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
    };
    assert_eq!(b("0.001"), "1");
    assert_eq!(b("0.0025"), "2");
    assert_eq!(b("0.025"), "2");
    assert_eq!(b("0.05"), "4");
    assert_eq!(b("10"), "4");
    assert_eq!(b("+Inf"), "5", "+Inf counts everything, the 20 s request too");
    let count = value(&text, r#"propusk_http_request_duration_seconds_count{route="/sign-in"}"#).expect("count");
    assert_eq!(count, "5");
    let sum: f64 = value(&text, r#"propusk_http_request_duration_seconds_sum{route="/sign-in"}"#)
        .expect("sum")
        .parse()
        .expect("a number");
    assert!((sum - 20.0625).abs() < 1e-9, "sum in seconds: {sum}");

    // Every bucket series is non-decreasing, with the bounds in increasing order.
    let buckets: Vec<(f64, u64)> = text
        .lines()
        .filter(|l| l.starts_with(r#"propusk_http_request_duration_seconds_bucket{route="/sign-in""#))
        .map(|l| {
            let le = l.split("le=\"").nth(1).and_then(|r| r.split('"').next()).expect("le");
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().expect("bound") };
            (le, l.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("count"))
        })
        .collect();
    assert_eq!(buckets.len(), BUCKETS_SECONDS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{buckets:?}");
}

#[test]
fn every_family_is_announced_once_before_its_samples() {
    let m = Metrics::new();
    m.http.observe("/", 302, ms(2));
    m.http.observe("unmatched", 404, ms(1));
    m.store.latency[StoreOp::Commit as usize].observe(ms(3));
    let gauges =
        StoreGauges { active_sessions: 3, cases_open: 2, cases_closed: 1, cases_withdrawn: 0, steps_overdue: 1 };
    let text = m.render(Some(&gauges));
    let mut announced = HashSet::new();
    let mut typed = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("name");
            assert!(announced.insert(name.to_owned()), "HELP of {name} twice");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().expect("name");
            assert!(["counter", "gauge", "histogram"].contains(&parts.next().expect("type")));
            assert!(announced.contains(name), "TYPE of {name} before its HELP");
            assert!(typed.insert(name.to_owned()), "TYPE of {name} twice");
        } else {
            let series = line.split(['{', ' ']).next().expect("series");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| series.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(series);
            assert!(typed.contains(family), "sample of {family} before its TYPE: {line}");
            assert!(family.starts_with("propusk_"), "{family}");
            let v = line.rsplit(' ').next().expect("value");
            assert!(v.parse::<f64>().is_ok(), "not a number: {line}");
        }
    }
    assert_eq!(value(&text, "propusk_sessions_active").as_deref(), Some("3"));
    assert_eq!(value(&text, r#"propusk_deprovisioning_cases{state="open"}"#).as_deref(), Some("2"));
    assert_eq!(value(&text, "propusk_deprovisioning_steps_overdue").as_deref(), Some("1"));
    assert_eq!(value(&text, "propusk_store_up").as_deref(), Some("1"));
    assert_eq!(value(&text, r#"propusk_http_requests_total{route="/",status="3xx"}"#).as_deref(), Some("1"));
    assert_eq!(value(&text, r#"propusk_http_requests_total{route="unmatched",status="4xx"}"#).as_deref(), Some("1"));
    assert_eq!(value(&text, r#"propusk_store_duration_seconds_count{operation="commit"}"#).as_deref(), Some("1"));

    let down = m.render(None);
    assert_eq!(value(&down, "propusk_store_up").as_deref(), Some("0"));
    assert!(!down.contains("propusk_sessions_active"), "no stale store values when the store is down");
}

#[test]
fn routes_are_counted_per_template_and_the_table_never_grows_past_its_size() {
    let m = Metrics::new();
    for status in [200, 204, 303, 404, 500, 99, 700] {
        m.http.observe("/account", status, ms(1));
    }
    let text = m.render(None);
    let c = |class: &str| value(&text, &format!(r#"propusk_http_requests_total{{route="/account",status="{class}"}}"#));
    assert_eq!(c("2xx").as_deref(), Some("2"));
    assert_eq!(c("3xx").as_deref(), Some("1"));
    assert_eq!(c("4xx").as_deref(), Some("1"));
    assert_eq!(c("5xx").as_deref(), Some("2"), "out-of-range codes are clamped");
    assert_eq!(c("1xx").as_deref(), Some("1"));

    let m = Metrics::new();
    for i in 0..ROUTE_SLOTS + 10 {
        m.http.observe(&format!("/r/{i}"), 200, ms(1));
    }
    m.http.observe("/r/0", 200, ms(1));
    let text = m.render(None);
    assert_eq!(value(&text, r#"propusk_http_requests_total{route="/r/0",status="2xx"}"#).as_deref(), Some("2"));
    assert_eq!(value(&text, r#"propusk_http_requests_total{route="other",status="2xx"}"#).as_deref(), Some("10"));
}

fn sign_in(outcome: SignInOutcome) -> Change {
    Change::InsertSignIn(SignInRecord {
        at: Timestamp::from_millis(1),
        account_id: None,
        login: Some("ivanov.ii".into()),
        ip: Some("203.0.113.7".into()),
        user_agent: None,
        network: None,
        outcome,
    })
}

fn event(kind: &'static str) -> Change {
    Change::Protection(ProtectionChange::InsertSecurityEvent(SecurityEvent {
        seq: 0,
        at: Timestamp::from_millis(1),
        kind,
        account_id: None,
        network: None,
        detail: String::new(),
    }))
}

#[test]
fn committed_changes_are_tallied_and_counted_only_when_the_commit_succeeds() {
    let at = Timestamp::from_millis(1);
    let changes = vec![
        sign_in(SignInOutcome::Success),
        sign_in(SignInOutcome::BadPassword),
        sign_in(SignInOutcome::BadPassword),
        sign_in(SignInOutcome::Locked),
        Change::Protection(ProtectionChange::PutLock {
            account: AccountId::from_stored("a1".into()),
            scope_key: String::new(),
            record: LockRecord { locked_until: Some(at), lock_count: 1, permanent: false, counting_from: None },
        }),
        event("compromise"),
        event("lock"),
        Change::Oidc(OidcChange::DeliveryFailed { id: 1, attempts: 1, next_attempt_at: None, error: "x".into(), at }),
        Change::Protection(ProtectionChange::MailFailed {
            id: 1,
            attempts: 1,
            next_attempt_at: None,
            error: "x".into(),
            at,
        }),
        Change::Directory(DirectoryChange::WriteFailed {
            id: 1,
            attempts: 1,
            next_attempt_at: None,
            error: "x".into(),
            at,
        }),
        Change::Lifecycle(LifecycleChange::FailStep {
            case: "c".into(),
            step: "directory".into(),
            next_attempt_at: at,
            error: "x".into(),
            alerted: false,
        }),
        Change::Lifecycle(LifecycleChange::FailStep {
            case: "c".into(),
            step: "library".into(),
            next_attempt_at: at,
            error: "x".into(),
            alerted: false,
        }),
    ];
    let tally = Tally::of(&changes);
    let m = Metrics::new();
    m.committed(&tally, false);
    let refused = m.render(None);
    assert_eq!(value(&refused, r#"propusk_sign_ins_total{outcome="success"}"#).as_deref(), Some("0"));
    assert_eq!(value(&refused, "propusk_store_commit_failures_total").as_deref(), Some("1"));

    m.committed(&tally, true);
    let text = m.render(None);
    let v = |s: &str| value(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(r#"propusk_sign_ins_total{outcome="success"}"#), "1");
    assert_eq!(v(r#"propusk_sign_ins_total{outcome="bad_password"}"#), "2");
    assert_eq!(v(r#"propusk_sign_ins_total{outcome="locked"}"#), "1");
    assert_eq!(v(r#"propusk_sign_ins_total{outcome="unknown_login"}"#), "0");
    assert_eq!(v("propusk_lockouts_total"), "1");
    assert_eq!(v("propusk_compromise_reports_total"), "1", "a lock's security event is not a report");
    assert_eq!(v(r#"propusk_delivery_failures_total{kind="backchannel_logout"}"#), "1");
    assert_eq!(v(r#"propusk_delivery_failures_total{kind="mail"}"#), "1");
    assert_eq!(v(r#"propusk_delivery_failures_total{kind="directory"}"#), "2");
    assert_eq!(v(r#"propusk_delivery_failures_total{kind="connector"}"#), "1");
    assert!(!text.contains("ivanov") && !text.contains("203.0.113"), "no login or address in the metrics");
    assert!(Tally::of(&[event("lock")]).is_empty(), "nothing counted for an unrelated change");
}

#[tokio::test]
async fn the_hash_pool_shows_its_queue_and_capacity() {
    let pool =
        crate::hash::Argon2Pool::new(crate::hash::HashParams { memory_kib: 64, iterations: 1, parallelism: 1 }, 3, 17)
            .expect("pool");
    let m = Metrics::new();
    m.watch_hash_pool(Box::new(pool.load()));
    let text = m.render(None);
    assert_eq!(value(&text, "propusk_hash_queue_length").as_deref(), Some("0"));
    assert_eq!(value(&text, "propusk_hash_queue_capacity").as_deref(), Some("17"));
    assert_eq!(value(&text, "propusk_hash_workers").as_deref(), Some("3"));
    assert_eq!(value(&text, "propusk_hash_workers_busy").as_deref(), Some("0"));
}

#[tokio::test]
async fn the_hash_pool_shows_hashes_waiting_while_its_worker_is_busy() {
    // Slow enough that a hash outlasts the few milliseconds the test needs.
    let slow = crate::hash::HashParams { memory_kib: 65_536, iterations: 3, parallelism: 1 };
    let pool = std::sync::Arc::new(crate::hash::Argon2Pool::new(slow, 1, 8).expect("pool"));
    let m = Metrics::new();
    m.watch_hash_pool(Box::new(pool.load()));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let p = pool.clone();
        tasks.push(tokio::spawn(async move {
            use crate::ports::PasswordHasher as _;
            p.hash(crate::domain::password::Password::new("a-long-password")).await
        }));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let busy = m.render(None);
    assert_eq!(value(&busy, "propusk_hash_workers_busy").as_deref(), Some("1"), "{busy}");
    assert_eq!(value(&busy, "propusk_hash_queue_length").as_deref(), Some("2"));
    for t in tasks {
        t.await.expect("join").expect("hashed");
    }
    let idle = m.render(None);
    assert_eq!(value(&idle, "propusk_hash_queue_length").as_deref(), Some("0"));
    assert_eq!(value(&idle, "propusk_hash_workers_busy").as_deref(), Some("0"));
}
