//! Decisions on the shipped policies: each seed role against each resource,
//! restrictions in force, expired or absent, and statuses other than active.
//!
//! Owns only assertions about decisions; loading errors are tested in `load.rs`.

use std::time::Duration;

use crate::domain::{AccountStatus, Role, Timestamp};

use super::super::{Integration, Restriction, Subject};
use super::{NOW, account, rid, shipped, subject};

/// Who reaches what, in the order of `Role::ALL`: student, teacher, staff, eios_admin,
/// security_officer, librarian, inspector (an external inspector reaches no resource: the
/// console only, read-only).
const ACCESS: [(&str, [bool; 7], &str); 12] = [
    ("portal", [true, true, true, true, true, true, false], "everyone-resources"),
    ("moodle", [true, true, false, false, false, false, false], "learning-for-students-and-teachers"),
    ("mail", [true, true, true, true, true, true, false], "everyone-resources"),
    ("iprsmart", [true, true, true, true, true, true, false], "library-systems"),
    ("znanium", [true, true, true, true, true, true, false], "library-systems"),
    ("lan", [true, true, true, true, true, true, false], "library-systems"),
    ("urait", [true, true, true, true, true, true, false], "library-systems"),
    ("biblioclub", [true, true, true, true, true, true, false], "library-systems"),
    ("sferum", [true, true, true, true, true, true, false], "everyone-resources"),
    ("site", [true, true, true, true, true, true, false], "everyone-resources"),
    ("timetable", [true, true, true, true, true, true, false], "everyone-resources"),
    ("timetable-editor", [false, true, true, false, false, false, false], "staff-tools"),
];

#[test]
fn each_seed_role_reaches_what_its_policies_grant() {
    let p = shipped();
    assert_eq!(p.catalogue().len(), ACCESS.len(), "every catalogue resource has a row in the table");
    for (resource, by_role, permit) in ACCESS {
        for (role, want) in Role::ALL.into_iter().zip(by_role) {
            let d = p.decide(&subject(&[role], &[]), &rid(resource), NOW);
            assert_eq!(d.allowed, want, "{role} → {resource}: {d:?}");
            assert!(d.errors.is_empty(), "{role} → {resource}: {d:?}");
            let want_reasons: Vec<String> = if want { vec![permit.to_owned()] } else { vec![] };
            assert_eq!(d.reasons, want_reasons, "{role} → {resource}");
        }
    }
}

#[test]
fn roles_add_up_and_the_launcher_lists_in_catalogue_order() {
    let p = shipped();
    let ids = |s: &Subject| -> Vec<String> { p.allowed_resources(s, NOW).iter().map(|r| r.id.to_string()).collect() };
    let everyone = ["portal", "mail", "iprsmart", "znanium", "lan", "urait", "biblioclub"];
    let mut want_student: Vec<&str> = vec!["portal", "moodle"];
    want_student.extend(&everyone[1..]);
    want_student.extend(["sferum", "site", "timetable"]);
    assert_eq!(ids(&subject(&[Role::Student], &[])), want_student);

    let mut want_admin: Vec<&str> = everyone.to_vec();
    want_admin.extend(["sferum", "site", "timetable"]);
    assert_eq!(ids(&subject(&[Role::EiosAdmin], &[])), want_admin);

    // A teacher who is also the librarian gets the union.
    let both = ids(&subject(&[Role::Teacher, Role::Librarian], &[]));
    assert_eq!(both.len(), p.catalogue().len(), "{both:?}");
}

#[test]
fn a_restriction_refuses_only_its_resource_while_in_force() {
    let p = shipped();
    let restriction = |resource: &str, until: Option<Timestamp>| Restriction {
        resource: rid(resource),
        reason: "нарушение правил ЭИОС, служебная записка № 7".into(),
        until,
        set_by: "petrova.aa".into(),
    };
    let hour = Duration::from_secs(3600);
    // (restrictions, resource asked for, allowed, reasons)
    let cases: Vec<(Vec<Restriction>, &str, bool, &str)> = vec![
        (vec![], "moodle", true, "learning-for-students-and-teachers"),
        (vec![restriction("moodle", None)], "moodle", false, "personal-restriction"),
        (vec![restriction("moodle", Some(NOW.saturating_add(hour)))], "moodle", false, "personal-restriction"),
        (
            vec![restriction("moodle", Some(NOW.saturating_sub(hour)))],
            "moodle",
            true,
            "learning-for-students-and-teachers",
        ),
        // Lapses at `until` itself.
        (vec![restriction("moodle", Some(NOW))], "moodle", true, "learning-for-students-and-teachers"),
        (vec![restriction("moodle", None)], "mail", true, "everyone-resources"),
        (
            vec![restriction("moodle", Some(NOW.saturating_sub(hour))), restriction("moodle", None)],
            "moodle",
            false,
            "personal-restriction",
        ),
        // A restriction of a resource no longer in the catalogue harms nothing.
        (vec![restriction("retired-app", None)], "moodle", true, "learning-for-students-and-teachers"),
    ];
    for (restrictions, resource, allowed, reason) in cases {
        let s = subject(&[Role::Student], &restrictions);
        let d = p.decide(&s, &rid(resource), NOW);
        assert_eq!(d.allowed, allowed, "{restrictions:?} → {resource}: {d:?}");
        assert_eq!(d.reasons, vec![reason.to_owned()], "{restrictions:?} → {resource}");
        assert!(d.errors.is_empty(), "{d:?}");
    }
    let s = subject(&[Role::Student], &[restriction("moodle", None)]);
    assert!(!p.allowed_resources(&s, NOW).iter().any(|r| r.id.as_str() == "moodle"));
}

