//! The store conformance suite: every test runs against the embedded SQLite backend and
//! against the machine's PostgreSQL (a fresh database per test, dropped afterwards).
//!
//! PostgreSQL is found at `PROPUSK_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

use std::sync::Arc;

use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login, SessionToken};
use propusk::domain::journal::{AuditEvent, Channel, CredentialIssue, IssueKind};
use propusk::domain::session::{EndReason, SessionLimits, SessionTimes, SignInOutcome};
use propusk::domain::time::Timestamp;
use propusk::ports::{AccountFilter, Change, Part, SessionRecord, SignInRecord, Store, StoreError};
use sqlx::Connection as _;

const T0: i64 = 1_800_000_000_000;

struct Db {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Db {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let store = propusk::store::open(&url).await.expect("open sqlite");
        Db { store, _dir: Some(dir), pg_name: None }
    }

    async fn postgres() -> Self {
        let base = pg_base();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let name = format!("propusk_t_{now}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("PostgreSQL must be reachable for the store suite (set PROPUSK_TEST_PG to its base URL)");
        // Databases left by a test that panicked an hour or more ago.
        let stale: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'propusk\\_t\\_%'")
                .fetch_all(&mut admin)
                .await
                .expect("list databases");
        for old in stale {
            let born = old.split('_').nth(2).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
            if born + 3600 < now {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create db");
        let store = propusk::store::open(&format!("{base}/{name}")).await.expect("open postgres");
        Db { store, _dir: None, pg_name: Some(name) }
    }

    async fn finish(self) {
        let Db { store, pg_name, .. } = self;
        drop(store);
        if let Some(name) = pg_name {
            let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base())).await.expect("admin");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .expect("drop db");
        }
    }
}

fn pg_base() -> String {
    std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs each named scenario once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() {
                let db = super::Db::sqlite().await;
                super::$name(db.store.clone()).await;
                db.finish().await;
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() {
                let db = super::Db::postgres().await;
                super::$name(db.store.clone()).await;
                db.finish().await;
            } )*
        }
    };
}

conformance!(
    accounts_round_trip,
    a_failed_batch_changes_nothing,
    updates_of_missing_rows_are_not_found,
    listing_filters_and_pages,
    sessions_live_touch_and_end,
    sign_ins_newest_first,
    journal_marks_receipt_once,
    concurrent_commits_all_land,
    a_change_in_parts_is_one_transaction,
    runs_of_blocks_end_what_each_would_alone,
    protection_records,
    restrictions_put_replace_and_lift,
    audit_reads_back_by_action_prefix,
);

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn account(login: &str, name: &str, roles: &[Role], group: Option<&str>) -> Account {
    let mut rng = rand::rngs::OsRng;
    Account {
        id: AccountId::generate(T0, &mut rng),
        login: Login::parse(login).expect("login"),
        full_name: name.into(),
        email: Some(format!("{login}@college.example")),
        roles: Roles::new(roles.iter().copied()),
        study_group: group.map(Into::into),
        department: None,
        external_id: Some(format!("ext-{login}")),
        status: AccountStatus::Active,
        password_must_change: true,
        password_expires_at: Some(ts(3_600_000)),
        created_at: ts(0),
        updated_at: ts(0),
    }
}

fn insert(a: &Account) -> Change {
    Change::InsertAccount { account: a.clone(), password_hash: format!("hash-of-{}", a.login) }
}

fn audit(action: &'static str) -> Change {
    Change::InsertAudit(AuditEvent {
        at: ts(0),
        actor: "test".into(),
        action,
        subject: None,
        ip: None,
        outcome: "success",
        detail: String::new(),
    })
}

async fn accounts_round_trip(s: Arc<dyn Store>) {
    s.ping().await.expect("ping");
    let a = account("ivanova.a", "Иванова Анна", &[Role::Student, Role::Librarian], Some("ИС-21"));
    s.commit(vec![insert(&a), audit("account.create")]).await.expect("insert");
    assert_eq!(s.find_account(&a.id).await.expect("find"), Some(a.clone()));
    let secret = s.find_account_secret(&a.login).await.expect("secret").expect("present");
    assert_eq!(secret.account, a);
    assert_eq!(secret.password_hash.as_deref(), Some("hash-of-ivanova.a"));
    let missing = Login::parse("nobody").expect("login");
    assert!(s.find_account_secret(&missing).await.expect("lookup").is_none());
    assert_eq!(s.count_accounts_with_role(Role::Librarian).await.expect("count"), 1);
    assert_eq!(s.count_accounts_with_role(Role::EiosAdmin).await.expect("count"), 0);
}

