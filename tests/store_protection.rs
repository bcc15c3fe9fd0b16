//! Store conformance for known devices and the outbound mail queue, on the embedded
//! SQLite backend and on the machine's PostgreSQL (a fresh database per test, dropped
//! afterwards), like `tests/store.rs`.
//!
//! PostgreSQL is found at `PROPUSK_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

use std::sync::Arc;

use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login};
use propusk::domain::time::Timestamp;
use propusk::ports::protection::OutboundMail;
use propusk::ports::{Change, ProtectionChange, Store, StoreError};
use sqlx::Connection as _;

const T0: i64 = 1_800_000_000_000;

fn pg_base() -> String {
    std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    (propusk::store::open(&url).await.expect("open sqlite"), dir)
}

async fn postgres() -> (Arc<dyn Store>, String) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    // The same prefix as tests/store.rs, whose clean-up drops what a panicked test left.
    let name = format!("propusk_t_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base()))
        .await
        .expect("PostgreSQL must be reachable for the store suite (set PROPUSK_TEST_PG to its base URL)");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create db");
    (propusk::store::open(&format!("{}/{name}", pg_base())).await.expect("open postgres"), name)
}

async fn drop_pg(store: Arc<dyn Store>, name: String) {
    drop(store);
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base())).await.expect("admin");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop db");
}

/// Runs each named scenario once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() {
                let (store, _dir) = super::sqlite().await;
                super::$name(store).await;
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() {
                let (store, name) = super::postgres().await;
                super::$name(store.clone()).await;
                super::drop_pg(store, name).await;
            } )*
        }
    };
}

