//! Store conformance for forward-auth: the session, account and restrictions read at
//! once, handoff codes (single use, lapsed ones forgotten) and host sessions (found by
//! token hash, ended with their code, lapsed ones forgotten), on the embedded SQLite backend and on the machine's PostgreSQL
//! (a fresh database per test, dropped afterwards), like `tests/store.rs`.
//!
//! PostgreSQL is found at `PROPUSK_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

use std::sync::Arc;

use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login, SessionToken, SessionTokenHash};
use propusk::domain::session::{SessionLimits, SessionTimes};
use propusk::domain::time::Timestamp;
use propusk::ports::access::{Handoff, HostSession};
use propusk::ports::{AccessChange, Change, SessionRecord, Store, StoreError};
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

conformance!(
    session_access_reads_session_account_and_restrictions,
    handoff_codes_work_once_and_lapse,
    host_sessions_are_found_ended_and_forgotten,
);

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

/// An account with one live session; the session's hash.
async fn signed_in(s: &Arc<dyn Store>, login: &str) -> SessionTokenHash {
    signed_in_as(s, login).await.1.hash
}

/// An account with one live session: both as stored.
async fn signed_in_as(s: &Arc<dyn Store>, login: &str) -> (Account, SessionRecord) {
    let a = Account {
        id: AccountId::generate(T0, &mut rand::rngs::OsRng),
        login: Login::parse(login).expect("login"),
        full_name: "Хостов Харитон".into(),
        email: None,
        roles: Roles::new([Role::Staff]),
        study_group: None,
        department: None,
        external_id: None,
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: ts(0),
        updated_at: ts(0),
    };
    let token = SessionToken::generate(&mut rand::rngs::OsRng);
    let limits = SessionLimits::default();
    let session = SessionRecord {
        hash: token.hash(),
        account_id: a.id.clone(),
        times: SessionTimes::start(ts(0), limits.idle_learner, &limits),
        ip: None,
        user_agent: None,
        ended_at: None,
        second_factor_at: None,
    };
    let insert = Change::InsertAccount { account: a.clone(), password_hash: "h".into() };
    s.commit(vec![insert, Change::InsertSession(session.clone())]).await.expect("account and session");
    (a, session)
}

async fn session_access_reads_session_account_and_restrictions(s: Arc<dyn Store>) {
    use propusk::policy::{ResourceId, Restriction};
    let (a, session) = signed_in_as(&s, "access.a").await;
    let (b, _) = signed_in_as(&s, "other.o").await;
    let got = s.find_session_access(&session.hash).await.expect("find").expect("present");
    assert_eq!((&got.session, &got.account), (&session, &a));
    assert!(got.restrictions.is_empty());
    assert_eq!(s.find_session_access(&hash()).await.expect("find"), None);

    let r = |resource: &str, until: Option<Timestamp>| Restriction {
        resource: ResourceId::parse(resource).expect("id"),
        reason: format!("причина {resource}"),
        until,
        set_by: "admin".into(),
    };
    let put = |who: &Account, x: Restriction| {
        Change::Access(AccessChange::PutRestriction { account: who.id.clone(), restriction: x, at: ts(1) })
    };
    s.commit(vec![put(&a, r("moodle", None)), put(&a, r("mail", Some(ts(5)))), put(&b, r("portal", None))])
        .await
        .expect("restrict");
    s.commit(vec![Change::TouchSession { hash: session.hash.clone(), at: ts(7) }]).await.expect("touch");
    let got = s.find_session_access(&session.hash).await.expect("find").expect("present");
    assert_eq!(got.restrictions, vec![r("mail", Some(ts(5))), r("moodle", None)], "this account's, by resource");
    assert_eq!(got.session.times.last_seen_at, ts(7));
    assert_eq!(got.account, a);
}

fn hash() -> SessionTokenHash {
    SessionToken::generate(&mut rand::rngs::OsRng).hash()
}

fn handoff(session: &SessionTokenHash, at: i64) -> Handoff {
    Handoff {
        code: hash(),
        session: session.clone(),
        host: "timetable.college.example".into(),
        return_to: "https://timetable.college.example/edit/week?d=1".into(),
        created_at: ts(at),
        expires_at: ts(at + 60_000),
        used_at: None,
    }
}

