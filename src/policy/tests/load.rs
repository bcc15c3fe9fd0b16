//! Loading: the shipped directory loads cleanly, its digest is stable, and each kind of
//! broken input is refused with a message naming the file and line (R-21).
//!
//! Owns fixtures written to temporary directories; never writes under `policies/`.

use std::path::Path;

use super::super::{Policies, PolicyError};
use super::shipped_dir;

#[test]
fn the_shipped_directory_loads_cleanly() {
    let p = super::shipped();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    assert_eq!(p.digest().len(), 64);
    assert!(p.digest().bytes().all(|b| b.is_ascii_hexdigit()));
    let ids: Vec<&str> = p.policies().map(|i| i.id.as_str()).collect();
    for id in ["only-active-accounts", "personal-restriction", "everyone-resources"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(p.policies().all(|i| i.description.is_some()));
}

/// A copy of the shipped directory in a temporary one.
fn copy_shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(shipped_dir()).expect("read policies/") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let name = path.file_name().expect("name");
            std::fs::copy(&path, dir.path().join(name)).expect("copy");
        }
    }
    dir
}

fn edit(dir: &Path, file: &str, f: impl FnOnce(String) -> String) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, f(text)).expect("write");
}

/// 1-based line of the last line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or_else(|| panic!("{needle:?} not in fixture"))
}

#[test]
fn the_digest_is_stable_and_follows_every_change() {
    let dir = copy_shipped();
    let a = Policies::load(dir.path()).expect("loads");
    let b = Policies::load(dir.path()).expect("loads");
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.digest(), super::shipped().digest(), "the directory's path is not hashed");
    edit(dir.path(), "roles.cedar", |t| t + "\n// reviewed\n");
    let c = Policies::load(dir.path()).expect("loads");
    assert_ne!(a.digest(), c.digest());
}

const EXTRA_RESOURCE: &str = r#"
[[resource]]
id = "grades"
title_ru = "Оценки"
title_en = "Grades"
description_ru = "Электронный журнал."
description_en = "The electronic register."
url = "https://grades.college.example/"
purpose = "Учёт успеваемости"
audience = ["learning"]
owner = { name = "Учебная часть", contact = "uchebnaya@college.example" }
integration = { kind = "oidc", client_id = "grades" }
"#;

/// Applies `change` to a copy of the shipped directory and expects exactly one problem,
/// in `file`, on the line containing `at`, whose message contains `message`.
fn refused(file: &str, change: impl FnOnce(String) -> String, at: &str, message: &str) {
    let dir = copy_shipped();
    edit(dir.path(), file, change);
    let text = std::fs::read_to_string(dir.path().join(file)).expect("read");
    let err = match Policies::load(dir.path()) {
        Ok(_) => panic!("{file} with {at:?}: loaded, should be refused"),
        Err(e) => e,
    };
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    let p = &problems[0];
    assert_eq!(p.file, dir.path().join(file), "{err}");
    assert_eq!(p.line, Some(line_of(&text, at)), "{err}");
    assert!(p.message.contains(message), "{message:?} not in: {err}");
    // The whole error, as printed, names the file and line.
    let place = format!("{}:{}:", dir.path().join(file).display(), line_of(&text, at));
    assert!(err.to_string().contains(&place), "{place:?} not in: {err}");
}

#[test]
fn broken_catalogues_are_refused_at_the_line() {
    let add = |extra: &'static str| move |t: String| t + extra;
    let shipped_text = std::fs::read_to_string(shipped_dir().join("resources.toml")).expect("read");
    let first = shipped_text.lines().position(|l| l == "id = \"moodle\"").expect("moodle in the catalogue") + 1;
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace("\nid = \"grades\"", "\nid = \"moodle\""),
        "id = \"moodle\"",
        &format!("duplicate resource id \"moodle\": already defined at line {first}"),
    );
    refused(
        "resources.toml",
        add("\n[[resource]]\nid = \"x\"\ncolour = \"red\"\n"),
        "colour",
        "unknown field `colour`",
    );
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace("https://grades", "http://grades"),
        "http://grades",
        "must start with \"https://\"",
    );
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace("\nid = \"grades\"", "\nid = \"Grades\""),
        "id = \"Grades\"",
        "not a resource id: \"Grades\"",
    );
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace("client_id = \"grades\"", "client_id = \"moodle\""),
        "client_id = \"moodle\"",
        "OIDC client_id \"moodle\" is already used by \"moodle\"",
    );
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace("kind = \"oidc\"", "kind = \"saml\""),
        "kind = \"saml\"",
        "unknown integration kind \"saml\"; known kinds: oidc, forward_auth, ldap, link",
    );
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace(", client_id = \"grades\"", ""),
        "kind = \"oidc\" }",
        "integration kind \"oidc\" needs a client_id",
    );
    refused(
        "resources.toml",
        |t| t + &EXTRA_RESOURCE.replace("kind = \"oidc\",", "kind = \"link\","),
        "kind = \"link\", client_id",
        "integration kind \"link\" takes no client_id",
    );
    refused("resources.toml", |t| t + "\n[[resource]\n", "[[resource]", "invalid table header");
}

