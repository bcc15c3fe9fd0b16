//! Deprovisioning end to end through the use cases, on SQLite and PostgreSQL, with a clock
//! the test moves: a register import, a student signed in with a session, OpenID Connect
//! tokens and forward-auth access; then a graduation order. At the block deadline all
//! of it stops working, the services' APIs (a signed webhook, SCIM) are called, manual
//! tasks wait for an administrator; within three days the person's data are erased.

#[path = "common/lifecycle_kit.rs"]
mod kit;
#[path = "common/store_db.rs"]
#[macro_use]
mod store_db;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use chrono::NaiveDate;
use kit::{Services, TestClock};
use propusk::app::oidc::{AuthOutcome, AuthRequest, ClientSpec, CodeExchange};
use propusk::app::{Actor, App, AppError, ForwardAuth, ImportOptions, SignInRequest};
use propusk::domain::account::{AccountStatus, Role, Roles};
use propusk::domain::lifecycle::RowAction;
use propusk::domain::oidc::{ClientKind, SigningAlg};
use propusk::domain::password::Password;
use propusk::domain::roster::{Order, RosterRow, RosterStatus, RowError};
use propusk::ports::Store;
use propusk::ports::lifecycle::CaseFilter;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn row(line: usize, id: &str, name: &str, role: Role, unit: &str, status: RosterStatus, eff: &str) -> RosterRow {
    RosterRow {
        line,
        external_id: id.into(),
        full_name: name.into(),
        role,
        unit: Some(unit.into()),
        email: Some(format!("{}@college.example", id.to_lowercase())),
        status,
        effective: date(eff),
        // The order is signed a few days before it takes effect.
        order: Some(Order { number: format!("{line}-к"), date: date(eff) - chrono::Days::new(3) }),
    }
}

fn register() -> Vec<Result<RosterRow, RowError>> {
    vec![
        Ok(row(2, "s1001", "Иванов Иван Петрович", Role::Student, "ИС-21", RosterStatus::Studying, "2026-09-01")),
        Ok(row(
            3,
            "t0007",
            "Петрова Анна Сергеевна",
            Role::Teacher,
            "Кафедра ИТ",
            RosterStatus::Employed,
            "2020-09-01",
        )),
        Ok(row(4, "s0999", "Сидоров Олег Ильич", Role::Student, "ИС-11", RosterStatus::Graduated, "2026-06-30")),
    ]
}

fn opts() -> ImportOptions {
    ImportOptions { source: "register.csv".into(), ..ImportOptions::default() }
}

fn admin() -> Actor {
    Actor { name: "os:registrar".into(), ip: None }
}

/// Signs the student in, changes the issued password, and gets tokens for the portal.
async fn student_access(app: &App, login: &str, issued: &Password) -> (propusk::domain::SessionToken, String, String) {
    let req = |p: &str| SignInRequest {
        login: login.into(),
        password: Password::new(p),
        ip: Some("10.1.2.3".into()),
        user_agent: Some("test".into()),
    };
    let first = app.sign_in(req(issued.expose())).await.expect("sign in with the slip");
    let current = app.current_session(first.token.clone()).await.expect("session").expect("live");
    let new = "Зелёный-кактус-2027";
    app.change_password(&current, issued.clone(), Password::new(new), Password::new(new), None)
        .await
        .expect("change the issued password");
    let signed = app.sign_in(req(new)).await.expect("sign in");
    let secret = app
        .add_client(
            &admin(),
            ClientSpec {
                id: "portal".into(),
                name: "Портал".into(),
                kind: ClientKind::Confidential,
                redirect_uris: vec!["https://portal.college.example/cb".into()],
                post_logout_redirect_uris: vec![],
                scopes: "openid profile offline_access".into(),
                allowed_roles: Roles::new([Role::Student, Role::Teacher]),
                id_token_alg: SigningAlg::RS256,
                access_token_ttl: Duration::from_secs(3600),
                refresh_token_ttl: Duration::from_secs(30 * 86_400),
                backchannel_logout_uri: None,
            },
        )
        .await
        .expect("client");
    let _ = secret;
    let session = app.current_session(signed.token.clone()).await.expect("session").expect("live");
    let request = AuthRequest {
        client_id: Some("portal".into()),
        redirect_uri: Some("https://portal.college.example/cb".into()),
        response_type: Some("code".into()),
        scope: Some("openid offline_access".into()),
        ..AuthRequest::default()
    };
    let AuthOutcome::Code { code, .. } = app.authorize(request, Some(&session)).await.expect("authorize") else {
        panic!("a code");
    };
    let client = app.client("portal").await.expect("client");
    let exchange = CodeExchange {
        code: Some(code),
        redirect_uri: Some("https://portal.college.example/cb".into()),
        code_verifier: None,
    };
    let tokens = app.exchange_code(&client, exchange).await.expect("tokens");
    (signed.token, tokens.access_token, tokens.refresh_token.expect("a refresh token"))
}

