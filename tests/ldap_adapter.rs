//! The LDAP adapter against a real slapd (tests/common/slapd.rs): search-then-bind,
//! escaping, refusals, the directory's own lock, erasure, password changes, TLS with the
//! test CA, failover and timeouts.

mod common;

use std::time::{Duration, Instant};

use common::slapd::{self, BASE, SERVICE_DN, SERVICE_PW, Slapd};
use propusk::directory::ldap::{AttributeMap, EraseMode, GroupMap, Profile};
use propusk::directory::{LdapDirectory, LdapSettings};
use propusk::domain::account::Role;
use propusk::domain::ids::Login;
use propusk::domain::password::Password;
use propusk::ports::directory::{BindOutcome, Directory, DirectoryError, ExternalDirectory};

fn settings(urls: Vec<String>) -> LdapSettings {
    LdapSettings {
        urls,
        profile: Profile::OpenLdap,
        bind_dn: SERVICE_DN.into(),
        bind_password: Password::new(SERVICE_PW),
        base: BASE.into(),
        filter: "(objectClass=inetOrgPerson)".into(),
        attributes: AttributeMap {
            login: "uid".into(),
            name: "displayName".into(),
            email: "mail".into(),
            study_group: "departmentNumber".into(),
            department: "ou".into(),
            external_id: "employeeNumber".into(),
        },
        groups: GroupMap::new([
            (Role::Student, format!("cn=students,ou=groups,{BASE}")),
            (Role::Teacher, "teachers".to_owned()),
            (Role::EiosAdmin, "EIOS-Admins".to_owned()),
        ]),
        ca_file: None,
        starttls: false,
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(2),
        pool_size: 4,
        erase: EraseMode::Delete,
    }
}

fn adapter(s: &Slapd) -> LdapDirectory {
    LdapDirectory::new(settings(vec![s.url()])).expect("adapter")
}

fn login(s: &str) -> Login {
    Login::parse(s).expect("login")
}

#[tokio::test]
async fn search_then_bind_maps_the_entry_and_its_groups() {
    let s = Slapd::start();
    let d = adapter(&s);
    let pw = Password::new(slapd::IVANOV.1);
    let BindOutcome::Authenticated(e) = d.authenticate(&login(slapd::IVANOV.0), &pw).await.expect("bind") else {
        panic!("not authenticated")
    };
    assert_eq!(e.dn, slapd::dn(slapd::IVANOV.0));
    assert_eq!(e.full_name, "Иванов Иван Ильич");
    assert_eq!(e.email.as_deref(), Some("ivanov@college.example"));
    assert_eq!(e.study_group.as_deref(), Some("ИС-21"));
    assert_eq!(e.department.as_deref(), Some("it"));
    assert_eq!(e.external_id.as_deref(), Some("S-1001"));
    assert_eq!(e.roles.to_csv(), "student");
    assert!(!e.disabled);
    let petrova = d.authenticate(&login(slapd::PETROVA.0), &Password::new(slapd::PETROVA.1)).await.expect("bind");
    let BindOutcome::Authenticated(p) = petrova else { panic!("petrova") };
    assert_eq!(p.roles.to_csv(), "teacher,eios_admin");
    // Missing attributes: no name (the login stands in), no mail, no group, no role.
    let bare = d.authenticate(&login(slapd::BARE.0), &Password::new(slapd::BARE.1)).await.expect("bind");
    let BindOutcome::Authenticated(b) = bare else { panic!("bare") };
    assert_eq!((b.full_name.as_str(), b.email.clone(), b.study_group.clone()), (slapd::BARE.0, None, None));
    assert_eq!(b.roles.to_csv(), "student");
    // Wrong, empty (an unauthenticated bind would succeed: RFC 4513 §5.1.2) and unknown.
    for pw in ["wrong-password", ""] {
        let o = d.authenticate(&login(slapd::IVANOV.0), &Password::new(pw)).await.expect("bind");
        assert!(matches!(o, BindOutcome::WrongPassword(_)), "{pw:?}: {o:?}");
    }
    let o = d.authenticate(&login("nobody.here"), &Password::new("x")).await.expect("search");
    assert_eq!(o, BindOutcome::Unknown);
    d.ping().await.expect("ping");
    let all = d.list_entries().await.expect("list");
    assert!(all.iter().any(|e| e.login == slapd::IVANOV.0) && all.len() >= 8, "{all:?}");
}

