//! The deprovisioning rules, table by table: deadlines, steps and phases, retries, and
//! what each register status does to an account.

use super::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn at(s: &str) -> Timestamp {
    let t = chrono::DateTime::parse_from_rfc3339(s).expect("time");
    Timestamp::from_millis(t.timestamp_millis())
}

fn row(status: RosterStatus) -> RosterRow {
    RosterRow {
        line: 2,
        external_id: "С-1001".into(),
        full_name: "Иванов Иван Петрович".into(),
        role: Role::Student,
        unit: Some("ИС-21".into()),
        email: Some("ivanov@college.example".into()),
        status,
        effective: date("2027-06-30"),
        order: Some(Order { number: "15-к".into(), date: date("2027-06-25") }),
    }
}

fn known(status: AccountStatus, was: Option<RosterStatus>, open_case: Option<Departure>) -> Known {
    Known {
        status,
        roles: Roles::new([Role::Student]),
        full_name: "Иванов Иван Петрович".into(),
        email: Some("ivanov@college.example".into()),
        study_group: Some("ИС-21".into()),
        department: None,
        record: was.map(|s| RosterRecord {
            external_id: "С-1001".into(),
            status: s,
            effective: date("2026-09-01"),
            order: None,
            digest: "old".into(),
        }),
        open_case,
    }
}

#[test]
fn deadlines_follow_d7_from_local_midnight() {
    let p = LifecyclePolicy::default();
    let g = p.deadlines(Departure::Graduated, date("2027-06-30"));
    assert_eq!(g.starts_at, at("2027-06-29T21:00:00Z"), "Moscow midnight");
    assert_eq!(g.block_by, at("2027-06-30T21:00:00Z"), "blocked on the date");
    assert_eq!(g.erase_at, Some(at("2027-07-01T21:00:00Z")));
    assert_eq!(g.erase_by, Some(at("2027-07-02T21:00:00Z")), "erased within 3 days");
    for reason in [Departure::Expelled, Departure::Dismissed] {
        let d = p.deadlines(reason, date("2027-03-10"));
        assert_eq!(d.block_by, at("2027-03-10T21:00:00Z"), "within 24 h");
        assert_eq!((d.erase_at, d.erase_by), (None, None), "kept for reinstatement by default");
    }
    let keep_week = LifecyclePolicy { erase_others_after: Some(Duration::from_secs(7 * 86_400)), ..p };
    let d = keep_week.deadlines(Departure::Expelled, date("2027-03-10"));
    assert_eq!(d.erase_by, Some(at("2027-03-16T21:00:00Z")));
    assert_eq!(p.date_at(at("2027-06-29T21:00:00Z")), date("2027-06-30"));
    assert_eq!(p.date_at(at("2027-06-29T20:59:59Z")), date("2027-06-29"));
}

#[test]
fn policies_beyond_the_regulation_are_refused() {
    let p = LifecyclePolicy::default();
    assert_eq!(p.check(), Ok(()));
    assert!(LifecyclePolicy { block_within: Duration::from_secs(4 * 86_400), ..p }.check().is_err());
    assert!(LifecyclePolicy { block_within: Duration::ZERO, ..p }.check().is_err());
    assert!(LifecyclePolicy { erase_graduates_after: Duration::from_secs(73 * 3600), ..p }.check().is_err());
}

#[test]
fn steps_come_in_phases() {
    let p = LifecyclePolicy::default();
    let d = p.deadlines(Departure::Graduated, date("2027-06-30"));
    let resources = [
        LeavingResource { id: "moodle".into(), automatic: true, forget: true, within: None },
        LeavingResource { id: "sferum".into(), automatic: false, forget: false, within: None },
    ];
    let steps = plan_steps(&d, true, &resources);
    let names: Vec<(&str, StepKind, Phase)> = steps.iter().map(|s| (s.name.as_str(), s.kind, s.phase)).collect();
    assert_eq!(
        names,
        vec![
            ("block", StepKind::Block, Phase::Block),
            ("directory", StepKind::Directory, Phase::Block),
            ("moodle", StepKind::Connector, Phase::Block),
            ("sferum", StepKind::Manual, Phase::Block),
            ("moodle:forget", StepKind::Connector, Phase::Forget),
            ("erase", StepKind::Erase, Phase::Erase),
        ]
    );
    assert!(steps.iter().filter(|s| s.phase == Phase::Block).all(|s| s.due_at == d.block_by), "D-8");
    let last = steps.last().expect("erase");
    assert_eq!((last.not_before, last.due_at), (d.erase_at.expect("at"), d.erase_by.expect("by")));
    let expelled = p.deadlines(Departure::Expelled, date("2027-06-30"));
    assert!(plan_steps(&expelled, false, &resources).iter().all(|s| s.phase == Phase::Block));
    assert!(phase_open(Phase::Block, [Phase::Block, Phase::Erase]));
    assert!(!phase_open(Phase::Forget, [Phase::Block, Phase::Forget]));
    assert!(phase_open(Phase::Erase, [Phase::Erase]));
}

