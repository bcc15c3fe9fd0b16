//! Pages in a real browser: headless Chromium driven by `playwright-core`, every
//! page checked by `axe-core` against WCAG 2.1 A and AA, in the standard version and the
//! version for the visually impaired. Each scenario is a script of `tests/browser/`
//! (its helpers in `tests/browser/lib.mjs`) run against the real binary over TLS, with
//! the server's address and the people's credentials in environment variables.
//!
//! Needs Debian's `chromium` and `npm ci --prefix tests/browser` (`scripts/test` does
//! both); without them the tests fail rather than pass unseen.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs `node tests/browser/<scenario>.mjs` with `vars`; fails with its output.
fn run_scenario(server: &Server, scenario: &str, vars: &[(&str, &str)]) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: apt-get install chromium (scripts/test does)");
    let dir = browser_dir();
    for package in ["playwright-core", "axe-core"] {
        assert!(
            dir.join("node_modules").join(package).exists(),
            "{package} is missing: run `npm ci --prefix tests/browser` (scripts/test does)"
        );
    }
    let out = Command::new("node")
        .arg(dir.join(format!("{scenario}.mjs")))
        .env("BASE_URL", &server.base)
        .env("CHROMIUM", &chromium)
        .envs(vars.iter().copied())
        .output()
        .expect("node");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "browser scenario {scenario} failed:\n{text}\n--- server log ---\n{}", server.log());
    assert!(text.contains(&format!("{scenario}: passed")), "{text}");
    text
}

fn start() -> Server {
    Server::start(&[("PROPUSK_RULES_REQUIRED", "true")])
}

/// Registers a person with the CLI; returns the issued password and lock code.
fn register(server: &Server, login: &str, name: &str, role: &str) -> (String, String) {
    let out = server.cli(&["user", "add", login, "--name", name, "--role", role, "--json"]);
    assert!(out.status.success(), "user add failed: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (v["password"].as_str().expect("password").to_owned(), v["lock_code"].as_str().expect("lock code").to_owned())
}

#[test]
fn a_student_signs_in_changes_the_password_accepts_the_rules_and_signs_out() {
    let server = start();
    let (issued, _) = register(&server, "sokolova.a", "Соколова Анна Игоревна", "student");
    let out = run_scenario(
        &server,
        "student",
        &[("LOGIN", "sokolova.a"), ("PASSWORD", &issued), ("NEW_PASSWORD", "Светлый-берег-Оки-2026")],
    );
    assert!(out.contains("axe: \"personal account\""), "{out}");
    // What the browser did is in the store: the rules accepted, the other session ended.
    let accepted = server.cli(&["rules", "accepted", "sokolova.a", "--json"]);
    let accepted: serde_json::Value = serde_json::from_slice(&accepted.stdout).expect("json");
    assert_eq!(accepted[0]["version"], 1, "{accepted}");
}

#[test]
fn the_compromise_form_works_without_signing_in() {
    let server = start();
    let (issued, code) = register(&server, "vzlomov.v", "Взломов Виктор", "student");
    run_scenario(&server, "compromise", &[("LOGIN", "vzlomov.v"), ("LOCK_CODE", &code), ("PASSWORD", &issued)]);
    let shown = server.cli(&["user", "show", "vzlomov.v", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(shown["account"]["status"], "compromised", "{shown}");
}

#[test]
fn every_page_passes_axe_in_both_versions_and_the_choice_is_remembered() {
    let server = start();
    // The refusal page: this client admits teachers only.
    let out = server.cli(&[
        "client",
        "add",
        "moodle",
        "--name",
        "Moodle",
        "--redirect-uri",
        "https://moodle.college.example/cb",
        "--roles",
        "teacher",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (standard, _) = register(&server, "zorkina.z", "Зоркина Зоя", "student");
    let (low_vision, _) = register(&server, "slabov.s", "Слабов Семён", "student");
    let out = run_scenario(
        &server,
        "a11y",
        &[
            ("LOGIN_STANDARD", "zorkina.z"),
            ("PASSWORD_STANDARD", &standard),
            ("LOGIN_LOW_VISION", "slabov.s"),
            ("PASSWORD_LOW_VISION", &low_vision),
            ("NEW_PASSWORD", "Крупный-шрифт-2026"),
        ],
    );
    for mode in ["standard", "low-vision"] {
        assert!(out.contains(&format!("axe: \"[{mode}] personal account\"")), "{out}");
    }
}

#[test]
fn an_administrator_registers_a_group_and_the_console_is_accessible() {
    let server = start();
    let (admin, _) = register(&server, "glavnaya.a", "Главная Анна", "eios_admin");
    let (librarian, _) = register(&server, "knigina.k", "Книгина Ксения", "librarian");
    let out = run_scenario(
        &server,
        "console",
        &[
            ("ADMIN", "glavnaya.a"),
            ("ADMIN_PASSWORD", &admin),
            ("LIBRARIAN", "knigina.k"),
            ("LIBRARIAN_PASSWORD", &librarian),
            ("NEW_PASSWORD", "Консоль-под-замком-2026"),
        ],
    );
    for page in ["credential slips (visually impaired)", "reports (visually impaired)", "library access (librarian)"] {
        assert!(out.contains(&format!("axe: \"{page}\"")), "{out}");
    }
    // What the browser did is in the store and the journals: three accounts registered
    // by the administrator, two slips marked handed over, the chains intact.
    let audit = server.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json"]);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("json");
    let count = |action: &str| audit.as_array().expect("array").iter().filter(|e| e["action"] == action).count();
    assert_eq!(count("journal.handed_over"), 2, "{audit}");
    assert_eq!(count("inspector.create"), 1, "{audit}");
    assert!(server.cli(&["audit", "verify"]).status.success());
}