#[tokio::test]
async fn logins_are_escaped_before_they_reach_a_filter() {
    let s = Slapd::start();
    let d = adapter(&s);
    for attack in ["*", "iv*", "*)(uid=*", "ivanov.ii)(|(uid=*", "\\2a", "ivanov.ii\0", "(", ")", "\\"] {
        let found = d.search_login(attack).await.unwrap_or_else(|e| panic!("{attack:?}: {e}"));
        assert!(found.is_empty(), "{attack:?} found {found:?}");
    }
    // Values with those characters, and non-ASCII ones, are matched exactly.
    for uid in [slapd::ODD_UID, slapd::CYRILLIC_UID] {
        let found = d.search_login(uid).await.expect("search");
        assert_eq!(found.iter().map(|e| e.login.as_str()).collect::<Vec<_>>(), [uid], "{uid:?}");
    }
}

#[tokio::test]
async fn several_entries_for_one_login_are_refused() {
    let s = Slapd::start();
    let d = adapter(&s);
    let e = d.authenticate(&login(slapd::TWIN), &Password::new("Twin-Pass-2026")).await.expect_err("two entries");
    assert!(matches!(e, DirectoryError::Refused(ref m) if m.contains("2 directory entries")), "{e:?}");
    assert!(d.set_disabled(&login(slapd::TWIN), true).await.is_err());
}

#[tokio::test]
async fn an_expired_password_is_told_apart_from_a_wrong_one() {
    let s = Slapd::start();
    let d = adapter(&s);
    // The `short` policy's maximum age is one second.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let o = d.authenticate(&login(slapd::EXPIRED.0), &Password::new(slapd::EXPIRED.1)).await.expect("bind");
    assert!(matches!(o, BindOutcome::PasswordExpired(_)), "{o:?}");
    let o = d.authenticate(&login(slapd::EXPIRED.0), &Password::new("wrong")).await.expect("bind");
    assert!(matches!(o, BindOutcome::WrongPassword(_)), "{o:?}");
}

#[tokio::test]
async fn the_lock_is_written_to_the_directory_and_seen_by_a_plain_bind() {
    let s = Slapd::start();
    let d = adapter(&s);
    let (uid, pw) = slapd::IVANOV;
    d.set_disabled(&login(uid), true).await.expect("disable");
    assert!(s.search(&slapd::dn(uid), "(objectClass=*)").contains("pwdAccountLockedTime: 000001010000Z"));
    assert!(!s.whoami(&slapd::dn(uid), pw), "ldapwhoami must fail while locked");
    let o = d.authenticate(&login(uid), &Password::new(pw)).await.expect("bind");
    assert!(matches!(o, BindOutcome::Disabled(ref e) if e.disabled), "{o:?}");
    d.set_disabled(&login(uid), false).await.expect("enable");
    d.set_disabled(&login(uid), false).await.expect("enabling twice is fine");
    assert!(s.whoami(&slapd::dn(uid), pw));
    assert!(matches!(d.set_disabled(&login("nobody.here"), true).await, Err(DirectoryError::NotFound(_))));
}

#[tokio::test]
async fn passwords_change_with_password_modify() {
    let s = Slapd::start();
    let d = adapter(&s);
    let (uid, old) = slapd::PETROVA;
    let new = Password::new("Novyi-Parol-2026");
    let wrong = d.set_password(&login(uid), Some(&Password::new("not-it")), &new).await.expect_err("wrong old");
    assert!(matches!(wrong, DirectoryError::Refused(_)), "{wrong:?}");
    d.set_password(&login(uid), Some(&Password::new(old)), &new).await.expect("as the person");
    assert!(s.whoami(&slapd::dn(uid), new.expose()));
    assert!(!s.whoami(&slapd::dn(uid), old));
    // An administrative reset, as the service account.
    let reset = Password::new("Vydannyi-Parol-77");
    d.set_password(&login(uid), None, &reset).await.expect("reset");
    assert!(s.whoami(&slapd::dn(uid), reset.expose()));
    assert!(!s.whoami(&slapd::dn(uid), new.expose()));
}

