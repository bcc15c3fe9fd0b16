//! The administrators' console through its use cases, on SQLite and PostgreSQL: who may
//! do what (and that a refusal is audited), registering a group with slips marked handed
//! over once, the "I cannot sign in" queue, announcements by audience, inspectors'
//! accounts that end by themselves, the reports' numbers and the library list.

#[path = "common/lifecycle_kit.rs"]
mod kit;
#[path = "common/store_db.rs"]
#[macro_use]
mod store_db;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use chrono::NaiveDate;
use kit::TestClock;
use propusk::app::console::{AnnouncementForm, ConsoleUser, InspectorForm, RequestForm};
use propusk::app::{Actor, App, AppError, SignInRequest};
use propusk::domain::account::{AccountStatus, NewAccount, Role, Roles};
use propusk::domain::console::Permissions;
use propusk::domain::journal::Channel;
use propusk::domain::password::Password;
use propusk::domain::roster::{RosterRow, RosterStatus, RowError};
use propusk::domain::time::Timestamp;
use propusk::ports::console::{AnnouncementKind, RequestStatus};
use propusk::ports::{AccountFilter, Store};

const NOW: &str = "2026-09-01T09:00:00Z";

/// The shipped policies in a directory of the test's own (the kit keeps a master key
/// beside them).
fn shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(&src).expect("policies") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    dir
}

struct Env {
    app: App,
    clock: Arc<TestClock>,
    _policies: tempfile::TempDir,
}

async fn env(store: Arc<dyn Store>) -> Env {
    let clock = Arc::new(TestClock(AtomicI64::new(0)));
    clock.set(NOW);
    let policies = shipped();
    let app = kit::app(store, clock.clone(), policies.path(), "node-a").await;
    Env { app, clock, _policies: policies }
}

async fn person(app: &App, login: &str, roles: &[Role], group: Option<&str>) -> propusk::app::IssuedCredential {
    let new = NewAccount {
        login: login.into(),
        full_name: format!("Тестов {login}"),
        roles: roles.to_vec(),
        study_group: group.map(str::to_owned),
        ..NewAccount::default()
    };
    app.add_user(&Actor::system(), new, Channel::Cli).await.expect("add user")
}

/// A console user as the HTTP layer makes one from a session.
fn console(issued: &propusk::app::IssuedCredential) -> ConsoleUser {
    let account = issued.account.clone();
    ConsoleUser {
        actor: Actor { name: account.login.as_str().to_owned(), ip: Some("10.0.0.5".into()) },
        perms: Permissions::of(&account.roles),
        account,
    }
}

fn everyone() -> AccountFilter {
    AccountFilter { limit: 100, ..AccountFilter::default() }
}

async fn denied_audits(app: &App) -> usize {
    app.store.list_audit("console.denied", 100).await.expect("audit").iter().filter(|e| e.outcome == "denied").count()
}

async fn roles_decide_what_the_console_allows(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin], None).await);
    let librarian = console(&person(&e.app, "lib.l", &[Role::Librarian], None).await);
    let officer = console(&person(&e.app, "sec.s", &[Role::SecurityOfficer], None).await);
    person(&e.app, "student.s", &[Role::Student], Some("ИС-21")).await;

    let page = e.app.console_users(&admin, everyone()).await.expect("the administrator lists people");
    assert_eq!(page.total, 4);
    assert_eq!(denied_audits(&e.app).await, 0);

    // A librarian sees the library list and nothing else; each refusal is audited.
    assert!(matches!(e.app.console_users(&librarian, everyone()).await, Err(AppError::Forbidden)));
    assert!(matches!(e.app.console_suspend(&librarian, "student.s", "because").await, Err(AppError::Forbidden)));
    assert_eq!(denied_audits(&e.app).await, 2);
    let listed = e.app.library_list(&librarian, "iprsmart").await.expect("library list");
    assert!(listed.iter().any(|p| p.login == "student.s"));

    // A security officer unlocks and views, but does not suspend or change roles.
    assert!(e.app.console_user(&officer, "student.s").await.is_ok());
    assert!(matches!(e.app.console_suspend(&officer, "student.s", "x").await, Err(AppError::Forbidden)));
    assert!(matches!(
        e.app.console_set_roles(&officer, "student.s", Roles::new([Role::EiosAdmin])).await,
        Err(AppError::Forbidden)
    ));
    let student = e.app.console_user(&admin, "student.s").await.expect("view");
    assert_eq!(student.account.status, AccountStatus::Active, "nothing changed by the refused suspension");
    assert_eq!(student.account.roles, Roles::new([Role::Student]), "nothing changed by the refused role change");

    // The administrator's own checks: a reason is required, HTML is kept as text.
    assert!(matches!(e.app.console_suspend(&admin, "student.s", "   ").await, Err(AppError::Invalid(_))));
    let hostile = "<script>alert(1)</script>";
    let suspended = e.app.console_suspend(&admin, "student.s", hostile).await.expect("suspend");
    assert_eq!(suspended.status, AccountStatus::Suspended);
    let view = e.app.console_user(&admin, "student.s").await.expect("view");
    assert!(view.audit.iter().any(|a| a.action == "account.suspend" && a.actor == "admin.a"));
    assert!(matches!(e.app.console_suspend(&admin, "admin.a", "self").await, Err(AppError::Invalid(_))));
    assert!(matches!(
        e.app.console_set_roles(&admin, "admin.a", Roles::new([Role::Teacher])).await,
        Err(AppError::Invalid(_))
    ));
}

