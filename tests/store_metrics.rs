//! The counts the metrics read from the store, on SQLite and PostgreSQL: active sessions
//! (not ended, not past their idle or absolute limit), deprovisioning cases by state and
//! the steps overdue.

#[path = "common/store_db.rs"]
#[macro_use]
mod store_db;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use propusk::domain::Timestamp;
use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login, SessionTokenHash};
use propusk::domain::lifecycle::{Departure, LeavingResource, LifecyclePolicy, StepState, plan_steps};
use propusk::domain::session::{EndReason, SessionTimes};
use propusk::ports::lifecycle::{CaseFilter, CaseRecord, LifecycleChange as L};
use propusk::ports::metrics::StoreGauges;
use propusk::ports::{Change, SessionRecord, Store};

const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;

fn account(n: u32) -> Account {
    let at = Timestamp::from_millis(T0);
    Account {
        id: AccountId::from_stored(format!("acc-{n}")),
        login: Login::parse(&format!("petrov.pp{n}")).expect("login"),
        full_name: "Петров Пётр Петрович".into(),
        email: None,
        roles: Roles::new([Role::Student]),
        study_group: Some("ИС-21".into()),
        department: None,
        external_id: Some(format!("С-{n}")),
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: at,
        updated_at: at,
    }
}

fn session(n: u32, account: &Account, last_seen: i64, expires: i64) -> SessionRecord {
    SessionRecord {
        hash: SessionTokenHash::from_stored(format!("hash-{n}")),
        account_id: account.id.clone(),
        times: SessionTimes {
            created_at: Timestamp::from_millis(T0),
            last_seen_at: Timestamp::from_millis(last_seen),
            idle_timeout: Duration::from_secs(60 * 60),
            expires_at: Timestamp::from_millis(expires),
        },
        ip: Some("198.51.100.4".into()),
        user_agent: None,
        ended_at: None,
        second_factor_at: None,
    }
}

fn case(a: &Account, id: &str) -> Change {
    let effective = NaiveDate::from_ymd_opt(2027, 6, 30).expect("date");
    let d = LifecyclePolicy::default().deadlines(Departure::Graduated, effective);
    let resources = [LeavingResource { id: "moodle".into(), automatic: true, forget: true, within: None }];
    Change::Lifecycle(L::OpenCase {
        case: CaseRecord {
            id: id.into(),
            account_id: a.id.clone(),
            subject: a.login.as_str().into(),
            reason: Departure::Graduated,
            order: None,
            effective,
            block_by: d.block_by,
            erase_by: d.erase_by,
            opened_at: Timestamp::from_millis(T0),
            opened_by: "os:root".into(),
        },
        steps: plan_steps(&d, false, &resources),
    })
}

async fn gauges_count_active_sessions_and_cases_by_state(store: Arc<dyn Store>) {
    let now = T0 + 10 * MINUTE;
    let at = Timestamp::from_millis(now);
    assert_eq!(store.store_gauges(at).await.expect("empty"), StoreGauges::default());

    let accounts: Vec<Account> = (1..=3).map(account).collect();
    for a in &accounts {
        store.commit(vec![Change::InsertAccount { account: a.clone(), password_hash: "x".into() }]).await.expect("add");
    }
    let (a, b) = (&accounts[0], &accounts[1]);
    let day = 24 * 60 * MINUTE;
    store
        .commit(vec![
            // Two live sessions.
            Change::InsertSession(session(1, a, now - MINUTE, T0 + day)),
            Change::InsertSession(session(2, b, now - MINUTE, T0 + day)),
            // Ended; idle for longer than its hour; past its absolute limit.
            Change::InsertSession(session(3, a, now - MINUTE, T0 + day)),
            Change::InsertSession(session(4, a, now - 61 * MINUTE, T0 + day)),
            Change::InsertSession(session(5, b, now - MINUTE, now - 1)),
        ])
        .await
        .expect("sessions");
    store
        .commit(vec![Change::EndSession {
            hash: SessionTokenHash::from_stored("hash-3".into()),
            account: a.id.clone(),
            at,
            reason: EndReason::SignedOut,
        }])
        .await
        .expect("end");
    let g = store.store_gauges(at).await.expect("gauges");
    assert_eq!(g.active_sessions, 2, "{g:?}");
    assert_eq!((g.cases_open, g.cases_closed, g.cases_withdrawn, g.steps_overdue), (0, 0, 0, 0));

    // Three cases: one stays open, one is withdrawn, one is closed once its steps are.
    for (i, acc) in accounts.iter().enumerate() {
        store.commit(vec![case(acc, &format!("case-{i}"))]).await.expect("open");
    }
    store
        .commit(vec![Change::Lifecycle(L::WithdrawCase {
            case: "case-1".into(), at, note: "восстановлен".into()
        })])
        .await
        .expect("withdraw");
    let third = store.find_case("case-2").await.expect("read").expect("case");
    let mut done: Vec<Change> = third
        .steps
        .iter()
        .map(|s| {
            Change::Lifecycle(L::CompleteStep {
                case: "case-2".into(),
                step: s.name.clone(),
                at,
                by: "test".into(),
                evidence: "ok".into(),
            })
        })
        .collect();
    done.push(Change::Lifecycle(L::CloseCase { case: "case-2".into(), at }));
    store.commit(done).await.expect("close");

    let g = store.store_gauges(at).await.expect("gauges");
    assert_eq!((g.cases_open, g.cases_closed, g.cases_withdrawn), (1, 1, 1), "{g:?}");
    assert_eq!(g.steps_overdue, 0, "nothing is due in 2027 yet");

    // Long after the deadlines: every pending step of the open case is overdue, and
    // every session has run out.
    let open = store.list_cases(CaseFilter::Open).await.expect("open cases");
    assert_eq!(open.len(), 1);
    let last_due = open[0].steps.iter().map(|s| s.due_at.as_millis()).max().expect("steps");
    let later = Timestamp::from_millis(last_due + 1);
    let pending = open[0].steps.iter().filter(|s| s.state == StepState::Pending).count() as u64;
    assert!(pending >= 2, "block, moodle, erase…");
    let g = store.store_gauges(later).await.expect("gauges");
    assert_eq!(g.steps_overdue, pending, "{g:?}");
    assert_eq!(g.active_sessions, 0);
    assert_eq!((g.cases_open, g.cases_closed, g.cases_withdrawn), (1, 1, 1));
}

conformance!(gauges_count_active_sessions_and_cases_by_state);
