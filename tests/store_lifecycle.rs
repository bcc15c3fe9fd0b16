//! The register and deprovisioning part of the store, on SQLite and PostgreSQL: records,
//! cases and their steps (claims, completion, failures, withdrawal, closing) and erasure.

#[path = "common/store_db.rs"]
#[macro_use]
mod store_db;

use std::sync::Arc;

use chrono::NaiveDate;
use propusk::domain::Timestamp;
use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login};
use propusk::domain::journal::AuditEvent;
use propusk::domain::journal::{Channel, CredentialIssue, IssueKind};
use propusk::domain::lifecycle::{
    Departure, LeavingResource, LifecyclePolicy, RosterRecord, StepKind, StepState, plan_steps,
};
use propusk::domain::roster::{Order, RosterStatus};
use propusk::ports::lifecycle::{CaseFilter, CaseRecord, ErasureRecord, LifecycleChange as L};
use propusk::ports::{Change, SignInRecord, Store, StoreError};

const T0: i64 = 1_800_000_000_000;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn account(n: u32) -> Account {
    let at = Timestamp::from_millis(T0);
    Account {
        id: AccountId::from_stored(format!("acc-{n}")),
        login: Login::parse(&format!("ivanov.ip{n}")).expect("login"),
        full_name: "Иванов Иван Петрович".into(),
        email: Some(format!("ivanov{n}@college.example")),
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

fn record(n: u32, status: RosterStatus, digest: &str) -> RosterRecord {
    RosterRecord {
        external_id: format!("С-{n}"),
        status,
        effective: date("2027-06-30"),
        order: Some(Order { number: "15-к".into(), date: date("2027-06-25") }),
        digest: digest.into(),
    }
}

fn case(a: &Account, id: &str) -> (CaseRecord, Vec<propusk::domain::lifecycle::PlannedStep>) {
    let d = LifecyclePolicy::default().deadlines(Departure::Graduated, date("2027-06-30"));
    let resources = [
        LeavingResource { id: "moodle".into(), automatic: true, forget: true, within: None },
        LeavingResource { id: "sferum".into(), automatic: false, forget: false, within: None },
    ];
    let c = CaseRecord {
        id: id.into(),
        account_id: a.id.clone(),
        subject: a.login.as_str().into(),
        reason: Departure::Graduated,
        order: Some(Order { number: "15-к".into(), date: date("2027-06-25") }),
        effective: date("2027-06-30"),
        block_by: d.block_by,
        erase_by: d.erase_by,
        opened_at: Timestamp::from_millis(T0),
        opened_by: "os:root".into(),
    };
    (c, plan_steps(&d, false, &resources))
}

async fn insert(store: &Arc<dyn Store>, a: &Account) {
    store.commit(vec![Change::InsertAccount { account: a.clone(), password_hash: "x".into() }]).await.expect("insert");
}

fn step_change(case: &str, step: &str) -> L {
    L::CompleteStep {
        case: case.into(),
        step: step.into(),
        at: Timestamp::from_millis(T0 + 1),
        by: "test".into(),
        evidence: "ok".into(),
    }
}

async fn records_are_replaced_and_read_with_their_account(store: Arc<dyn Store>) {
    let a = account(1);
    insert(&store, &a).await;
    let at = Timestamp::from_millis(T0);
    let put =
        |r: RosterRecord, acc: Option<AccountId>| Change::Lifecycle(L::PutRosterRecord { record: r, account: acc, at });
    store.commit(vec![put(record(1, RosterStatus::Studying, "d1"), Some(a.id.clone()))]).await.expect("put");
    store.commit(vec![put(record(1, RosterStatus::AcademicLeave, "d2"), Some(a.id.clone()))]).await.expect("again");
    store.commit(vec![put(record(9, RosterStatus::Graduated, "d9"), None)]).await.expect("orphan");
    let snap = store.roster_snapshot().await.expect("snapshot");
    assert_eq!(snap.accounts.len(), 1);
    let r = snap.accounts[0].record.as_ref().expect("record");
    assert_eq!((r.status, r.digest.as_str()), (RosterStatus::AcademicLeave, "d2"));
    assert_eq!(r.order, Some(Order { number: "15-к".into(), date: date("2027-06-25") }));
    assert_eq!(snap.orphan_records.len(), 1);
    assert_eq!(snap.orphan_records[0].external_id, "С-9");
    assert!(snap.logins.contains(&"ivanov.ip1".to_owned()));
    let bad = Change::Lifecycle(L::UpdateProfile {
        id: AccountId::from_stored("nobody".into()),
        login: a.login.clone(),
        full_name: "Х".into(),
        email: None,
        study_group: None,
        department: None,
        at,
    });
    assert!(matches!(store.commit(vec![bad]).await, Err(StoreError::NotFound(_))));
}

async fn a_case_opens_once_and_its_steps_run_once(store: Arc<dyn Store>) {
    let a = account(2);
    insert(&store, &a).await;
    let (c, steps) = case(&a, "case-2");
    store.commit(vec![Change::Lifecycle(L::OpenCase { case: c.clone(), steps: steps.clone() })]).await.expect("open");
    let (mut again, _) = case(&a, "case-2b");
    again.opened_by = "other".into();
    let dup = store.commit(vec![Change::Lifecycle(L::OpenCase { case: again, steps })]).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let snap = store.roster_snapshot().await.expect("snapshot");
    assert_eq!(snap.accounts[0].open_case, Some(Departure::Graduated));

    // Nothing is due before the effective date's start.
    let before = c.block_by.saturating_sub(std::time::Duration::from_secs(25 * 3600));
    assert!(store.list_due_cases(before, 10).await.expect("due").is_empty());
    let now = c.block_by;
    let due = store.list_due_cases(now, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].steps.len(), 5, "block, moodle, sferum, moodle:forget, erase");

    // A claim excludes other schedulers until it lapses.
    let claim = |owner: &str, at: Timestamp| {
        Change::Lifecycle(L::ClaimStep {
            case: "case-2".into(),
            step: "moodle".into(),
            owner: owner.into(),
            until: at.saturating_add(std::time::Duration::from_secs(300)),
            now: at,
        })
    };
    store.commit(vec![claim("a", now)]).await.expect("claimed");
    assert!(matches!(store.commit(vec![claim("b", now)]).await, Err(StoreError::NotFound(_))));
    let later = now.saturating_add(std::time::Duration::from_secs(301));
    store.commit(vec![claim("b", later)]).await.expect("lapsed lease taken");

    // A failure counts and sets the next attempt; completion happens once.
    let fail = L::FailStep {
        case: "case-2".into(),
        step: "moodle".into(),
        next_attempt_at: later,
        error: "503".into(),
        alerted: true,
    };
    store.commit(vec![Change::Lifecycle(fail)]).await.expect("fail");
    store.commit(vec![Change::Lifecycle(step_change("case-2", "block"))]).await.expect("done");
    let twice = store.commit(vec![Change::Lifecycle(step_change("case-2", "block"))]).await;
    assert!(matches!(twice, Err(StoreError::NotFound(_))), "a step is completed once");
    let view = store.find_case("case-2").await.expect("find").expect("case");
    let moodle = view.steps.iter().find(|s| s.name == "moodle").expect("moodle");
    assert_eq!((moodle.attempts, moodle.alerted, moodle.last_error.as_deref()), (1, true, Some("503")));
    assert_eq!(view.steps.iter().find(|s| s.name == "block").expect("block").state, StepState::Done);

    // Closing needs every step done; withdrawing cancels what is left.
    let close = Change::Lifecycle(L::CloseCase { case: "case-2".into(), at: later });
    assert!(matches!(store.commit(vec![close.clone()]).await, Err(StoreError::NotFound(_))));
    let withdraw = L::WithdrawCase { case: "case-2".into(), at: later, note: "reinstated".into() };
    store.commit(vec![Change::Lifecycle(withdraw)]).await.expect("withdraw");
    let view = store.find_case("case-2").await.expect("find").expect("case");
    assert!(view.withdrawn && view.closed_at.is_some());
    assert!(view.steps.iter().filter(|s| s.name != "block").all(|s| s.state == StepState::Cancelled));
    assert!(store.list_cases(CaseFilter::Open).await.expect("open").is_empty());
    assert_eq!(store.list_cases(CaseFilter::All).await.expect("all").len(), 1);
    // The account may have a new case now.
    let (c3, steps3) = case(&a, "case-3");
    store.commit(vec![Change::Lifecycle(L::OpenCase { case: c3, steps: steps3 })]).await.expect("reopen");
    assert!(view.steps.iter().any(|s| s.kind == StepKind::Manual));
}

async fn erasure_leaves_no_personal_data_and_retires_the_login(store: Arc<dyn Store>) {
    let a = account(3);
    insert(&store, &a).await;
    let at = Timestamp::from_millis(T0);
    let (c, steps) = case(&a, "case-e");
    store
        .commit(vec![
            Change::Lifecycle(L::PutRosterRecord {
                record: record(3, RosterStatus::Graduated, "d"),
                account: Some(a.id.clone()),
                at,
            }),
            Change::Lifecycle(L::OpenCase { case: c, steps }),
            Change::InsertCredentialIssue(CredentialIssue {
                subject: a.id.clone(),
                subject_login: a.login.clone(),
                issued_by: "os:root".into(),
                issued_at: at,
                kind: IssueKind::Initial,
                channel: Channel::Slip,
                expires_at: at,
            }),
            Change::InsertSignIn(SignInRecord {
                at,
                account_id: Some(a.id.clone()),
                login: Some(a.login.as_str().into()),
                ip: Some("10.0.0.1".into()),
                user_agent: None,
                network: None,
                outcome: propusk::domain::session::SignInOutcome::Success,
            }),
            Change::InsertAudit(AuditEvent {
                at,
                actor: "os:root".into(),
                action: "account.create",
                subject: Some(a.login.as_str().into()),
                ip: None,
                outcome: "success",
                detail: format!("login={}", a.login.as_str()),
            }),
        ])
        .await
        .expect("seed");
    let hash = propusk::app::external_id_hash("С-3");
    let erase = L::EraseAccount {
        id: a.id.clone(),
        login: a.login.clone(),
        pseudonym: "erased-0011223344556677".into(),
        external_id_hash: Some(hash.clone()),
        at,
    };
    let record = ErasureRecord {
        pseudonym: "erased-0011223344556677".into(),
        categories: "full name, email".into(),
        reason: Departure::Graduated,
        order: None,
        case_id: "case-e".into(),
        erased_at: at,
        erased_by: "test".into(),
        keep_until: at.saturating_add(std::time::Duration::from_secs(3 * 365 * 86_400)),
    };
    store
        .commit(vec![Change::Lifecycle(erase.clone()), Change::Lifecycle(L::InsertErasure(record))])
        .await
        .expect("erase");
    let after = store.find_account(&a.id).await.expect("find").expect("row stays");
    assert_eq!(after.login.as_str(), "erased-0011223344556677");
    assert_eq!((after.full_name.as_str(), after.email, after.external_id), ("", None, None));
    assert_eq!((after.study_group, after.status), (None, AccountStatus::Blocked));
    assert!(store.find_account_secret(&a.login).await.expect("by login").is_none());
    assert!(store.login_retired("ivanov.ip3").await.expect("retired"));
    assert!(!store.login_retired("petrov.aa").await.expect("free"));
    let journal = store.list_journal(Some(&a.id), 10).await.expect("journal");
    assert_eq!(journal[0].issue.subject_login.as_str(), "erased-0011223344556677");
    let audit = store.list_audit("account.", 10).await.expect("audit");
    assert_eq!(audit[0].subject.as_deref(), Some("erased-0011223344556677"));
    assert!(!audit[0].detail.contains("ivanov"));
    let signins = store.list_sign_ins(&a.id, 10).await.expect("sign-ins");
    assert_eq!(signins[0].login.as_deref(), Some("erased-0011223344556677"));
    let snap = store.roster_snapshot().await.expect("snapshot");
    assert!(snap.accounts.is_empty());
    assert_eq!(snap.orphan_records.iter().map(|r| r.external_id.as_str()).collect::<Vec<_>>(), vec![hash.as_str()]);
    assert_eq!(store.find_case("case-e").await.expect("case").expect("kept").case.subject, "erased-0011223344556677");
    assert_eq!(store.list_erasures().await.expect("erasures").len(), 1);
    // A second erasure of the same login finds nothing (the change is not applied twice).
    assert!(matches!(store.commit(vec![Change::Lifecycle(erase)]).await, Err(StoreError::NotFound(_))));
    // Erasure records are kept three years, then forgotten.
    let purge = |y: u64| {
        Change::Lifecycle(L::PurgeErasures {
            before: at.saturating_add(std::time::Duration::from_secs(y * 366 * 86_400)),
        })
    };
    store.commit(vec![purge(2)]).await.expect("purge");
    assert_eq!(store.list_erasures().await.expect("kept").len(), 1);
    store.commit(vec![purge(3)]).await.expect("purge");
    assert!(store.list_erasures().await.expect("gone").is_empty());
}

conformance!(
    records_are_replaced_and_read_with_their_account,
    a_case_opens_once_and_its_steps_run_once,
    erasure_leaves_no_personal_data_and_retires_the_login,
);