fn intake(n: usize) -> Vec<Result<RosterRow, RowError>> {
    let names = ["Алексеев", "Борисов", "Васильев", "Григорьев", "Дмитриев", "Егоров", "Жуков", "Зайцев"];
    (0..n)
        .map(|i| {
            Ok(RosterRow {
                line: i + 2,
                external_id: format!("s{:05}", 7000 + i),
                full_name: format!("{} Иван {}", names[i % names.len()], ["Петрович", "Олегович", "Ильич"][i % 3]),
                role: Role::Student,
                unit: None,
                email: None,
                status: RosterStatus::Studying,
                effective: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
                order: None,
            })
        })
        .collect()
}

async fn a_group_is_registered_and_each_slip_handed_over_once(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin], None).await);
    let officer = console(&person(&e.app, "sec.s", &[Role::SecurityOfficer], None).await);

    let review =
        e.app.bulk_register(&admin, intake(12), Some("ИС-26".into()), true, "is-26.csv").await.expect("review");
    assert!(!review.applied);
    assert_eq!(review.changes.len(), 12);
    assert_eq!(e.app.console_users(&admin, everyone()).await.expect("list").total, 2, "a review creates nothing");

    // A bad row refuses the whole list (strict).
    let mut bad = intake(3);
    bad.push(Err(RowError { line: 5, field: Some("status"), problem: "unknown status".into() }));
    let refused = e.app.bulk_register(&admin, bad, Some("ИС-26".into()), false, "bad.csv").await.expect("report");
    assert!(!refused.applied);
    assert_eq!(e.app.console_users(&admin, everyone()).await.expect("list").total, 2);

    assert!(matches!(e.app.bulk_register(&officer, intake(2), None, false, "x.csv").await, Err(AppError::Forbidden)));

    let done =
        e.app.bulk_register(&admin, intake(12), Some("ИС-26".into()), false, "is-26.csv").await.expect("register");
    assert!(done.applied);
    assert_eq!(done.issued.len(), 12);
    assert!(done.issued.iter().all(|i| i.account.study_group.as_deref() == Some("ИС-26")), "the chosen group");
    let batches = e.app.slip_batches(&admin).await.expect("batches");
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!((b.count, b.handed_over, b.received), (12, 0, 0));
    let slips = e.app.slip_batch(&admin, &b.issued_by, b.issued_at).await.expect("batch");
    let seqs: Vec<i64> = slips.iter().take(5).map(|s| s.entry.seq).collect();
    assert_eq!(e.app.mark_handed_over(&admin, &seqs).await.expect("mark"), 5);
    // Marking one of them again fails the whole mark: nothing more is marked.
    let again = vec![slips[5].entry.seq, slips[0].entry.seq];
    assert!(matches!(e.app.mark_handed_over(&admin, &again).await, Err(AppError::Invalid(_))));
    let b = &e.app.slip_batches(&admin).await.expect("batches")[0];
    assert_eq!(b.handed_over, 5);
    assert_eq!(e.app.store.list_audit("journal.handed_over", 100).await.expect("audit").len(), 5);

    // The owner's first sign-in marks the slip received.
    let first = &done.issued[0];
    e.app
        .sign_in(SignInRequest {
            login: first.account.login.as_str().into(),
            password: Password::new(first.password.expose()),
            ip: Some("10.1.1.1".into()),
            user_agent: None,
        })
        .await
        .expect("sign in with the slip");
    let b = &e.app.slip_batches(&admin).await.expect("batches")[0];
    assert_eq!(b.received, 1);
}