async fn graduation_ends_access_at_the_deadline_and_erases_within_three_days(store: Arc<dyn Store>) {
    let services = Services::start().await;
    let policies = kit::policies(&services, true);
    let clock = Arc::new(TestClock(AtomicI64::new(0)));
    clock.set("2027-06-28T09:00:00+03:00");
    let app = kit::app(store.clone(), clock.clone(), policies.path(), "node-a").await;

    // The register: two people get accounts, a past graduate is only recorded.
    let report = app.import_roster(&admin(), register(), &opts()).await.expect("import");
    assert!(report.applied && report.errors.is_empty(), "{:?}", report.errors);
    let actions: Vec<&str> = report
        .changes
        .iter()
        .map(|c| match c.action {
            RowAction::Create { .. } => "create",
            RowAction::RecordOnly => "record",
            _ => "other",
        })
        .collect();
    assert_eq!(actions, vec!["create", "create", "record"]);
    assert_eq!(report.issued.len(), 2);
    let student = report.issued.iter().find(|i| i.account.external_id.as_deref() == Some("s1001")).expect("student");
    assert_eq!(student.account.study_group.as_deref(), Some("ИС-21"));
    assert!(student.account.password_must_change);
    let journal = app.list_journal(Some(student.account.login.as_str()), 10).await.expect("journal");
    assert_eq!(journal.len(), 1, "the issue is journaled (R-5)");
    // The same file again changes nothing.
    let again = app.import_roster(&admin(), register(), &opts()).await.expect("again");
    assert_eq!((again.changes.len(), again.unchanged, again.issued.len()), (0, 3, 0));

    let login = student.account.login.as_str().to_owned();

    // The graduation order: a case opens; the student still works until the date.
    let mut file = register();
    file[0] =
        Ok(row(2, "s1001", "Иванов Иван Петрович", Role::Student, "ИС-21", RosterStatus::Graduated, "2027-06-30"));
    let dry = app.import_roster(&admin(), file.clone(), &ImportOptions { dry_run: true, ..opts() }).await.expect("dry");
    assert!(!dry.applied && matches!(dry.changes[0].action, RowAction::Depart { .. }));
    assert!(app.store.list_cases(propusk::ports::lifecycle::CaseFilter::Open).await.expect("cases").is_empty());
    let report = app.import_roster(&admin(), file.clone(), &opts()).await.expect("graduation");
    assert_eq!(report.changes.len(), 1);
    let tasks = app.manual_tasks().await.expect("tasks");
    assert!(tasks.iter().any(|t| t.resource.as_deref() == Some("sferum")), "D-8: {tasks:?}");
    clock.set("2027-06-29T23:30:00+03:00");
    let (session, access, refresh) = student_access(&app, &login, &student.password).await;
    let account = app.store.find_account(&student.account.id).await.expect("find").expect("account");
    let fa = app.forward_auth(Some(&account), "timetable.college.example", "/group/ИС-21").await.expect("fa");
    assert!(matches!(fa, ForwardAuth::Allowed { .. }), "{fa:?}");
    clock.set("2027-06-29T23:59:00+03:00");
    let run = app.run_lifecycle().await.expect("run");
    assert_eq!(run.steps_done, 0, "nothing before the effective date");
    assert!(app.current_session(session.clone()).await.expect("session").is_some());

    // The effective date starts: blocked, sessions and tokens gone, services told.
    clock.set("2027-06-30T00:01:00+03:00");
    let live = app.store.list_live_sessions(&student.account.id).await.expect("sessions").len();
    assert!(live > 0);
    let run = app.run_lifecycle().await.expect("run");
    assert_eq!((run.steps_done, run.steps_failed), (3, 0), "block, moodle, mail: {run:?}");
    assert!(app.current_session(session.clone()).await.expect("session").is_none());
    assert!(app.userinfo(&access).await.expect("userinfo").is_none());
    let client = app.client("portal").await.expect("client");
    assert!(app.refresh(&client, Some(refresh), None).await.is_err(), "refresh token revoked");
    let account = app.store.find_account(&student.account.id).await.expect("find").expect("account");
    assert_eq!(account.status, AccountStatus::Blocked);
    let cases = app.store.list_cases(CaseFilter::All).await.expect("cases");
    let block = cases.iter().flat_map(|c| &c.steps).find(|s| s.name == "block").expect("block step");
    assert_eq!(
        block.evidence.as_deref(),
        Some(format!("status blocked (was active), {live} session(s) ended, tokens revoked").as_str()),
        "the evidence counts the session ended"
    );
    let fa = app.forward_auth(Some(&account), "timetable.college.example", "/group/ИС-21").await.expect("fa");
    assert!(!matches!(fa, ForwardAuth::Allowed { .. }), "{fa:?}");
    let hits = services.hits();
    let hook = hits.iter().find(|h| h.path == "/hook").expect("the webhook was called");
    assert_eq!(hook.header("x-propusk-signature"), kit::signature(&hook.body));
    let event: serde_json::Value = serde_json::from_str(&hook.body).expect("json");
    assert_eq!(
        (event["event"].as_str(), event["login"].as_str()),
        (Some("account.deprovisioned"), Some(login.as_str()))
    );
    let patch = hits.iter().find(|h| h.method == "PATCH").expect("SCIM PATCH");
    assert_eq!(patch.path, format!("/scim/Users/u-{login}"));
    assert!(patch.body.contains("\"active\"") && patch.body.contains("false"));
    assert_eq!(patch.header("authorization"), format!("Bearer {}", kit::SCIM_TOKEN));

    // Manual tasks: an administrator marks them done, with a note.
    let err = app.complete_task(&admin(), &tasks[0].case_id, &tasks[0].step, " ").await;
    assert!(matches!(err, Err(AppError::Invalid(_))), "a note is required");
    let err = app.complete_task(&admin(), &tasks[0].case_id, "block", "done").await;
    assert!(matches!(err, Err(AppError::Invalid(_))), "only manual tasks");
    for t in &tasks {
        app.complete_task(&admin(), &t.case_id, &t.step, "отключён вручную").await.expect("done");
    }
    let err = app.complete_task(&admin(), &tasks[0].case_id, &tasks[0].step, "again").await;
    assert!(matches!(err, Err(AppError::Invalid(_))), "done once");

    // Erasure 48 h after the start, within the regulation's 3 days.
    clock.set("2027-07-01T23:00:00+03:00");
    assert_eq!(app.run_lifecycle().await.expect("run").steps_done, 0, "not before erase_at");
    clock.set("2027-07-02T00:01:00+03:00");
    let run = app.run_lifecycle().await.expect("run");
    assert_eq!((run.steps_done, run.cases_closed), (3, 1), "forget ×2, erase: {run:?}");
    let hits = services.hits();
    assert!(hits.iter().any(|h| h.method == "DELETE" && h.path == format!("/scim/Users/u-{login}")));
    assert!(hits.iter().any(|h| h.path == "/hook" && h.body.contains("account.forget")));
    let erased = app.store.find_account(&student.account.id).await.expect("find").expect("row");
    assert!(erased.login.as_str().starts_with("erased-"));
    assert_eq!((erased.full_name.as_str(), erased.email.as_deref(), erased.external_id.as_deref()), ("", None, None));
    for e in app.store.list_audit("", 1000).await.expect("audit") {
        let text = format!("{:?} {}", e.subject, e.detail);
        assert!(!text.contains(&login) && !text.contains("Иванов") && !text.contains("s1001"), "{text}");
    }
    let erasures = app.store.list_erasures().await.expect("erasures");
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0].pseudonym, erased.login.as_str());
    // The erasure rewrote audit and journal entries; both chains still check.
    let chains = app.verify_journals().await.expect("verify");
    assert!(chains.iter().all(|c| c.intact && c.entries_checked > 0), "{chains:?}");
    // The register still lists the graduate: the person is not registered again.
    let again = app.import_roster(&admin(), file, &opts()).await.expect("re-import");
    assert!(again.issued.is_empty() && again.changes.is_empty(), "{:?}", again.changes);
    let report = app.compliance_report().await.expect("report");
    assert_eq!((report.violations, report.open_cases), (0, 0));
    assert!(app.reconcile().await.expect("reconcile").is_clean());
}