conformance!(known_devices_are_per_account_and_forgotten, mail_is_queued_leased_retried_and_closed);

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn account(login: &str) -> Account {
    Account {
        id: AccountId::generate(T0, &mut rand::rngs::OsRng),
        login: Login::parse(login).expect("login"),
        full_name: "Устройствова Ульяна".into(),
        email: Some(format!("{login}@college.example")),
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

fn insert(a: &Account) -> Change {
    Change::InsertAccount { account: a.clone(), password_hash: format!("hash-of-{}", a.login) }
}

async fn known_devices_are_per_account_and_forgotten(s: Arc<dyn Store>) {
    let (a, b) = (account("device.a"), account("device.b"));
    s.commit(vec![insert(&a), insert(&b)]).await.expect("accounts");
    let remember = |hash: &str, who: &Account, at: i64| {
        Change::Protection(ProtectionChange::RememberDevice {
            token_hash: hash.into(),
            account: who.id.clone(),
            at: ts(at),
        })
    };
    assert_eq!(s.find_known_device("h1", &a.id, ts(0)).await.expect("find"), None);
    s.commit(vec![remember("h1", &a, 10), remember("h1", &b, 20)]).await.expect("remember");
    assert_eq!(s.find_known_device("h1", &a.id, ts(0)).await.expect("find"), Some(ts(10)));
    assert_eq!(s.find_known_device("h2", &a.id, ts(0)).await.expect("find"), None, "another browser");
    assert_eq!(s.find_known_device("h1", &a.id, ts(11)).await.expect("find"), None, "not seen since");
    s.commit(vec![remember("h1", &a, 30)]).await.expect("seen again");
    assert_eq!(s.find_known_device("h1", &a.id, ts(11)).await.expect("find"), Some(ts(30)));
    s.commit(vec![Change::Protection(ProtectionChange::ForgetDevices { account: a.id.clone() })])
        .await
        .expect("forget");
    assert_eq!(s.find_known_device("h1", &a.id, ts(0)).await.expect("find"), None);
    assert_eq!(s.find_known_device("h1", &b.id, ts(0)).await.expect("find"), Some(ts(20)), "others keep theirs");
    let ghost = AccountId::from_stored("00000000-0000-7000-8000-000000000000".into());
    s.commit(vec![Change::Protection(ProtectionChange::RememberDevice {
        token_hash: "h3".into(),
        account: ghost.clone(),
        at: ts(0),
    })])
    .await
    .expect_err("a device of no account is refused");
    assert_eq!(s.find_known_device("h3", &ghost, ts(0)).await.expect("find"), None);
}

async fn mail_is_queued_leased_retried_and_closed(s: Arc<dyn Store>) {
    let queue = |kind: &'static str, to: Option<&str>, at: i64| {
        let mut m = OutboundMail::new(kind, to.map(str::to_owned), ts(at));
        m.login = Some("device.a".into());
        m.network = Some("203.0.113.0/24".into());
        m.detail = format!("{{\"n\":{at}}}");
        Change::Protection(ProtectionChange::QueueMail(m))
    };
    s.commit(vec![queue("lock", Some("a@college.example"), 0), queue("compromise", None, 5)]).await.expect("queue");
    s.commit(vec![queue("spraying", None, 1_000)]).await.expect("queue later");
    let due = s.list_due_mail(ts(10), 10).await.expect("due");
    assert_eq!(due.iter().map(|m| m.kind).collect::<Vec<_>>(), ["lock", "compromise"], "oldest first, due only");
    let lock = &due[0];
    assert_eq!(lock.recipient.as_deref(), Some("a@college.example"));
    assert_eq!((lock.login.as_deref(), lock.network.as_deref()), (Some("device.a"), Some("203.0.113.0/24")));
    assert_eq!((lock.attempts, lock.sent_at, lock.failed_at, lock.last_error.clone()), (0, None, None, None));
    assert_eq!(due[1].recipient, None, "the officers, resolved when sent");

    let claim = |id: i64, now: i64| {
        Change::Protection(ProtectionChange::ClaimMail { id, now: ts(now), until: ts(now + 120_000) })
    };
    s.commit(vec![claim(lock.id, 10)]).await.expect("claim");
    let again = s.commit(vec![claim(lock.id, 11)]).await.expect_err("leased to another node");
    assert!(matches!(again, StoreError::NotFound("mail")));
    assert_eq!(s.list_due_mail(ts(10), 10).await.expect("due").len(), 1, "a leased message is not due");

    let failed = |id: i64, attempts: u32, next: Option<i64>| {
        Change::Protection(ProtectionChange::MailFailed {
            id,
            attempts,
            next_attempt_at: next.map(ts),
            error: "connection refused".into(),
            at: ts(20),
        })
    };
    s.commit(vec![failed(lock.id, 1, Some(30_000))]).await.expect("retry later");
    let m = s.list_mail(10).await.expect("list").into_iter().find(|m| m.id == lock.id).expect("lock mail");
    assert_eq!((m.attempts, m.next_attempt_at, m.failed_at), (1, ts(30_000), None));
    assert_eq!(m.last_error.as_deref(), Some("connection refused"));
    s.commit(vec![claim(lock.id, 30_000)]).await.expect("claim when due");
    s.commit(vec![Change::Protection(ProtectionChange::MailSent { id: lock.id, attempts: 2, at: ts(30_001) })])
        .await
        .expect("sent");
    s.commit(vec![claim(due[1].id, 30_000), failed(due[1].id, 8, None)]).await.expect("given up");

    let all = s.list_mail(10).await.expect("list");
    assert_eq!(all.iter().map(|m| m.kind).collect::<Vec<_>>(), ["spraying", "compromise", "lock"], "newest first");
    assert_eq!((all[2].sent_at, all[2].attempts, all[2].last_error.clone()), (Some(ts(30_001)), 2, None));
    assert_eq!((all[1].failed_at, all[1].attempts, all[1].sent_at), (Some(ts(20)), 8, None));
    let due = s.list_due_mail(ts(100_000), 10).await.expect("due");
    assert_eq!(due.iter().map(|m| m.kind).collect::<Vec<_>>(), ["spraying"], "sent and given-up ones are done");
    assert_eq!(s.list_due_mail(ts(100_000), 0).await.expect("due"), Vec::<OutboundMail>::new());
}