async fn requests_move_forward_and_are_journaled(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin], None).await);
    let form = |login: &str| RequestForm {
        login: login.into(),
        full_name: "Иванов <b>Иван</b>".into(),
        contact: "+7 900 000-00-00".into(),
        message: "Потерял лист".into(),
    };
    assert!(matches!(
        e.app.file_request(RequestForm { full_name: String::new(), ..form("x") }, None).await,
        Err(AppError::Invalid(_))
    ));
    // Any login is accepted as typed: the answer tells nothing about accounts.
    let id = e.app.file_request(form("no.such.person"), Some("10.9.9.9")).await.expect("file");
    let listed = e.app.requests(&admin, false).await.expect("queue");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].full_name, "Иванов <b>Иван</b>", "kept as typed, escaped when shown");

    assert!(matches!(e.app.move_request(&admin, &id, RequestStatus::Done, "").await, Err(AppError::Invalid(_))));
    let taken = e.app.move_request(&admin, &id, RequestStatus::InProgress, "").await.expect("take");
    assert_eq!(taken.assignee.as_deref(), Some("admin.a"));
    let closed =
        e.app.move_request(&admin, &id, RequestStatus::Done, "new password issued in person").await.expect("close");
    assert_eq!(closed.status, RequestStatus::Done);
    assert!(matches!(e.app.move_request(&admin, &id, RequestStatus::InProgress, "").await, Err(AppError::Invalid(_))));
    assert!(e.app.requests(&admin, false).await.expect("queue").is_empty());
    assert_eq!(e.app.requests(&admin, true).await.expect("all").len(), 1);
    let audit = e.app.store.list_audit("request.", 10).await.expect("audit");
    assert_eq!(audit.len(), 3, "filed, taken, closed: {audit:?}");
}

async fn announcements_reach_their_audience(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin], None).await);
    let now = e.app.clock.now();
    let hour = Duration::from_secs(3600);
    let form = |audience: &[&str], kind| AnnouncementForm {
        kind,
        text_ru: "Работы на портале".into(),
        text_en: "Portal maintenance".into(),
        audience: audience.iter().map(|s| s.to_string()).collect(),
        starts_at: now,
        ends_at: now.saturating_add(hour),
    };
    let all = e.app.announce(&admin, form(&[], AnnouncementKind::Maintenance)).await.expect("announce");
    e.app.announce(&admin, form(&["teacher"], AnnouncementKind::Notice)).await.expect("announce");
    assert!(matches!(
        e.app.announce(&admin, form(&["wizard"], AnnouncementKind::Notice)).await,
        Err(AppError::Invalid(_))
    ));
    let past = AnnouncementForm {
        ends_at: Timestamp::from_millis(now.as_millis() - 1000),
        ..form(&[], AnnouncementKind::Notice)
    };
    assert!(matches!(e.app.announce(&admin, past).await, Err(AppError::Invalid(_))));

    assert_eq!(e.app.announcements_for(None).await.expect("public").len(), 1);
    assert_eq!(e.app.announcements_for(Some(&Roles::new([Role::Student]))).await.expect("student").len(), 1);
    assert_eq!(e.app.announcements_for(Some(&Roles::new([Role::Teacher]))).await.expect("teacher").len(), 2);
    e.app.withdraw_announcement(&admin, &all.id).await.expect("withdraw");
    assert!(e.app.announcements_for(None).await.expect("public").is_empty());
    assert!(matches!(e.app.withdraw_announcement(&admin, &all.id).await, Err(AppError::NotFound(_))));
    e.clock.advance(2 * hour);
    assert!(e.app.announcements_for(Some(&Roles::new([Role::Teacher]))).await.expect("teacher").is_empty());
}