async fn a_failing_service_is_retried_raises_an_alert_and_is_reported(store: Arc<dyn Store>) {
    let services = Services::start().await;
    let policies = kit::policies(&services, false);
    let clock = Arc::new(TestClock(AtomicI64::new(0)));
    clock.set("2027-03-01T10:00:00+03:00");
    let app = kit::app(store.clone(), clock.clone(), policies.path(), "node-a").await;
    let file =
        vec![Ok(row(2, "s7", "Кузнецов Пётр Олегович", Role::Student, "ИС-31", RosterStatus::Studying, "2026-09-01"))];
    app.import_roster(&admin(), file, &opts()).await.expect("import");
    let expelled =
        vec![Ok(row(2, "s7", "Кузнецов Пётр Олегович", Role::Student, "ИС-31", RosterStatus::Expelled, "2027-03-01"))];
    app.import_roster(&admin(), expelled, &opts()).await.expect("expulsion");
    services.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let run = app.run_lifecycle().await.expect("run");
    assert_eq!((run.steps_done, run.steps_failed), (1, 2), "blocked; moodle and mail failed: {run:?}");
    for _ in 0..5 {
        clock.advance(Duration::from_secs(3600));
        app.run_lifecycle().await.expect("retry");
    }
    let events = app.store.list_security_events(50).await.expect("events");
    assert_eq!(events.iter().filter(|e| e.kind == "deprovisioning_step_failing").count(), 2, "{events:?}");
    // Past the block deadline (24 h) with a step open: a violation.
    clock.set("2027-03-02T01:00:00+03:00");
    let report = app.compliance_report().await.expect("report");
    assert_eq!(report.violations, 2, "{:?}", report.cases[0].violations);
    services.down.store(false, std::sync::atomic::Ordering::SeqCst);
    clock.advance(Duration::from_secs(3600));
    let run = app.run_lifecycle().await.expect("run");
    assert_eq!((run.steps_done, run.cases_closed), (2, 1), "expelled: no erasure by default: {run:?}");
    let report = app.compliance_report().await.expect("report");
    assert!(report.cases[0].violations.iter().all(|v| v.contains("after its deadline")), "{report:?}");
    // Reinstatement after the block: the account is usable again.
    let back =
        vec![Ok(row(2, "s7", "Кузнецов Пётр Олегович", Role::Student, "ИС-31", RosterStatus::Studying, "2027-03-10"))];
    clock.set("2027-03-10T09:00:00+03:00");
    let r = app.import_roster(&admin(), back, &opts()).await.expect("reinstate");
    assert!(matches!(r.changes[0].action, RowAction::Reinstate { activate: true, .. }), "{:?}", r.changes);
    let login = r.changes[0].login.clone().expect("login");
    assert_eq!(app.user_details(&login).await.expect("details").account.status, AccountStatus::Active);
}