#[tokio::test]
async fn erasure_deletes_or_archives_without_personal_data() {
    let s = Slapd::start();
    let d = adapter(&s);
    let (uid, pw) = slapd::PETROVA;
    d.set_disabled(&login(uid), true).await.expect("block first");
    d.erase(&login(uid)).await.expect("delete");
    assert_eq!(s.search(&slapd::dn(uid), "(objectClass=*)"), "");
    d.erase(&login(uid)).await.expect("an entry already gone is success");
    let mut archive = settings(vec![s.url()]);
    archive.erase = EraseMode::Archive(slapd::ARCHIVE.into());
    let a = LdapDirectory::new(archive).expect("adapter");
    let (uid, pw2) = slapd::IVANOV;
    a.erase(&login(uid)).await.expect("archive");
    assert_eq!(s.search(&slapd::dn(uid), "(objectClass=*)"), "", "moved away");
    let moved = s.search(&format!("uid={uid},{}", slapd::ARCHIVE), "(objectClass=*)");
    assert!(moved.contains("pwdAccountLockedTime: 000001010000Z"), "{moved}");
    for personal in ["mail:", "displayName", "departmentNumber", "employeeNumber", "ou: it"] {
        assert!(!moved.contains(personal), "{personal} left in {moved}");
    }
    assert!(!s.whoami(&format!("uid={uid},{}", slapd::ARCHIVE), pw2));
    let _ = pw;
}

#[tokio::test]
async fn ldaps_trusts_only_the_configured_ca() {
    let s = Slapd::start();
    let mut tls = settings(vec![s.ldaps_url()]);
    tls.ca_file = Some(s.ca.clone());
    let d = LdapDirectory::new(tls.clone()).expect("adapter");
    let o = d.authenticate(&login(slapd::IVANOV.0), &Password::new(slapd::IVANOV.1)).await.expect("bind over TLS");
    assert!(matches!(o, BindOutcome::Authenticated(_)), "{o:?}");
    // StartTLS on the plain port, same CA.
    let mut start = settings(vec![s.url()]);
    start.ca_file = Some(s.ca.clone());
    start.starttls = true;
    LdapDirectory::new(start).expect("adapter").ping().await.expect("StartTLS");
    // Another CA: the certificate is refused and nothing is sent.
    let other = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(other.path(), slapd::certificates().0).expect("write");
    tls.ca_file = Some(other.path().to_owned());
    let e = LdapDirectory::new(tls.clone()).expect("adapter").ping().await.expect_err("wrong CA");
    assert!(matches!(e, DirectoryError::Unavailable(_)), "{e:?}");
    tls.ca_file = None;
    assert!(LdapDirectory::new(tls).is_err(), "TLS without a CA is refused at start");
}

#[tokio::test]
async fn a_dead_server_fails_over_and_a_hanging_one_times_out() {
    let s = Slapd::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("ldap://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let d = LdapDirectory::new(settings(vec![dead_url.clone(), s.url()])).expect("adapter");
    let o = d.authenticate(&login(slapd::IVANOV.0), &Password::new(slapd::IVANOV.1)).await.expect("failover");
    assert!(matches!(o, BindOutcome::Authenticated(_)), "{o:?}");
    // A server that accepts connections and never answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hang_url = format!("ldap://{}", hang.local_addr().expect("addr"));
    let h = LdapDirectory::new(settings(vec![hang_url])).expect("adapter");
    let started = Instant::now();
    let e = h.authenticate(&login(slapd::IVANOV.0), &Password::new("x")).await.expect_err("hangs");
    assert!(matches!(e, DirectoryError::Unavailable(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    drop(hang);
}

#[tokio::test]
async fn the_adapter_recovers_when_the_directory_returns() {
    let mut s = Slapd::start();
    let d = adapter(&s);
    d.ping().await.expect("up");
    s.stop();
    let e = d.ping().await.expect_err("down");
    assert!(matches!(e, DirectoryError::Unavailable(_)), "{e:?}");
    let e = d.authenticate(&login(slapd::IVANOV.0), &Password::new(slapd::IVANOV.1)).await.expect_err("down");
    assert!(matches!(e, DirectoryError::Unavailable(_)), "{e:?}");
    s.resume();
    d.ping().await.expect("up again");
    let o = d.authenticate(&login(slapd::IVANOV.0), &Password::new(slapd::IVANOV.1)).await.expect("bind");
    assert!(matches!(o, BindOutcome::Authenticated(_)), "{o:?}");
}