async fn handoff_codes_work_once_and_lapse(s: Arc<dyn Store>) {
    let session = signed_in(&s, "handoff.h").await;
    let first = handoff(&session, 0);
    s.commit(vec![Change::Access(AccessChange::InsertHandoff(first.clone()))]).await.expect("insert");
    assert_eq!(s.find_handoff(&first.code).await.expect("find"), Some(first.clone()));
    assert_eq!(s.find_handoff(&hash()).await.expect("find"), None);

    let use_it = |at| Change::Access(AccessChange::UseHandoff { code: first.code.clone(), at: ts(at) });
    s.commit(vec![use_it(5)]).await.expect("first use");
    let used = s.find_handoff(&first.code).await.expect("find").expect("kept after use");
    assert_eq!(used.used_at, Some(ts(5)));
    let err = s.commit(vec![use_it(6)]).await.expect_err("a second use");
    assert!(matches!(err, StoreError::NotFound("handoff code")), "{err:?}");
    assert_eq!(s.find_handoff(&first.code).await.expect("find").expect("kept").used_at, Some(ts(5)), "unchanged");

    // A later code forgets the ones that lapsed before it was made, used or not.
    let unused = handoff(&session, 1);
    s.commit(vec![Change::Access(AccessChange::InsertHandoff(unused.clone()))]).await.expect("insert");
    let later = handoff(&session, 61_001);
    s.commit(vec![Change::Access(AccessChange::InsertHandoff(later.clone()))]).await.expect("insert");
    assert_eq!(s.find_handoff(&first.code).await.expect("find"), None);
    assert_eq!(s.find_handoff(&unused.code).await.expect("find"), None);
    assert_eq!(s.find_handoff(&later.code).await.expect("find"), Some(later));

    // A code must name a stored session.
    let orphan = handoff(&hash(), 61_002);
    assert!(s.commit(vec![Change::Access(AccessChange::InsertHandoff(orphan))]).await.is_err());
}

async fn host_sessions_are_found_ended_and_forgotten(s: Arc<dyn Store>) {
    let session = signed_in(&s, "host.h").await;
    let code = handoff(&session, 0);
    s.commit(vec![Change::Access(AccessChange::InsertHandoff(code.clone()))]).await.expect("code");
    let host_session = |at: i64, expires: i64, code: &SessionTokenHash| HostSession {
        token: hash(),
        session: session.clone(),
        host: "timetable.college.example".into(),
        code: code.clone(),
        created_at: ts(at),
        expires_at: ts(expires),
    };
    let a = host_session(1, 1_000, &code.code);
    let b = host_session(2, 43_200_000, &code.code);
    let other = host_session(3, 43_200_000, &hash());
    let insert = |h: &HostSession| Change::Access(AccessChange::InsertHostSession(h.clone()));
    // Redeeming: the code is used and the host session opened in one transaction.
    let use_code = Change::Access(AccessChange::UseHandoff { code: code.code.clone(), at: ts(1) });
    s.commit(vec![use_code, insert(&a)]).await.expect("redeem");
    s.commit(vec![insert(&b), insert(&other)]).await.expect("insert");
    assert_eq!(s.find_host_session(&a.token).await.expect("find"), Some(a.clone()));
    assert_eq!(s.find_host_session(&hash()).await.expect("find"), None);

    // A second redemption of the same code rolls its whole transaction back.
    let again = host_session(4, 43_200_000, &code.code);
    let use_again = Change::Access(AccessChange::UseHandoff { code: code.code.clone(), at: ts(4) });
    assert!(s.commit(vec![insert(&again), use_again]).await.is_err());
    assert_eq!(s.find_host_session(&again.token).await.expect("find"), None, "rolled back");

    // A host session made later forgets the lapsed ones.
    let late = host_session(2_000, 43_200_000, &hash());
    s.commit(vec![insert(&late)]).await.expect("insert");
    assert_eq!(s.find_host_session(&a.token).await.expect("find"), None, "lapsed at 1 000 ms");

    // Ending what a code opened leaves the others.
    s.commit(vec![Change::Access(AccessChange::DeleteHostSessionsOf { code: code.code.clone() })]).await.expect("end");
    assert_eq!(s.find_host_session(&b.token).await.expect("find"), None);
    assert_eq!(s.find_host_session(&other.token).await.expect("find"), Some(other));
    assert_eq!(s.find_host_session(&late.token).await.expect("find"), Some(late));
}