async fn an_inspector_account_ends_by_itself(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin], None).await);
    let form = |days| InspectorForm {
        login: "inspector.i".into(),
        full_name: "Проверкин Илья".into(),
        email: None,
        purpose: "Проверка Рособрнадзора".into(),
        days,
    };
    assert!(matches!(e.app.create_inspector(&admin, form(31)).await, Err(AppError::Invalid(_))));
    assert!(matches!(e.app.create_inspector(&admin, form(0)).await, Err(AppError::Invalid(_))));
    let issued = e.app.create_inspector(&admin, form(2)).await.expect("inspector");
    assert_eq!(issued.account.roles, Roles::new([Role::Inspector]));
    let inspector = console(&issued);
    // Read-only: views, never changes.
    assert!(e.app.console_users(&inspector, everyone()).await.is_ok());
    assert!(e.app.reports(&inspector, 30).await.is_ok());
    assert!(matches!(e.app.console_suspend(&inspector, "admin.a", "x").await, Err(AppError::Forbidden)));
    assert!(matches!(e.app.create_inspector(&inspector, form(1)).await, Err(AppError::Forbidden)));

    e.app
        .sign_in(SignInRequest {
            login: "inspector.i".into(),
            password: Password::new(issued.password.expose()),
            ip: None,
            user_agent: None,
        })
        .await
        .ok();
    e.clock.advance(Duration::from_secs(86_400));
    assert_eq!(e.app.expire_inspectors().await.expect("expire"), 0, "not yet");
    e.clock.advance(Duration::from_secs(86_400 + 1));
    assert_eq!(e.app.expire_inspectors().await.expect("expire"), 1);
    assert_eq!(e.app.expire_inspectors().await.expect("expire"), 0, "ended once");
    let view = e.app.console_user(&admin, "inspector.i").await.expect("view");
    assert_eq!(view.account.status, AccountStatus::Blocked);
    assert_eq!(view.live_sessions, 0);
    let listed = e.app.inspectors(&admin).await.expect("list");
    assert!(listed[0].0.expired_at.is_some());
}

async fn reports_count_what_happened(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin, Role::Teacher], None).await);
    let s1 = person(&e.app, "student.one", &[Role::Student], Some("ИС-21")).await;
    person(&e.app, "student.two", &[Role::Student], Some("ИС-21")).await;
    e.app.console_suspend(&admin, "student.two", "academic debt").await.expect("suspend");
    let attempt = |p: &str| SignInRequest {
        login: "student.one".into(),
        password: Password::new(p),
        ip: Some("10.3.3.3".into()),
        user_agent: None,
    };
    e.app.sign_in(attempt("wrong-password-1")).await.expect_err("wrong");
    e.app.sign_in(attempt(s1.password.expose())).await.expect("right");
    let r = e.app.reports(&admin, 7).await.expect("reports");
    assert_eq!(r.total_accounts, 3);
    let student = r.by_role.iter().find(|row| row.role == Role::Student).expect("students");
    assert_eq!(student.total, 2);
    assert_eq!(student.by_status[0], 1, "active");
    assert_eq!(student.by_status[3], 1, "suspended");
    let teacher = r.by_role.iter().find(|row| row.role == Role::Teacher).expect("teachers");
    assert_eq!(teacher.total, 1, "an account with two roles counts for each");
    let today = e.app.clock.now().as_millis() / 86_400_000;
    let total_today: i64 = r.sign_ins.iter().filter(|d| d.day == today).map(|d| d.count).sum();
    assert_eq!(total_today, 2);
    assert_eq!(r.deprovisioning.violations, 0);
}

async fn the_library_list_follows_the_policies(store: Arc<dyn Store>) {
    let e = env(store).await;
    let admin = console(&person(&e.app, "admin.a", &[Role::EiosAdmin], None).await);
    for i in 0..5 {
        person(&e.app, &format!("student.n{i}"), &[Role::Student], Some("ИС-21")).await;
    }
    person(&e.app, "teacher.t", &[Role::Teacher], None).await;
    e.app.console_restrict(&admin, "student.n1", "iprsmart", "licence limit", None).await.expect("restrict");
    e.app.console_suspend(&admin, "student.n2", "debt").await.expect("suspend");
    let listed: Vec<String> =
        e.app.library_list(&admin, "iprsmart").await.expect("list").into_iter().map(|p| p.login).collect();
    assert!(listed.contains(&"student.n0".to_owned()));
    assert!(listed.contains(&"teacher.t".to_owned()));
    assert!(!listed.contains(&"student.n1".to_owned()), "restricted on this system");
    assert!(!listed.contains(&"student.n2".to_owned()), "suspended");
    let other: Vec<String> =
        e.app.library_list(&admin, "znanium").await.expect("list").into_iter().map(|p| p.login).collect();
    assert!(other.contains(&"student.n1".to_owned()), "the restriction is for one system only");
    assert!(matches!(e.app.library_list(&admin, "moodle").await, Err(AppError::NotFound(_))));
}

conformance!(
    roles_decide_what_the_console_allows,
    a_group_is_registered_and_each_slip_handed_over_once,
    requests_move_forward_and_are_journaled,
    announcements_reach_their_audience,
    an_inspector_account_ends_by_itself,
    reports_count_what_happened,
    the_library_list_follows_the_policies,
);