async fn a_failed_batch_changes_nothing(s: Arc<dyn Store>) {
    let a = account("petrov.p", "Петров Пётр", &[Role::Teacher], None);
    s.commit(vec![insert(&a)]).await.expect("first");
    let b = account("sidorov.s", "Сидоров Семён", &[Role::Teacher], None);
    let mut dup = account("petrov.p", "Другой Петров", &[Role::Staff], None);
    dup.external_id = None;
    let err = s.commit(vec![insert(&b), audit("account.create"), insert(&dup)]).await.expect_err("duplicate login");
    assert!(matches!(err, StoreError::Conflict(w) if w.contains("login")), "{err:?}");
    assert!(s.find_account(&b.id).await.expect("find").is_none(), "the first insert was rolled back");
    let mut dup_ext = account("orlov.o", "Орлов Олег", &[Role::Staff], None);
    dup_ext.external_id = a.external_id.clone();
    let err = s.commit(vec![insert(&dup_ext)]).await.expect_err("duplicate external id");
    assert!(matches!(err, StoreError::Conflict(w) if w.contains("external")), "{err:?}");
}

async fn updates_of_missing_rows_are_not_found(s: Arc<dyn Store>) {
    let a = account("kozlov.k", "Козлов Кирилл", &[Role::Student], None);
    s.commit(vec![insert(&a)]).await.expect("insert");
    let ghost = AccountId::from_stored("00000000-0000-7000-8000-000000000000".into());
    let err = s
        .commit(vec![
            Change::UpdateStatus { id: a.id.clone(), status: AccountStatus::Suspended, at: ts(1) },
            Change::UpdateRoles { id: ghost, roles: Roles::new([Role::Staff]), at: ts(1) },
        ])
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound("account")), "{err:?}");
    let still = s.find_account(&a.id).await.expect("find").expect("present");
    assert_eq!(still.status, AccountStatus::Active, "the status change was rolled back");

    s.commit(vec![
        Change::UpdateStatus { id: a.id.clone(), status: AccountStatus::Locked, at: ts(5) },
        Change::UpdateRoles { id: a.id.clone(), roles: Roles::new([Role::Staff, Role::Teacher]), at: ts(5) },
        Change::SetPassword {
            id: a.id.clone(),
            hash: "new-hash".into(),
            must_change: false,
            expires_at: None,
            at: ts(6),
        },
    ])
    .await
    .expect("updates");
    let secret = s.find_account_secret(&a.login).await.expect("secret").expect("present");
    assert_eq!(secret.account.status, AccountStatus::Locked);
    assert_eq!(secret.account.roles.to_csv(), "teacher,staff");
    assert!(!secret.account.password_must_change);
    assert_eq!(secret.account.password_expires_at, None);
    assert_eq!(secret.account.updated_at, ts(6));
    assert_eq!(secret.password_hash.as_deref(), Some("new-hash"));
}