#[test]
fn retries_grow_and_stop_growing() {
    let pauses: Vec<u64> = (1..=9).map(|a| retry_after(a).as_secs()).collect();
    assert_eq!(pauses, vec![60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
}

#[test]
fn each_register_status_has_its_effect() {
    use AccountStatus as A;
    use RosterStatus as R;
    let moved = ProfileUpdate { study_group: Some(Some("ИС-31".into())), ..ProfileUpdate::default() };
    // (row status, row group, known, erased before, expected action)
    let cases: Vec<(R, &str, Option<Known>, bool, RowAction)> = vec![
        (
            R::Studying,
            "ИС-21",
            None,
            false,
            RowAction::Create {
                roles: Roles::new([Role::Student]),
                study_group: Some("ИС-21".into()),
                department: None,
            },
        ),
        (R::Graduated, "ИС-21", None, false, RowAction::RecordOnly),
        (R::Graduated, "ИС-21", None, true, RowAction::AlreadyErased),
        (R::Studying, "ИС-21", Some(known(A::Active, Some(R::Studying), None)), false, RowAction::Unchanged),
        (
            R::Studying,
            "ИС-31",
            Some(known(A::Active, Some(R::Studying), None)),
            false,
            RowAction::Update(moved.clone()),
        ),
        (R::Transferred, "ИС-31", Some(known(A::Active, None, None)), false, RowAction::Update(moved.clone())),
        (
            R::Graduated,
            "ИС-21",
            Some(known(A::Active, Some(R::Studying), None)),
            false,
            RowAction::Depart { reason: Departure::Graduated, update: None },
        ),
        (
            R::Expelled,
            "ИС-21",
            Some(known(A::Suspended, Some(R::Studying), None)),
            false,
            RowAction::Depart { reason: Departure::Expelled, update: None },
        ),
        (
            R::Expelled,
            "ИС-21",
            Some(known(A::Active, Some(R::Expelled), Some(Departure::Expelled))),
            false,
            RowAction::Unchanged,
        ),
        (R::Graduated, "ИС-21", Some(known(A::Blocked, Some(R::Graduated), None)), false, RowAction::Unchanged),
        (
            R::AcademicLeave,
            "ИС-21",
            Some(known(A::Active, Some(R::Studying), None)),
            false,
            RowAction::Leave { update: None },
        ),
        (R::AcademicLeave, "ИС-21", Some(known(A::Active, Some(R::AcademicLeave), None)), false, RowAction::Unchanged),
        (
            R::Studying,
            "ИС-21",
            Some(known(A::Active, Some(R::AcademicLeave), None)),
            false,
            RowAction::Reinstate { update: None, withdraw_case: false, activate: false },
        ),
        (
            R::Studying,
            "ИС-21",
            Some(known(A::Active, Some(R::Expelled), Some(Departure::Expelled))),
            false,
            RowAction::Reinstate { update: None, withdraw_case: true, activate: false },
        ),
        (
            R::Studying,
            "ИС-21",
            Some(known(A::Blocked, Some(R::Expelled), None)),
            false,
            RowAction::Reinstate { update: None, withdraw_case: false, activate: true },
        ),
        // Blocked by an administrator, not by a departure: the register does not unblock.
        (R::Studying, "ИС-21", Some(known(A::Blocked, Some(R::Studying), None)), false, RowAction::Unchanged),
    ];
    for (status, group, known, erased, want) in cases {
        let r = RosterRow { unit: Some(group.into()), ..row(status) };
        let got = decide_row(&r, "new", known.as_ref(), erased);
        assert_eq!(got, want, "{status} in {group} over {known:?}");
    }
}

#[test]
fn the_same_row_twice_is_unchanged() {
    let mut k = known(AccountStatus::Active, Some(RosterStatus::Studying), None);
    if let Some(r) = &mut k.record {
        r.digest = "same".into();
    }
    let r = RosterRow { unit: Some("ИС-99".into()), ..row(RosterStatus::Expelled) };
    assert_eq!(decide_row(&r, "same", Some(&k), false), RowAction::Unchanged);
}

#[test]
fn register_roles_replace_register_roles_only() {
    let mut k = known(AccountStatus::Active, Some(RosterStatus::Studying), None);
    k.roles = Roles::new([Role::Student, Role::Librarian]);
    let r = RosterRow { role: Role::Staff, unit: Some("Библиотека".into()), ..row(RosterStatus::Employed) };
    let RowAction::Update(u) = decide_row(&r, "new", Some(&k), false) else {
        panic!("an update");
    };
    assert_eq!(u.roles, Some(Roles::new([Role::Staff, Role::Librarian])));
    assert_eq!(u.study_group, Some(None));
    assert_eq!(u.department, Some(Some("Библиотека".into())));
    let no_email = RosterRow { email: None, ..row(RosterStatus::Studying) };
    assert_eq!(
        decide_row(&no_email, "new", Some(&known(AccountStatus::Active, None, None)), false),
        RowAction::Unchanged
    );
}