#[test]
fn overlapping_forward_auth_rules_are_refused_at_the_later_paths() {
    let overlap = EXTRA_RESOURCE.replace(
        "integration = { kind = \"oidc\", client_id = \"grades\" }",
        "url = \"https://timetable.college.example/edit/grades\"\n\
         integration = { kind = \"forward_auth\", hosts = [\"timetable.college.example\"], \
         paths = [\"/grades/*\", \"/edit/grades/*\"] }",
    );
    let overlap = overlap.replace("url = \"https://grades.college.example/\"\n", "");
    refused(
        "resources.toml",
        |t| t + &overlap,
        "paths = [\"/grades/*\"",
        "forward_auth rule timetable.college.example /edit/grades/* of resource \"grades\" \
         overlaps rule timetable.college.example /edit/* of resource \"timetable-editor\"",
    );
    // The same paths on another host are fine.
    let dir = copy_shipped();
    edit(dir.path(), "resources.toml", |t| t + &overlap.replace("timetable.college", "grades.college"));
    let p = Policies::load(dir.path()).expect("no overlap on another host");
    let found = p.resource_for_request("grades.college.example", "/edit/grades/1");
    assert_eq!(found.map(|r| r.id.as_str()), Some("grades"));
}

#[test]
fn broken_policies_are_refused_at_the_line() {
    let add = |extra: &'static str| move |t: String| t + extra;
    refused(
        "roles.cedar",
        add("\n@id(\"broken\")\npermit (principal action == Action::\"access\", resource);\n"),
        "permit (principal action",
        "unexpected token",
    );
    refused(
        "roles.cedar",
        add("\n@id(\"by-programme\")\npermit (principal, action == Action::\"access\", resource)\n\
             when { principal.programme == \"09.02.07\" };\n"),
        "principal.programme",
        "for policy `by-programme`, attribute `programme` on entity type `User` not found",
    );
    refused(
        "roles.cedar",
        add("\npermit (principal, action == Action::\"access\", resource == Resource::\"site\");\n"),
        "resource == Resource::\"site\"",
        "policy has no @id",
    );
    refused(
        "roles.cedar",
        add("\n@id(\"retired\")\npermit (principal, action == Action::\"access\", \
             resource == Resource::\"retired-app\");\n"),
        "@id(\"retired\")",
        "policy \"retired\" names Resource::\"retired-app\", which is not in the resource \
         catalogue",
    );
    refused(
        "roles.cedar",
        add("\n@id(\"staff-tools\")\nforbid (principal, action, resource);\n"),
        "@id(\"staff-tools\")",
        "duplicate policy @id \"staff-tools\": already used at ",
    );
    refused(
        "roles.cedar",
        add("\n@id(\"link\")\npermit (principal == ?principal, action, resource);\n"),
        "@id(\"link\")",
        "policy templates",
    );
    refused(
        "schema.cedarschema",
        |t| t.replace("entity Resource = {", "entity Resource = {{"),
        "entity Resource = {{",
        "",
    );
}

#[test]
fn a_schema_that_does_not_fit_the_entities_is_refused() {
    let dir = copy_shipped();
    edit(dir.path(), "schema.cedarschema", |t| t.replace("  study_group?: String,\n", "  study_group?: Long,\n"));
    let err = Policies::load(dir.path()).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("schema.cedarschema"), "{text}");
    assert!(text.contains("does not accept the User entity"), "{text}");
}

#[test]
fn policies_that_drop_the_guards_are_refused() {
    let dir = copy_shipped();
    std::fs::remove_file(dir.path().join("guards.cedar")).expect("rm");
    let err = Policies::load(dir.path()).expect_err("refused");
    let text = err.to_string();
    for want in [
        "the policies let a suspended account reach \"portal\"; only an active account may use \
         resources",
        "the policies let a blocked account reach \"timetable-editor\"",
        "the policies let an account reach \"moodle\" although it is restricted (R-4)",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    // A permit cannot be sneaked past them either: forbids win in Cedar.
    let dir = copy_shipped();
    edit(dir.path(), "roles.cedar", |t| t + "\n@id(\"open-door\")\npermit (principal, action, resource);\n");
    assert!(Policies::load(dir.path()).is_ok());
}

#[test]
fn missing_files_are_named() {
    let dir = copy_shipped();
    std::fs::remove_file(dir.path().join("resources.toml")).expect("rm");
    match Policies::load(dir.path()) {
        Err(PolicyError::Read { path, .. }) => assert!(path.ends_with("resources.toml")),
        other => panic!("{other:?}"),
    }
    let dir = copy_shipped();
    for f in ["guards.cedar", "roles.cedar"] {
        std::fs::remove_file(dir.path().join(f)).expect("rm");
    }
    let err = Policies::load(dir.path()).expect_err("refused");
    assert!(err.to_string().contains("no *.cedar policy file"), "{err}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let dir = copy_shipped();
    edit(dir.path(), "resources.toml", |t| {
        t + &EXTRA_RESOURCE
            .replace("https://grades", "http://grades")
            .replace("title_en = \"Grades\"", "title_en = \"\"")
    });
    edit(dir.path(), "roles.cedar", |t| t + "\npermit (principal, action, resource);\n");
    let err = Policies::load(dir.path()).expect_err("refused");
    let files: Vec<String> = err
        .problems()
        .iter()
        .map(|p| p.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    assert_eq!(files, ["resources.toml", "resources.toml", "roles.cedar"], "{err}");
}