async fn listing_filters_and_pages(s: Arc<dyn Store>) {
    let people = [
        account("alekseev.a", "Алексеев Артём", &[Role::Student], Some("ИС-21")),
        account("borisova.b", "Борисова Белла", &[Role::Student], Some("ИС-22")),
        account("vasiliev.v", "Васильев Виктор", &[Role::Teacher, Role::Student], None),
        account("grigorieva.g", "Григорьева Галина", &[Role::Staff], None),
        account("under_score", "Подчёркнутый 100%", &[Role::Staff], None),
    ];
    s.commit(people.iter().map(insert).collect()).await.expect("insert");
    s.commit(vec![Change::UpdateStatus { id: people[1].id.clone(), status: AccountStatus::Suspended, at: ts(1) }])
        .await
        .expect("suspend");
    let logins = |v: Vec<Account>| v.into_iter().map(|a| a.login.to_string()).collect::<Vec<_>>();
    let all = AccountFilter { limit: 100, ..AccountFilter::default() };
    let cases: Vec<(AccountFilter, Vec<&str>)> = vec![
        (all.clone(), vec!["alekseev.a", "borisova.b", "grigorieva.g", "under_score", "vasiliev.v"]),
        (AccountFilter { role: Some(Role::Student), ..all.clone() }, vec!["alekseev.a", "borisova.b", "vasiliev.v"]),
        (AccountFilter { status: Some(AccountStatus::Suspended), ..all.clone() }, vec!["borisova.b"]),
        (AccountFilter { study_group: Some("ИС-21".into()), ..all.clone() }, vec!["alekseev.a"]),
        (AccountFilter { text: Some("ГАЛИНА".into()), ..all.clone() }, vec!["grigorieva.g"]),
        (AccountFilter { text: Some("ЕВ".into()), ..all.clone() }, vec!["alekseev.a", "grigorieva.g", "vasiliev.v"]),
        (AccountFilter { text: Some("_".into()), ..all.clone() }, vec!["under_score"]),
        (AccountFilter { text: Some("100%".into()), ..all.clone() }, vec!["under_score"]),
        (AccountFilter { text: Some("%".into()), ..all.clone() }, vec!["under_score"]),
        (AccountFilter { limit: 2, offset: 1, ..all.clone() }, vec!["borisova.b", "grigorieva.g"]),
    ];
    for (filter, want) in cases {
        let got = logins(s.list_accounts(&filter).await.expect("list"));
        assert_eq!(got, want, "{filter:?}");
    }
}

fn session(a: &Account, at: Timestamp) -> (SessionToken, SessionRecord) {
    let token = SessionToken::generate(&mut rand::rngs::OsRng);
    let limits = SessionLimits::default();
    let rec = SessionRecord {
        hash: token.hash(),
        account_id: a.id.clone(),
        times: SessionTimes::start(at, limits.idle_learner, &limits),
        ip: Some("2001:db8::1".into()),
        user_agent: Some("Mozilla/5.0 Firefox/140".into()),
        ended_at: None,
        second_factor_at: None,
    };
    (token, rec)
}

async fn sessions_live_touch_and_end(s: Arc<dyn Store>) {
    let a = account("egorov.e", "Егоров Евгений", &[Role::Student], None);
    let b = account("zhukova.z", "Жукова Жанна", &[Role::Student], None);
    s.commit(vec![insert(&a), insert(&b)]).await.expect("insert");
    let (_, s1) = session(&a, ts(0));
    let (_, s2) = session(&a, ts(10));
    let (_, s3) = session(&a, ts(20));
    let (_, other) = session(&b, ts(0));
    s.commit(vec![
        Change::InsertSession(s1.clone()),
        Change::InsertSession(s2.clone()),
        Change::InsertSession(s3.clone()),
        Change::InsertSession(other.clone()),
    ])
    .await
    .expect("sessions");
    assert_eq!(s.find_session(&s1.hash).await.expect("find"), Some(s1.clone()));

    s.commit(vec![Change::TouchSession { hash: s1.hash.clone(), at: ts(5_000) }]).await.expect("touch");
    // A touch never moves last_seen backwards.
    s.commit(vec![Change::TouchSession { hash: s1.hash.clone(), at: ts(1_000) }]).await.expect("touch");
    let got = s.find_session(&s1.hash).await.expect("find").expect("present");
    assert_eq!(got.times.last_seen_at, ts(5_000));

    let live = s.list_live_sessions(&a.id).await.expect("live");
    assert_eq!(
        live.iter().map(|r| r.hash.clone()).collect::<Vec<_>>(),
        vec![s3.hash.clone(), s2.hash.clone(), s1.hash.clone()]
    );

    // Another person's session cannot be ended in a's name.
    let err = s
        .commit(vec![Change::EndSession {
            hash: other.hash.clone(),
            account: a.id.clone(),
            at: ts(6),
            reason: EndReason::EndedByUser,
        }])
        .await
        .expect_err("foreign");
    assert!(matches!(err, StoreError::NotFound("session")));

    s.commit(vec![Change::EndSession {
        hash: s2.hash.clone(),
        account: a.id.clone(),
        at: ts(7),
        reason: EndReason::SignedOut,
    }])
    .await
    .expect("end");
    let err = s
        .commit(vec![Change::EndSession {
            hash: s2.hash.clone(),
            account: a.id.clone(),
            at: ts(8),
            reason: EndReason::SignedOut,
        }])
        .await
        .expect_err("already ended");
    assert!(matches!(err, StoreError::NotFound("session")));
    assert_eq!(s.find_session(&s2.hash).await.expect("find").expect("kept").ended_at, Some(ts(7)));

    s.commit(vec![Change::EndSessionsOf {
        account: a.id.clone(),
        except: Some(s3.hash.clone()),
        at: ts(9),
        reason: EndReason::EndedByUser,
    }])
    .await
    .expect("end others");
    let live = s.list_live_sessions(&a.id).await.expect("live");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].hash, s3.hash);
    assert_eq!(s.list_live_sessions(&b.id).await.expect("live").len(), 1, "b is untouched");
    s.commit(vec![Change::EndSessionsOf {
        account: a.id.clone(),
        except: None,
        at: ts(10),
        reason: EndReason::AccountDisabled,
    }])
    .await
    .expect("end all");
    assert!(s.list_live_sessions(&a.id).await.expect("live").is_empty());
}