#[test]
fn only_an_active_account_reaches_anything() {
    let p = shipped();
    for status in AccountStatus::ALL {
        let s = Subject::new(&account(&Role::ALL, status), &[]);
        let allowed = p.allowed_resources(&s, NOW);
        if status == AccountStatus::Active {
            assert_eq!(allowed.len(), p.catalogue().len());
            continue;
        }
        assert!(allowed.is_empty(), "{status}: {allowed:?}");
        for r in p.catalogue() {
            let d = p.decide(&s, &r.id, NOW);
            assert!(!d.allowed, "{status} → {}", r.id);
            assert_eq!(d.reasons, vec!["only-active-accounts".to_owned()]);
        }
    }
}

#[test]
fn an_unknown_resource_is_refused_with_an_error() {
    let d = shipped().decide(&subject(&Role::ALL, &[]), &rid("nonexistent"), NOW);
    assert!(!d.allowed);
    assert!(d.reasons.is_empty());
    assert_eq!(d.errors, vec!["resource \"nonexistent\" is not in the catalogue"]);
}

#[test]
fn forward_auth_requests_find_exactly_their_resource() {
    let p = shipped();
    let cases = [
        ("timetable.college.example", "/", Some("timetable")),
        ("timetable.college.example", "/group/ИС-21", Some("timetable")),
        ("Timetable.College.Example:443", "/group/%D0%98%D0%A1-21?week=3", Some("timetable")),
        ("timetable.college.example", "/edit", Some("timetable-editor")),
        ("timetable.college.example", "/edit/week/12", Some("timetable-editor")),
        ("timetable.college.example", "/api/changes", Some("timetable-editor")),
        ("timetable.college.example", "/editor", None),
        ("timetable.college.example", "/group/../edit/week", None),
        ("timetable.college.example", "/group/%2e%2e/edit", None),
        ("timetable.college.example", "/unlisted", None),
        ("lms.college.example", "/", None),
        ("evil.example", "/", None),
    ];
    for (host, path, want) in cases {
        let got = p.resource_for_request(host, path).map(|r| r.id.as_str());
        assert_eq!(got, want, "{host} {path}");
    }
    let editor = p.resource(&rid("timetable-editor")).expect("in catalogue");
    assert!(matches!(editor.integration, Integration::ForwardAuth { .. }));
}

#[test]
fn explanations_name_the_deciding_policies_and_restrictions() {
    let p = shipped();
    let until = Timestamp::from_millis(1_790_000_000_000);
    let restricted = subject(
        &[Role::Student],
        &[Restriction {
            resource: rid("moodle"),
            reason: "академический отпуск".into(),
            until: Some(until),
            set_by: "petrova.aa".into(),
        }],
    );
    let cases: Vec<(Subject, &str, Vec<&str>)> = vec![
        (
            subject(&[Role::Student], &[]),
            "moodle",
            vec![": allowed.", "Permitted by:", "learning-for-students-and-teachers (", "roles.cedar:"],
        ),
        (
            restricted,
            "moodle",
            vec![
                ": refused.",
                "Forbidden by:",
                "personal-restriction (",
                "guards.cedar:",
                "Restricted by petrova.aa (until 2026-09-21",
                "академический отпуск",
            ],
        ),
        (subject(&[Role::Staff], &[]), "moodle", vec![": refused.", "No policy permits it"]),
        (
            Subject::new(&account(&[Role::Student], AccountStatus::Suspended), &[]),
            "mail",
            vec!["status: suspended", "only-active-accounts"],
        ),
    ];
    for (s, resource, wants) in cases {
        let text = p.explain(&s, &rid(resource), NOW);
        for want in wants {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(text.starts_with("ivanov.ii (account "), "{text}");
    }
}
