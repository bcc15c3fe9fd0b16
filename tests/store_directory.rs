//! Store conformance for the directory's rows: a synced profile written over an account,
//! and the write-back queue (queued, leased once, retried, done or given up), on SQLite
//! and PostgreSQL.

#[macro_use]
#[path = "common/store_db.rs"]
mod store_db;

use std::sync::Arc;

use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login};
use propusk::domain::time::Timestamp;
use propusk::ports::directory::DirectoryChange as D;
use propusk::ports::{Change, Store, StoreError};

const T0: i64 = 1_800_000_000_000;

conformance!(a_synced_profile_replaces_the_stored_one, the_write_back_queue_is_leased_retried_and_closed);

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn account(login: &str) -> Account {
    Account {
        id: AccountId::generate(T0, &mut rand::rngs::OsRng),
        login: Login::parse(login).expect("login"),
        full_name: "Иванов Иван".into(),
        email: None,
        roles: Roles::new([Role::Student]),
        study_group: None,
        department: None,
        external_id: None,
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: ts(0),
        updated_at: ts(0),
    }
}

async fn a_synced_profile_replaces_the_stored_one(s: Arc<dyn Store>) {
    let mut a = account("ivanov.ii");
    s.commit(vec![Change::InsertAccount { account: a.clone(), password_hash: "!directory".into() }])
        .await
        .expect("insert");
    a.full_name = "Иванов Иван Ильич".into();
    a.email = Some("ivanov@college.example".into());
    a.roles = Roles::new([Role::Student, Role::Teacher]);
    a.study_group = Some("ИС-21".into());
    a.department = Some("it".into());
    a.external_id = Some("S-1001".into());
    a.updated_at = ts(5);
    s.commit(vec![Change::Directory(D::UpdateProfile { account: a.clone() })]).await.expect("update");
    assert_eq!(s.find_account(&a.id).await.expect("find"), Some(a.clone()));
    let ghost = account("nobody.here");
    let e = s.commit(vec![Change::Directory(D::UpdateProfile { account: ghost })]).await.expect_err("no such account");
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
}

async fn the_write_back_queue_is_leased_retried_and_closed(s: Arc<dyn Store>) {
    let login = Login::parse("ivanov.ii").expect("login");
    for action in ["disable", "enable"] {
        s.commit(vec![Change::Directory(D::QueueWrite { login: login.clone(), action, at: ts(0) })])
            .await
            .expect("queue");
    }
    let due = s.list_due_directory_writes(ts(0), 10).await.expect("due");
    assert_eq!(due.iter().map(|w| w.action).collect::<Vec<_>>(), ["disable", "enable"]);
    let (first, second) = (due[0].id, due[1].id);
    s.commit(vec![Change::Directory(D::ClaimWrite { id: first, now: ts(1), until: ts(1000) })]).await.expect("claim");
    let e = s.commit(vec![Change::Directory(D::ClaimWrite { id: first, now: ts(2), until: ts(1000) })]).await;
    assert!(matches!(e, Err(StoreError::NotFound(_))), "leased once: {e:?}");
    assert_eq!(s.list_due_directory_writes(ts(2), 10).await.expect("due").len(), 1);
    let failed =
        D::WriteFailed { id: first, attempts: 1, next_attempt_at: Some(ts(500)), error: "down".into(), at: ts(3) };
    s.commit(vec![Change::Directory(failed)]).await.expect("retry later");
    assert_eq!(s.list_due_directory_writes(ts(499), 10).await.expect("due").len(), 1);
    assert_eq!(s.list_due_directory_writes(ts(500), 10).await.expect("due").len(), 2);
    s.commit(vec![Change::Directory(D::WriteDone { id: first, attempts: 2, at: ts(600) })]).await.expect("done");
    let gave_up =
        D::WriteFailed { id: second, attempts: 1, next_attempt_at: None, error: "no entry".into(), at: ts(601) };
    s.commit(vec![Change::Directory(gave_up)]).await.expect("given up");
    assert!(s.list_due_directory_writes(ts(10_000), 10).await.expect("due").is_empty());
    let all = s.list_directory_writes(10).await.expect("all");
    assert_eq!(all[0].id, second);
    assert_eq!((all[0].failed_at, all[0].last_error.as_deref()), (Some(ts(601)), Some("no entry")));
    assert_eq!((all[1].done_at, all[1].attempts, all[1].last_error.clone()), (Some(ts(600)), 2, None));
}