async fn sign_ins_newest_first(s: Arc<dyn Store>) {
    let a = account("zaitsev.z", "Зайцев Захар", &[Role::Student], None);
    s.commit(vec![insert(&a)]).await.expect("insert");
    let rec = |i: i64, outcome: SignInOutcome, who: Option<&Account>| SignInRecord {
        at: ts(i),
        account_id: who.map(|a| a.id.clone()),
        login: Some("zaitsev.z".into()),
        ip: Some(format!("192.0.2.{i}")),
        user_agent: None,
        network: Some("192.0.2.0/24".into()),
        outcome,
    };
    s.commit(vec![
        Change::InsertSignIn(rec(1, SignInOutcome::Success, Some(&a))),
        Change::InsertSignIn(rec(2, SignInOutcome::BadPassword, Some(&a))),
        Change::InsertSignIn(rec(3, SignInOutcome::UnknownLogin, None)),
        Change::InsertSignIn(rec(4, SignInOutcome::Success, Some(&a))),
    ])
    .await
    .expect("sign-ins");
    let got = s.list_sign_ins(&a.id, 10).await.expect("list");
    assert_eq!(
        got,
        vec![
            rec(4, SignInOutcome::Success, Some(&a)),
            rec(2, SignInOutcome::BadPassword, Some(&a)),
            rec(1, SignInOutcome::Success, Some(&a)),
        ]
    );
    assert_eq!(s.list_sign_ins(&a.id, 1).await.expect("list").len(), 1);
}

async fn journal_marks_receipt_once(s: Arc<dyn Store>) {
    let a = account("nikolaev.n", "Николаев Никита", &[Role::Student], None);
    let b = account("osipova.o", "Осипова Ольга", &[Role::Teacher], None);
    let issue = |who: &Account, kind: IssueKind, at: i64| CredentialIssue {
        subject: who.id.clone(),
        subject_login: who.login.clone(),
        issued_by: "os:admin".into(),
        issued_at: ts(at),
        kind,
        channel: Channel::Slip,
        expires_at: ts(at + 1_000),
    };
    s.commit(vec![
        insert(&a),
        insert(&b),
        Change::InsertCredentialIssue(issue(&a, IssueKind::Initial, 0)),
        Change::InsertCredentialIssue(issue(&b, IssueKind::Initial, 1)),
    ])
    .await
    .expect("issue");
    s.commit(vec![Change::MarkCredentialsReceived { subject: a.id.clone(), at: ts(50) }]).await.expect("mark");
    s.commit(vec![Change::InsertCredentialIssue(issue(&a, IssueKind::Reset, 100))]).await.expect("reset");
    s.commit(vec![Change::MarkCredentialsReceived { subject: a.id.clone(), at: ts(150) }]).await.expect("mark");

    let of_a = s.list_journal(Some(&a.id), 10).await.expect("journal");
    assert_eq!(of_a.len(), 2);
    assert_eq!(of_a[0].issue, issue(&a, IssueKind::Reset, 100));
    assert_eq!(of_a[0].received_at, Some(ts(150)));
    assert_eq!(of_a[1].received_at, Some(ts(50)), "an earlier mark is never moved");
    assert!(of_a[0].seq > of_a[1].seq);
    let all = s.list_journal(None, 10).await.expect("journal");
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].issue.subject, b.id);
    assert_eq!(all[1].received_at, None);
}

