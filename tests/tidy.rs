//! Keeps the layering honest (ARCHITECTURE.md): the rules and use cases import no
//! framework crate, every module says what it owns, and no file grows into a grab-bag.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of `file` that name one of `crates` as a path root (`use x::`, `x::y`).
fn uses_of(file: &Path, crates: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| {
            crates.iter().any(|c| {
                l.match_indices(&format!("{c}::"))
                    .any(|(i, _)| i == 0 || !l.as_bytes()[i - 1].is_ascii_alphanumeric() && l.as_bytes()[i - 1] != b'_')
            })
        })
        .map(|(n, l)| format!("{}:{}: {}", file.display(), n + 1, l.trim()))
        .collect()
}

#[test]
fn domain_and_app_import_no_framework_crates() {
    let frameworks = ["axum", "sqlx", "ldap3", "rustls", "tokio_rustls", "governor", "hyper", "axum_server", "maud"];
    let mut offences = Vec::new();
    let mut files = rust_files(&src().join("domain"));
    files.extend(rust_files(&src().join("app")));
    files.extend(rust_files(&src().join("ports")));
    files.extend(rust_files(&src().join("policy")));
    for f in &files {
        offences.extend(uses_of(f, &frameworks));
    }
    // The rules and the policy engine are pure: no runtime either.
    for f in rust_files(&src().join("domain")).into_iter().chain(rust_files(&src().join("policy"))) {
        offences.extend(uses_of(&f, &["tokio"]));
    }
    assert!(offences.is_empty(), "layering broken:\n{}", offences.join("\n"));
}

#[test]
fn the_tidy_check_itself_catches_an_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("x.rs");
    std::fs::write(&f, "//! x\nuse axum::Router;\nfn f() { let _ = my_axum::x; }\n").expect("write");
    assert_eq!(uses_of(&f, &["axum"]).len(), 1);
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<_> = rust_files(&src())
        .into_iter()
        .filter(|f| !std::fs::read_to_string(f).expect("read").starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "modules without a //! header:\n{}", missing.join("\n"));
}

#[test]
fn no_source_file_is_a_grab_bag() {
    let big: Vec<_> = rust_files(&src())
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).expect("read").lines().count();
            (n > 600).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(big.is_empty(), "split these by responsibility:\n{}", big.join("\n"));
    for banned in ["util.rs", "utils.rs", "helpers.rs", "misc.rs"] {
        assert!(!rust_files(&src()).iter().any(|f| f.ends_with(banned)), "no {banned}");
    }
}