async fn impossible_dates_are_row_errors_and_strict_applies_nothing(store: Arc<dyn Store>) {
    let services = Services::start().await;
    let policies = kit::policies(&services, false);
    let clock = Arc::new(TestClock(AtomicI64::new(0)));
    clock.set("2027-03-01T10:00:00+03:00");
    let app = kit::app(store.clone(), clock.clone(), policies.path(), "node-a").await;
    let mut future_order =
        row(5, "s5", "Орлова Ия Юрьевна", Role::Student, "ИС-1", RosterStatus::Studying, "2027-02-01");
    future_order.order = Some(Order { number: "1-к".into(), date: date("2027-03-02") });
    let file = || {
        vec![
            Ok(row(2, "s2", "Белова Ева Ильинична", Role::Student, "ИС-1", RosterStatus::Studying, "2026-09-01")),
            Ok(row(3, "s3", "Ершов Ян Олегович", Role::Student, "ИС-1", RosterStatus::Studying, "2028-09-01")),
            Ok(row(4, "s4", "Юдин Лев Ильич", Role::Student, "ИС-1", RosterStatus::Studying, "2012-09-01")),
            Ok(future_order.clone()),
            Err(RowError { line: 6, field: Some("status"), problem: "unknown status".into() }),
        ]
    };
    let strict = ImportOptions { strict: true, ..opts() };
    let r = app.import_roster(&admin(), file(), &strict).await.expect("strict");
    let bad: Vec<(usize, Option<&str>)> = r.errors.iter().map(|e| (e.line, e.field)).collect();
    assert_eq!(bad, vec![(3, Some("effective")), (4, Some("effective")), (5, Some("order_date")), (6, Some("status"))]);
    assert!(!r.applied && r.issued.is_empty());
    let all = propusk::ports::AccountFilter { limit: 100, ..Default::default() };
    assert!(app.list_users(&all).await.expect("users").is_empty(), "strict: nothing applied");
    let r = app.import_roster(&admin(), file(), &opts()).await.expect("lenient");
    assert!(r.applied);
    assert_eq!((r.issued.len(), r.errors.len()), (1, 4), "the good row is applied, the bad ones reported");
    assert_eq!(app.list_users(&all).await.expect("users").len(), 1);
}

conformance!(
    impossible_dates_are_row_errors_and_strict_applies_nothing,
    graduation_ends_access_at_the_deadline_and_erases_within_three_days,
    a_failing_service_is_retried_raises_an_alert_and_is_reported,
);