async fn concurrent_commits_all_land(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            let a = account(&format!("user{i:02}"), "Параллельный Пользователь", &[Role::Student], Some("П-1"));
            store.commit(vec![insert(&a), audit("account.create")]).await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("commit");
    }
    let filter = AccountFilter { study_group: Some("П-1".into()), limit: 100, ..AccountFilter::default() };
    assert_eq!(s.list_accounts(&filter).await.expect("list").len(), 24);
}

/// Sends `parts` (and `End` when `end`) to `commit_parts` while it runs.
async fn commit_in_parts(s: &Arc<dyn Store>, parts: Vec<Vec<Change>>, end: bool) -> Result<(), StoreError> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let send = async move {
        for p in parts {
            if tx.send(Part::Changes(p)).await.is_err() {
                return;
            }
        }
        if end {
            let _ = tx.send(Part::End).await;
        }
    };
    let (outcome, ()) = tokio::join!(s.commit_parts(rx), send);
    outcome
}

async fn a_change_in_parts_is_one_transaction(s: Arc<dyn Store>) {
    let people: Vec<Account> =
        (0..6).map(|i| account(&format!("part{i}"), "Частичный Импорт", &[Role::Student], Some("Ч-1"))).collect();
    let in_group = |s: Arc<dyn Store>| async move {
        let filter = AccountFilter { study_group: Some("Ч-1".into()), limit: 100, ..AccountFilter::default() };
        s.list_accounts(&filter).await.expect("list").len()
    };
    // A part that fails (the third repeats the first's login) takes the earlier ones with it.
    let mut dup = people[0].clone();
    dup.id = AccountId::generate(T0, &mut rand::rngs::OsRng);
    dup.external_id = None;
    let parts = vec![vec![insert(&people[0]), insert(&people[1])], vec![insert(&people[2])], vec![insert(&dup)]];
    let err = commit_in_parts(&s, parts, true).await.expect_err("duplicate login");
    assert!(matches!(err, StoreError::Conflict(w) if w.contains("login")), "{err:?}");
    assert_eq!(in_group(s.clone()).await, 0, "nothing of a failed change in parts is kept");
    // Parts whose sender stops before the end are abandoned.
    let parts = vec![vec![insert(&people[0])], vec![insert(&people[1])]];
    let err = commit_in_parts(&s, parts, false).await.expect_err("no end");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(in_group(s.clone()).await, 0, "an abandoned change in parts is not kept");
    // Other writes wait for it and then land; all parts land together.
    let parts = vec![
        vec![insert(&people[0]), insert(&people[1]), audit("account.create")],
        vec![insert(&people[2]), audit("account.create")],
        vec![insert(&people[3]), insert(&people[4]), audit("roster.import")],
    ];
    let other = s.commit(vec![insert(&people[5])]);
    let (in_parts, other) = tokio::join!(commit_in_parts(&s, parts, true), other);
    in_parts.expect("in parts");
    other.expect("alongside");
    assert_eq!(in_group(s.clone()).await, 6);
    let audits = s.list_audit("", 10).await.expect("audit");
    let actions: Vec<&str> = audits.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["roster.import", "account.create", "account.create"], "the parts' order, newest first");
}

