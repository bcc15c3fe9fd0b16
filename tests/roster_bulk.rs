//! Large register imports on SQLite and PostgreSQL: thousands of people in one
//! transaction, written by the store a chunk of rows at a time, come out exactly as if
//! written one by one (accounts, lock codes, records, profiles, the audit log and the
//! credential journal with intact chains); a failure anywhere in a chunked change leaves
//! nothing; a login an erasure retired is never given again.

#[path = "common/lifecycle_kit.rs"]
mod kit;
#[path = "common/store_db.rs"]
#[macro_use]
mod store_db;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use chrono::NaiveDate;
use kit::{Services, TestClock};
use propusk::app::{Actor, App, ImportOptions, SignInRequest};
use propusk::domain::Timestamp;
use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login};
use propusk::domain::journal::AuditEvent;
use propusk::domain::lifecycle::RowAction;
use propusk::domain::roster::{Order, RosterRow, RosterStatus, RowError};
use propusk::ports::lifecycle::LifecycleChange as L;
use propusk::ports::{AccountFilter, Change, ProtectionChange, Store, StoreError};

/// More rows than one statement takes for accounts (2,133), audit entries (2,461) and
/// journal entries (2,909).
const PEOPLE: usize = 3_000;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn register(group: &str) -> Vec<Result<RosterRow, RowError>> {
    (0..PEOPLE)
        .map(|i| {
            Ok(RosterRow {
                line: i + 2,
                external_id: format!("С-{i:05}"),
                full_name: format!("Студентова{i} Анна Петровна"),
                role: Role::Student,
                unit: Some(format!("{group}-{:02}", i % 40)),
                email: Some(format!("s{i}@college.example")),
                status: RosterStatus::Studying,
                effective: date("2026-09-01"),
                order: Some(Order { number: format!("{}-к", i % 97 + 1), date: date("2026-08-01") }),
            })
        })
        .collect()
}

fn admin() -> Actor {
    Actor { name: "os:registrar".into(), ip: None }
}

fn opts() -> ImportOptions {
    ImportOptions { source: "register.csv".into(), ..ImportOptions::default() }
}

async fn app_on(store: Arc<dyn Store>) -> (App, Services, tempfile::TempDir) {
    let services = Services::start().await;
    let policies = kit::policies(&services, false);
    let clock = Arc::new(TestClock(AtomicI64::new(0)));
    clock.set("2026-12-01T10:00:00+03:00");
    let app = kit::app(store, clock, policies.path(), "node-a").await;
    (app, services, policies)
}

async fn assert_chains_intact(app: &App, audit_at_least: u64, journal_at_least: u64) {
    let reports = app.verify_journals().await.expect("verify");
    assert!(reports.iter().all(|r| r.intact), "{reports:?}");
    let checked: Vec<u64> = reports.iter().map(|r| r.entries_checked).collect();
    assert!(checked.iter().max() >= Some(&audit_at_least), "{reports:?}");
    assert!(checked.iter().min() >= Some(&journal_at_least), "{reports:?}");
}

async fn thousands_of_people_are_imported_whole_and_again_changes_nothing(store: Arc<dyn Store>) {
    let (app, _services, _policies) = app_on(store.clone()).await;
    let report = app.import_roster(&admin(), register("ИС"), &opts()).await.expect("import");
    assert!(report.applied && report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.changes.len(), report.issued.len()), (PEOPLE, PEOPLE));
    let all = AccountFilter { limit: 10_000, ..AccountFilter::default() };
    assert_eq!(store.list_accounts(&all).await.expect("accounts").len(), PEOPLE);
    // Every account has its lock code and journal entry, the last chunk's as the first's.
    for issued in [&report.issued[0], &report.issued[PEOPLE / 2], &report.issued[PEOPLE - 1]] {
        let id = &issued.account.id;
        assert!(store.find_lock_code_hash(id).await.expect("lock code").is_some(), "{id:?}");
        assert_eq!(store.list_journal(Some(id), 5).await.expect("journal").len(), 1);
    }
    // The last person signs in with the slip's password.
    let last = &report.issued[PEOPLE - 1];
    let signed = app
        .sign_in(SignInRequest {
            login: last.account.login.as_str().into(),
            password: last.password.clone(),
            ip: Some("10.1.2.3".into()),
            user_agent: None,
        })
        .await;
    assert!(signed.is_ok(), "{signed:?}");
    // 3,000 account.create entries and the import's own; 3,000 journal entries.
    assert_chains_intact(&app, PEOPLE as u64 + 1, PEOPLE as u64).await;

    let again = app.import_roster(&admin(), register("ИС"), &opts()).await.expect("again");
    assert_eq!((again.changes.len(), again.unchanged, again.issued.len()), (0, PEOPLE, 0));

    let dry = ImportOptions { dry_run: true, ..opts() };
    let planned = app.import_roster(&admin(), register("ПР"), &dry).await.expect("dry run");
    assert!(!planned.applied && planned.changes.len() == PEOPLE);
    let snap = store.roster_snapshot().await.expect("snapshot");
    assert!(snap.accounts.iter().all(|a| a.account.study_group.as_deref().is_some_and(|g| g.starts_with("ИС-"))));

    let changed = app.import_roster(&admin(), register("ПР"), &opts()).await.expect("changed");
    assert!(changed.applied && changed.issued.is_empty());
    assert!(changed.changes.iter().all(|c| matches!(c.action, RowAction::Update(_))));
    assert_eq!(changed.changes.len(), PEOPLE);
    let snap = store.roster_snapshot().await.expect("snapshot");
    assert_eq!(snap.accounts.len(), PEOPLE);
    for a in &snap.accounts {
        let n: usize = a.account.external_id.as_deref().expect("id").trim_start_matches("С-").parse().expect("n");
        assert_eq!(a.account.study_group, Some(format!("ПР-{:02}", n % 40)), "{}", a.account.login.as_str());
        assert_eq!(a.record.as_ref().map(|r| r.status), Some(RosterStatus::Studying));
    }
    let again = app.import_roster(&admin(), register("ПР"), &opts()).await.expect("again");
    assert_eq!((again.changes.len(), again.unchanged), (0, PEOPLE));
    assert_chains_intact(&app, 2 * PEOPLE as u64 + 3, PEOPLE as u64).await;
}

