//! Store conformance for the second factor's rows (D-5): an enrolled secret and its last
//! accepted step (a code once), recovery codes used once, pending sign-ins advanced and
//! used once, the reset, and a session's second-factor time, on SQLite and PostgreSQL.

#[macro_use]
#[path = "common/store_db.rs"]
mod store_db;

use std::sync::Arc;
use std::time::Duration;

use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login, SessionToken};
use propusk::domain::session::{SessionLimits, SessionTimes};
use propusk::domain::time::Timestamp;
use propusk::ports::second_factor::{PendingSignIn, PendingStage};
use propusk::ports::{Change, SecondFactorChange as F, SessionRecord, Store, StoreError};

const T0: i64 = 1_800_000_000_000;

conformance!(a_code_and_a_recovery_code_work_once, pending_sign_ins_advance_and_are_used_once);

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

async fn admin(s: &Arc<dyn Store>, login: &str) -> Account {
    let a = Account {
        id: AccountId::generate(T0, &mut rand::rngs::OsRng),
        login: Login::parse(login).expect("login"),
        full_name: "Админова Анна".into(),
        email: None,
        roles: Roles::new([Role::EiosAdmin]),
        study_group: None,
        department: None,
        external_id: None,
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: ts(0),
        updated_at: ts(0),
    };
    s.commit(vec![Change::InsertAccount { account: a.clone(), password_hash: "x".into() }]).await.expect("insert");
    a
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

async fn a_code_and_a_recovery_code_work_once(s: Arc<dyn Store>) {
    let a = admin(&s, "adminova.a").await;
    let id = a.id.clone();
    assert_eq!(s.find_second_factor(&id).await.expect("find"), None);
    let sf = |c: F| vec![Change::SecondFactor(c)];
    s.commit(sf(F::Enrol { account: id.clone(), sealed_secret: "sealed-1".into(), at: ts(1), step: 100 }))
        .await
        .expect("enrol");
    let f = s.find_second_factor(&id).await.expect("find").expect("enrolled");
    assert_eq!((f.sealed_secret.as_str(), f.enrolled_at, f.last_step), ("sealed-1", ts(1), Some(100)));
    assert!(is_not_found(s.commit(sf(F::AcceptStep { account: id.clone(), step: 100 })).await), "replay");
    assert!(is_not_found(s.commit(sf(F::AcceptStep { account: id.clone(), step: 99 })).await), "earlier");
    s.commit(sf(F::AcceptStep { account: id.clone(), step: 101 })).await.expect("next step");
    // Re-enrolment replaces the secret.
    s.commit(sf(F::Enrol { account: id.clone(), sealed_secret: "sealed-2".into(), at: ts(2), step: 5 }))
        .await
        .expect("re-enrol");
    let f = s.find_second_factor(&id).await.expect("find").expect("enrolled");
    assert_eq!((f.sealed_secret.as_str(), f.last_step), ("sealed-2", Some(5)));

    let hashes: Vec<String> = (0..10).map(|i| format!("{i:064}")).collect();
    s.commit(sf(F::ReplaceRecoveryCodes { account: id.clone(), hashes: hashes.clone(), at: ts(3) }))
        .await
        .expect("codes");
    let use_code = |h: &str| sf(F::UseRecoveryCode { account: id.clone(), code_hash: h.to_owned(), at: ts(4) });
    s.commit(use_code(&hashes[0])).await.expect("use");
    assert!(is_not_found(s.commit(use_code(&hashes[0])).await), "used once");
    assert!(is_not_found(s.commit(use_code("unknown")).await));
    let codes = s.list_recovery_codes(&id).await.expect("list");
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().filter(|c| c.used_at == Some(ts(4))).count(), 1);
    // New codes replace every old one.
    s.commit(sf(F::ReplaceRecoveryCodes { account: id.clone(), hashes: vec!["n".repeat(64)], at: ts(5) }))
        .await
        .expect("replace");
    assert_eq!(s.list_recovery_codes(&id).await.expect("list").len(), 1);
    s.commit(sf(F::Remove { account: id.clone() })).await.expect("reset");
    assert_eq!(s.find_second_factor(&id).await.expect("find"), None);
    assert!(s.list_recovery_codes(&id).await.expect("list").is_empty());

    // A session keeps the moment it passed the second factor.
    let token = SessionToken::generate(&mut rand::rngs::OsRng);
    let limits = SessionLimits::default();
    let session = SessionRecord {
        hash: token.hash(),
        account_id: id.clone(),
        times: SessionTimes::start(ts(6), Duration::from_secs(900), &limits),
        ip: None,
        user_agent: None,
        ended_at: None,
        second_factor_at: Some(ts(6)),
    };
    s.commit(vec![Change::InsertSession(session)]).await.expect("session");
    let found = s.find_session(&token.hash()).await.expect("find").expect("session");
    assert_eq!(found.second_factor_at, Some(ts(6)));
    let access = s.find_session_access(&token.hash()).await.expect("access").expect("session");
    assert_eq!(access.session.second_factor_at, Some(ts(6)));
}

async fn pending_sign_ins_advance_and_are_used_once(s: Arc<dyn Store>) {
    let a = admin(&s, "adminova.b").await;
    let pending = |hash: &str, expires: i64| PendingSignIn {
        token_hash: hash.into(),
        account_id: a.id.clone(),
        stage: PendingStage::Enrol,
        sealed_secret: Some("sealed".into()),
        next: "/account".into(),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("тест".into()),
        created_at: ts(0),
        expires_at: ts(expires),
        used_at: None,
    };
    let p = pending("h1", 300_000);
    s.commit(vec![Change::SecondFactor(F::InsertPending(p.clone()))]).await.expect("insert");
    assert_eq!(s.find_pending_sign_in("h1").await.expect("find"), Some(p.clone()));
    assert_eq!(s.find_pending_sign_in("other").await.expect("find"), None);
    let advance = |from, to| vec![Change::SecondFactor(F::AdvancePending { token_hash: "h1".into(), from, to })];
    s.commit(advance(PendingStage::Enrol, PendingStage::Saved)).await.expect("advance");
    assert!(is_not_found(s.commit(advance(PendingStage::Enrol, PendingStage::Saved)).await), "stage checked");
    let use_it = || vec![Change::SecondFactor(F::UsePending { token_hash: "h1".into(), at: ts(10) })];
    s.commit(use_it()).await.expect("use");
    assert!(is_not_found(s.commit(use_it()).await), "used once");
    let used = s.find_pending_sign_in("h1").await.expect("find").expect("kept");
    assert_eq!((used.stage, used.used_at, used.sealed_secret), (PendingStage::Saved, Some(ts(10)), None));
    // Housekeeping and a lock forget them.
    s.commit(vec![Change::SecondFactor(F::InsertPending(pending("h2", 1)))]).await.expect("insert");
    s.commit(vec![Change::SecondFactor(F::InsertPending(pending("h3", 900_000)))]).await.expect("insert");
    s.commit(vec![Change::SecondFactor(F::DeleteExpiredPending { before: ts(2) })]).await.expect("expire");
    assert_eq!(s.find_pending_sign_in("h2").await.expect("find"), None);
    assert!(s.find_pending_sign_in("h3").await.expect("find").is_some());
    s.commit(vec![Change::SecondFactor(F::DeletePendingOf { account: a.id.clone() })]).await.expect("forget");
    assert_eq!(s.find_pending_sign_in("h3").await.expect("find"), None);
}