/// A scheduler's chunk of block steps: statuses and ended sessions of several people in
/// a row, written a kind at a time, with the outcome of writing them one by one.
async fn runs_of_blocks_end_what_each_would_alone(s: Arc<dyn Store>) {
    let people: Vec<Account> =
        (0..3).map(|i| account(&format!("block{i}"), "Блокируемый Студент", &[Role::Student], None)).collect();
    let mut changes: Vec<Change> = people.iter().map(insert).collect();
    let sessions: Vec<SessionRecord> = people.iter().map(|a| session(a, ts(0)).1).collect();
    changes.extend(sessions.iter().cloned().map(Change::InsertSession));
    s.commit(changes).await.expect("people");
    let block = |a: &Account| Change::UpdateStatus { id: a.id.clone(), status: AccountStatus::Blocked, at: ts(10) };
    let end = |a: &Account| Change::EndSessionsOf {
        account: a.id.clone(),
        except: None,
        at: ts(10),
        reason: EndReason::AccountDisabled,
    };
    // One account of the run is gone: nothing of the run is kept.
    let gone = account("gone", "Несуществующий", &[Role::Student], None);
    let err = s
        .commit(vec![block(&people[0]), block(&gone), end(&people[0]), end(&gone)])
        .await
        .expect_err("an account that is not there");
    assert!(matches!(err, StoreError::NotFound("account")), "{err:?}");
    let first = s.find_account(&people[0].id).await.expect("find").expect("there");
    assert_eq!(first.status, AccountStatus::Active, "the run was rolled back");
    assert_eq!(s.list_live_sessions(&people[0].id).await.expect("live").len(), 1);
    // Two of three blocked together; the third keeps its status and session.
    s.commit(vec![block(&people[0]), block(&people[1]), end(&people[0]), end(&people[1])]).await.expect("blocks");
    for (a, blocked) in people.iter().zip([true, true, false]) {
        let found = s.find_account(&a.id).await.expect("find").expect("there");
        let expected = if blocked { AccountStatus::Blocked } else { AccountStatus::Active };
        assert_eq!(found.status, expected, "{}", a.login);
        let live = s.list_live_sessions(&a.id).await.expect("live").len();
        assert_eq!(live, usize::from(!blocked), "{}", a.login);
    }
}

async fn protection_records(s: Arc<dyn Store>) {
    use propusk::domain::lockout::LockRecord;
    use propusk::ports::{ProtectionChange, SecurityEvent};
    let a = account("locked.l", "Замков Леонид", &[Role::Student], None);
    s.commit(vec![insert(&a)]).await.expect("insert");
    assert_eq!(s.find_lock(&a.id, "").await.expect("lock"), LockRecord::default());
    let lock =
        LockRecord { locked_until: Some(ts(1_800_000)), lock_count: 2, permanent: false, counting_from: Some(ts(5)) };
    let put = |r: LockRecord| {
        Change::Protection(ProtectionChange::PutLock { account: a.id.clone(), scope_key: String::new(), record: r })
    };
    s.commit(vec![put(LockRecord::default()), put(lock)]).await.expect("upsert twice");
    assert_eq!(s.find_lock(&a.id, "").await.expect("lock"), lock);
    assert_eq!(s.find_lock(&a.id, "198.51.100.0/24").await.expect("lock"), LockRecord::default(), "per scope key");
    s.commit(vec![Change::Protection(ProtectionChange::ClearLocks { account: a.id.clone(), at: ts(9) })])
        .await
        .expect("clear");
    let cleared = s.find_lock(&a.id, "").await.expect("lock");
    assert_eq!((cleared.locked_until, cleared.lock_count, cleared.counting_from), (None, 0, Some(ts(9))));

    let attempt = |at: i64, login: &str, who: Option<&Account>, net: &str, outcome: SignInOutcome| {
        Change::InsertSignIn(SignInRecord {
            at: ts(at),
            account_id: who.map(|a| a.id.clone()),
            login: Some(login.into()),
            ip: None,
            user_agent: None,
            network: Some(net.into()),
            outcome,
        })
    };
    s.commit(vec![
        attempt(10, "locked.l", Some(&a), "net-a", SignInOutcome::BadPassword),
        attempt(20, "locked.l", Some(&a), "net-b", SignInOutcome::BadPassword),
        attempt(30, "locked.l", Some(&a), "net-a", SignInOutcome::Success),
        attempt(40, "locked.l", Some(&a), "net-a", SignInOutcome::BadPassword),
        attempt(50, "ghost1", None, "net-a", SignInOutcome::UnknownLogin),
        attempt(60, "ghost2", None, "net-a", SignInOutcome::UnknownLogin),
        attempt(70, "ghost2", None, "net-a", SignInOutcome::UnknownLogin),
    ])
    .await
    .expect("attempts");
    assert_eq!(s.count_failures(&a.id, None, ts(0)).await.expect("count"), 3);
    assert_eq!(s.count_failures(&a.id, Some("net-a"), ts(0)).await.expect("count"), 2);
    assert_eq!(s.count_failures(&a.id, None, ts(31)).await.expect("count"), 1);
    assert_eq!(s.last_success(&a.id).await.expect("last"), Some(ts(30)));
    assert_eq!(s.count_distinct_failed_logins("net-a", ts(0)).await.expect("distinct"), 3);
    assert_eq!(s.count_distinct_failed_logins("net-b", ts(0)).await.expect("distinct"), 1);

    let block = |until: i64| {
        Change::Protection(ProtectionChange::BlockNetwork {
            network: "net-a".into(),
            until: ts(until),
            reason: "spraying".into(),
            at: ts(0),
        })
    };
    s.commit(vec![block(100), block(200)]).await.expect("block");
    assert_eq!(s.find_network_block("net-a", ts(150)).await.expect("block"), Some(ts(200)));
    assert_eq!(s.find_network_block("net-a", ts(200)).await.expect("block"), None, "expired");
    assert_eq!(s.find_network_block("net-b", ts(0)).await.expect("block"), None);

    s.commit(vec![Change::Protection(ProtectionChange::SetLockCode { account: a.id.clone(), hash: "h1".into() })])
        .await
        .expect("code");
    assert_eq!(s.find_lock_code_hash(&a.id).await.expect("code").as_deref(), Some("h1"));
    let ghost = AccountId::from_stored("00000000-0000-7000-8000-000000000000".into());
    let err = s
        .commit(vec![Change::Protection(ProtectionChange::SetLockCode { account: ghost, hash: "h".into() })])
        .await
        .expect_err("missing account");
    assert!(matches!(err, StoreError::NotFound("account")));

    let event = |kind: &'static str| {
        Change::Protection(ProtectionChange::InsertSecurityEvent(SecurityEvent {
            seq: 0,
            at: ts(1),
            kind,
            account_id: Some(a.id.clone()),
            network: Some("net-a".into()),
            detail: "d".into(),
        }))
    };
    s.commit(vec![event("lock"), event("compromise")]).await.expect("events");
    let events = s.list_security_events(10).await.expect("events");
    assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), ["compromise", "lock"]);
}