fn account(n: usize, login: &str) -> Account {
    let at = Timestamp::from_millis(1_800_000_000_000);
    Account {
        id: AccountId::from_stored(format!("acc-{n}")),
        login: Login::parse(login).expect("login"),
        full_name: format!("Студентова{n} Анна"),
        email: None,
        roles: Roles::new([Role::Student]),
        study_group: Some("ИС-21".into()),
        department: None,
        external_id: Some(format!("С-{n}")),
        status: AccountStatus::Active,
        password_must_change: true,
        password_expires_at: None,
        created_at: at,
        updated_at: at,
    }
}

fn audit(n: usize) -> Change {
    Change::InsertAudit(AuditEvent {
        at: Timestamp::from_millis(1_800_000_000_000),
        actor: "os:registrar".into(),
        action: "account.create",
        subject: Some(format!("s{n}")),
        ip: None,
        outcome: "success",
        detail: String::new(),
    })
}

async fn a_failure_anywhere_in_a_chunked_change_leaves_nothing(store: Arc<dyn Store>) {
    let (app, _services, _policies) = app_on(store.clone()).await;
    let all = AccountFilter { limit: 10_000, ..AccountFilter::default() };
    // The last of 3,000 new accounts takes the first one's login: the insert of the
    // second chunk fails, and the first chunk and every audit entry go with it.
    let mut changes: Vec<Change> = (0..PEOPLE)
        .map(|n| {
            let login = if n == PEOPLE - 1 { "s0".to_owned() } else { format!("s{n}") };
            Change::InsertAccount { account: account(n, &login), password_hash: "h".into() }
        })
        .collect();
    changes.extend((0..PEOPLE).map(audit));
    let err = store.commit(changes).await.expect_err("a login taken twice");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(store.list_accounts(&all).await.expect("accounts").is_empty());
    assert!(store.list_audit("", 10).await.expect("audit").is_empty());

    // Lock codes for 3,000 accounts, one of which does not exist: nothing is written.
    let accounts: Vec<Change> = (0..PEOPLE)
        .map(|n| Change::InsertAccount { account: account(n, &format!("s{n}")), password_hash: "h".into() })
        .collect();
    store.commit(accounts).await.expect("accounts");
    let codes = |missing: bool| -> Vec<Change> {
        (0..PEOPLE)
            .map(|n| {
                let id = if missing && n == PEOPLE / 2 { "acc-none".to_owned() } else { format!("acc-{n}") };
                Change::Protection(ProtectionChange::SetLockCode {
                    account: AccountId::from_stored(id),
                    hash: n.to_string(),
                })
            })
            .collect()
    };
    let mut with_audit = codes(true);
    with_audit.push(audit(0));
    let err = store.commit(with_audit).await.expect_err("an unknown account");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.find_lock_code_hash(&AccountId::from_stored("acc-0".to_owned())).await.expect("code"), None);
    assert!(store.list_audit("", 10).await.expect("audit").is_empty());

    // Profile updates naming one account twice apply in order, as one by one: the later wins.
    store.commit(codes(false)).await.expect("codes");
    let at = Timestamp::from_millis(1_800_000_000_001);
    let profile = |n: usize, group: &str| {
        Change::Lifecycle(L::UpdateProfile {
            id: AccountId::from_stored(format!("acc-{n}")),
            login: Login::parse(&format!("s{n}")).expect("login"),
            full_name: format!("Новикова{n} Анна"),
            email: None,
            study_group: Some(group.into()),
            department: None,
            at,
        })
    };
    let mut updates: Vec<Change> = (0..PEOPLE).map(|n| profile(n, "ПР-1")).collect();
    updates.push(profile(7, "ПР-2"));
    store.commit(updates).await.expect("updates");
    let seven = store.find_account(&AccountId::from_stored("acc-7".to_owned())).await.expect("find").expect("acc-7");
    assert_eq!((seven.full_name.as_str(), seven.study_group.as_deref()), ("Новикова7 Анна", Some("ПР-2")));
    let last = store.find_account(&AccountId::from_stored(format!("acc-{}", PEOPLE - 1))).await.expect("find");
    assert_eq!(last.and_then(|a| a.study_group), Some("ПР-1".into()));
    // The search key follows the new name (Cyrillic lowered in Rust, see ARCHITECTURE.md).
    let search =
        AccountFilter { text: Some(format!("новикова{}", PEOPLE - 1)), limit: 10, ..AccountFilter::default() };
    let found = store.list_accounts(&search).await.expect("search");
    assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), vec![format!("acc-{}", PEOPLE - 1)]);
    let code = store.find_lock_code_hash(&AccountId::from_stored("acc-2999".to_owned())).await.expect("code");
    assert_eq!(code.as_deref(), Some("2999"));
    // A run of updates with an account that does not exist changes nothing.
    let mut updates: Vec<Change> = (0..10).map(|n| profile(n, "ПР-3")).collect();
    updates.push(Change::Lifecycle(L::UpdateProfile {
        id: AccountId::from_stored("acc-none".to_owned()),
        login: Login::parse("nobody").expect("login"),
        full_name: "Никто".into(),
        email: None,
        study_group: None,
        department: None,
        at,
    }));
    assert!(matches!(store.commit(updates).await, Err(StoreError::NotFound(_))));
    let zero = store.find_account(&AccountId::from_stored("acc-0".to_owned())).await.expect("find").expect("acc-0");
    assert_eq!(zero.study_group.as_deref(), Some("ПР-1"));

    // Nothing of the failed changes holds a place in the chain.
    store.commit((0..PEOPLE).map(audit).collect()).await.expect("audit");
    assert_chains_intact(&app, PEOPLE as u64, 0).await;
}

