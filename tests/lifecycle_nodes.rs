//! Two nodes on one PostgreSQL database run the deprovisioning scheduler at the same time:
//! every step is done once, every service call is made once, nothing is left.

#[path = "common/lifecycle_kit.rs"]
mod kit;
#[path = "common/store_db.rs"]
mod store_db;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use chrono::NaiveDate;
use kit::{Services, TestClock};
use propusk::app::{Actor, ImportOptions};
use propusk::domain::account::Role;
use propusk::domain::roster::{Order, RosterRow, RosterStatus};
use propusk::ports::lifecycle::CaseFilter;

fn rows(n: usize, status: RosterStatus, effective: &str) -> Vec<Result<RosterRow, propusk::domain::roster::RowError>> {
    let effective = NaiveDate::parse_from_str(effective, "%Y-%m-%d").expect("date");
    (0..n)
        .map(|i| {
            Ok(RosterRow {
                line: i + 2,
                external_id: format!("n{i:04}"),
                full_name: format!("Выпускников{i} Пётр Ильич"),
                role: Role::Student,
                unit: Some("ИС-41".into()),
                email: None,
                status,
                effective,
                order: Some(Order { number: "9-в".into(), date: effective - chrono::Days::new(5) }),
            })
        })
        .collect()
}

#[tokio::test]
async fn two_nodes_share_the_work_and_do_each_step_once() {
    let db = store_db::Db::postgres().await;
    let services = Services::start().await;
    let policies = kit::policies(&services, false);
    let clock = Arc::new(TestClock(AtomicI64::new(0)));
    clock.set("2027-06-25T10:00:00+03:00");
    let a = kit::app(db.store.clone(), clock.clone(), policies.path(), "node-a").await;
    let b = kit::app(db.reopen().await, clock.clone(), policies.path(), "node-b").await;
    let admin = Actor { name: "os:registrar".into(), ip: None };
    let opts = ImportOptions { source: "register.csv".into(), ..ImportOptions::default() };
    let n = 120;
    a.import_roster(&admin, rows(n, RosterStatus::Studying, "2026-09-01"), &opts).await.expect("register");
    a.import_roster(&admin, rows(n, RosterStatus::Graduated, "2027-06-30"), &opts).await.expect("graduation");

    // Block day, then erasure day: both nodes run at once each time.
    for at in ["2027-06-30T00:05:00+03:00", "2027-07-02T00:05:00+03:00"] {
        clock.set(at);
        let (ra, rb) = tokio::join!(a.run_lifecycle(), b.run_lifecycle());
        let (ra, rb) = (ra.expect("node a"), rb.expect("node b"));
        assert_eq!(ra.steps_failed + rb.steps_failed, 0, "{ra:?} {rb:?}");
        assert!(ra.steps_done > 0 && rb.steps_done > 0, "both nodes took work: {ra:?} {rb:?}");
    }
    let cases = a.store.list_cases(CaseFilter::All).await.expect("cases");
    assert_eq!(cases.len(), n);
    assert!(cases.iter().all(|c| c.closed_at.is_some()), "every case finished");
    // Each case: block, moodle, mail, moodle:forget, mail:forget, erase — each done once.
    let steps: usize = cases.iter().map(|c| c.steps.len()).sum();
    assert_eq!(steps, n * 6);
    let audited = a.store.list_audit("lifecycle.step", 10_000).await.expect("audit");
    assert_eq!(audited.len(), n * 6, "one audit entry per step: no step was done twice");
    let mut calls: HashMap<(String, String), usize> = HashMap::new();
    for h in services.hits().iter().filter(|h| h.method != "GET") {
        *calls.entry((h.header("x-propusk-delivery").to_owned(), h.method.clone())).or_default() += 1;
    }
    assert_eq!(calls.len(), n * 4, "webhook ×2 and SCIM PATCH and DELETE per person");
    assert!(calls.values().all(|&c| c == 1), "no service call was made twice");
    assert_eq!(a.store.list_erasures().await.expect("erasures").len(), n);
    db.finish().await;
}