async fn restrictions_put_replace_and_lift(s: Arc<dyn Store>) {
    use propusk::policy::{ResourceId, Restriction};
    use propusk::ports::AccessChange;
    let a = account("restricted.r", "Ограничен Роман", &[Role::Student], None);
    let b = account("other.o", "Другой Олег", &[Role::Student], None);
    s.commit(vec![insert(&a), insert(&b)]).await.expect("insert");
    assert!(s.list_restrictions(&a.id).await.expect("list").is_empty());
    let r = |resource: &str, until: Option<Timestamp>, reason: &str| Restriction {
        resource: ResourceId::parse(resource).expect("id"),
        reason: reason.into(),
        until,
        set_by: "admin".into(),
    };
    let put = |who: &Account, x: Restriction| {
        Change::Access(AccessChange::PutRestriction { account: who.id.clone(), restriction: x, at: ts(1) })
    };
    s.commit(vec![put(&a, r("moodle", None, "долг")), put(&a, r("mail", Some(ts(86_400_000)), "спам"))])
        .await
        .expect("put");
    s.commit(vec![put(&a, r("moodle", Some(ts(5)), "долг, до 5"))]).await.expect("replace");
    let got = s.list_restrictions(&a.id).await.expect("list");
    assert_eq!(got, vec![r("mail", Some(ts(86_400_000)), "спам"), r("moodle", Some(ts(5)), "долг, до 5")]);
    assert!(s.list_restrictions(&b.id).await.expect("list").is_empty(), "per account");
    let lift = |resource: &str| {
        Change::Access(AccessChange::DeleteRestriction {
            account: a.id.clone(),
            resource: ResourceId::parse(resource).expect("id"),
        })
    };
    s.commit(vec![lift("mail")]).await.expect("lift");
    let err = s.commit(vec![lift("moodle"), lift("mail")]).await.expect_err("lifting a missing one");
    assert!(matches!(err, StoreError::NotFound("restriction")), "{err:?}");
    assert_eq!(s.list_restrictions(&a.id).await.expect("list").len(), 1, "the failed batch changed nothing");
}

async fn audit_reads_back_by_action_prefix(s: Arc<dyn Store>) {
    s.commit(vec![audit("policy.load"), audit("account.create"), audit("policy.reload"), audit("policyx")])
        .await
        .expect("audit");
    let got = s.list_audit("policy.", 10).await.expect("list");
    let actions: Vec<&str> = got.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["policy.reload", "policy.load"], "newest first, prefix only");
    assert_eq!(s.list_audit("", 2).await.expect("list").len(), 2, "limit");
}