async fn a_retired_login_is_never_given_again(store: Arc<dyn Store>) {
    let (app, _services, _policies) = app_on(store.clone()).await;
    let person = |id: &str, line: usize| RosterRow {
        line,
        external_id: id.into(),
        full_name: "Иванов Иван Петрович".into(),
        role: Role::Student,
        unit: Some("ИС-21".into()),
        email: None,
        status: RosterStatus::Studying,
        effective: date("2026-09-01"),
        order: None,
    };
    let first = app.import_roster(&admin(), vec![Ok(person("С-1", 2))], &opts()).await.expect("first");
    let erased = &first.issued[0].account;
    assert_eq!(erased.login.as_str(), "ivanov.ip");
    let at = Timestamp::from_millis(1_800_000_000_000);
    let erase = L::EraseAccount {
        id: erased.id.clone(),
        login: erased.login.clone(),
        pseudonym: "erased-0011223344556677".into(),
        external_id_hash: Some(propusk::app::external_id_hash("С-1")),
        at,
    };
    store.commit(vec![Change::Lifecycle(erase)]).await.expect("erase");
    let snap = store.roster_snapshot().await.expect("snapshot");
    assert!(snap.retired_logins.contains("ivanov.ip") && !snap.retired_logins.contains("ivanov.ip2"));
    assert!(!snap.logins.iter().any(|l| l == "ivanov.ip"), "the login itself is gone");
    // Two namesakes: neither gets the retired login, nor each other's.
    let file = vec![Ok(person("С-2", 2)), Ok(person("С-3", 3))];
    let next = app.import_roster(&admin(), file, &opts()).await.expect("namesakes");
    let logins: Vec<&str> = next.issued.iter().map(|i| i.account.login.as_str()).collect();
    assert_eq!(logins.len(), 2);
    assert!(!logins.contains(&"ivanov.ip") && logins[0] != logins[1], "{logins:?}");
}

conformance!(
    thousands_of_people_are_imported_whole_and_again_changes_nothing,
    a_failure_anywhere_in_a_chunked_change_leaves_nothing,
    a_retired_login_is_never_given_again,
);
