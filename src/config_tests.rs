//! Tests of configuration loading: defaults, environment overrides, errors naming keys,
//! and the documented example file.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn no_configuration_gives_the_embedded_default() {
    let c = RawConfig::parse("", env(&[])).expect("parse").validate().expect("valid");
    assert_eq!(c.listen, "127.0.0.1:8443".parse().expect("addr"));
    assert_eq!(c.tls, TlsMode::Development { dir: "certs".into() });
    assert_eq!(c.store_url.0, "sqlite:data/propusk.db");
    assert_eq!(c.hash, HashParams::default());
}

#[test]
fn environment_overrides_the_file() {
    let text = "[store]\nurl = \"sqlite:/tmp/a.db\"\n[tls]\nmode = \"off\"\n";
    let c = RawConfig::parse(
        text,
        env(&[
            ("PROPUSK_STORE_URL", "postgres://u:secret@db/p"),
            ("PROPUSK_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
            ("PROPUSK_PASSWORDS_MIN_LENGTH", "10"),
            ("PROPUSK_CONFIG", "ignored"),
            ("HOME", "/root"),
        ]),
    )
    .expect("parse")
    .validate()
    .expect("valid");
    assert_eq!(c.listen, "127.0.0.1:8080".parse().expect("addr"), "loopback when TLS is off");
    assert_eq!(c.trusted_proxies.len(), 2);
    assert_eq!(c.settings.password_policy.min_length, 10);
    assert!(!format!("{:?}", c.store_url).contains("secret"));
}

#[test]
fn every_error_names_its_key() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("[server]\nlisen = \"x\"\n", &[], "server"),
        ("[servr]\n", &[], "servr"),
        ("[server]\nlisten = \"nowhere\"\n", &[], "server.listen"),
        ("[tls]\nmode = \"maybe\"\n", &[], "tls.mode"),
        ("[tls]\ncert_file = \"a.pem\"\n", &[], "tls.key_file"),
        ("[passwords]\nmin_length = \"eight\"\n", &[], "passwords.min_length"),
        ("[passwords]\nmin_length = 2\n", &[], "passwords.min_length"),
        ("[store]\nurl = \"mysql://x\"\n", &[], "store.url"),
        ("[server]\ntrusted_proxies = [\"a.b\"]\n", &[], "server.trusted_proxies"),
        ("[log]\nformat = \"xml\"\n", &[], "log.format"),
        ("", &[("PROPUSK_STORE_URLL", "x")], "PROPUSK_STORE_URLL"),
        ("", &[("PROPUSK_PASSWORDS_MIN_LENGTH", "many")], "PROPUSK_PASSWORDS_MIN_LENGTH"),
        ("[server\n", &[], "config file"),
        ("[console]\napi_clients = [\"no-role\"]\n", &[], "console.api_clients"),
        ("[console]\napi_clients = [\"bot=wizard\"]\n", &[], "console.api_clients"),
        ("[console]\napi_clients = [\"bot=student\"]\n", &[], "console.api_clients"),
    ];
    for (text, e, key) in cases {
        let got = RawConfig::parse(text, env(e)).and_then(RawConfig::validate);
        let e = got.expect_err(text);
        assert!(e.key.contains(key), "{text:?}: error names {:?}, want {key:?} ({})", e.key, e.message);
    }
}

#[test]
fn the_example_file_is_valid_and_complete() {
    let text = include_str!("../deploy/propusk.example.toml");
    let raw = RawConfig::parse(text, env(&[])).expect("example parses");
    raw.validate().expect("example validates");
    let doc: toml::Table = text.parse().expect("toml");
    let defaults = toml::Table::try_from(RawConfig::default()).expect("defaults");
    for (section, keys) in &defaults {
        for key in keys.as_table().expect("table").keys() {
            let present = doc.get(section).and_then(|s| s.get(key)).is_some() || text.contains(&format!("# {key} ="));
            assert!(present, "deploy/propusk.example.toml does not document {section}.{key}");
        }
    }
}

#[test]
fn mail_is_off_by_default_and_configured_by_file_or_environment() {
    let c = RawConfig::parse("", env(&[])).expect("parse").validate().expect("valid");
    assert_eq!(c.mail, None);
    assert_eq!(c.header_timeout, Duration::from_secs(10));
    assert_eq!(c.settings.devices.remember, Duration::from_secs(180 * 86_400));
    let text = "[mail]\nhost = \"smtp.college.example\"\nfrom = \"propusk <propusk@college.example>\"\n\
                username = \"propusk\"\n";
    let c = RawConfig::parse(
        text,
        env(&[
            ("PROPUSK_MAIL_PASSWORD", "smtp-secret-42"),
            ("PROPUSK_MAIL_SECURITY_OFFICERS", "ib@college.example, ciso@college.example"),
            ("PROPUSK_MAIL_PORT", "2525"),
            ("PROPUSK_SERVER_BODY_TIMEOUT_SECONDS", "3"),
            ("PROPUSK_PROTECTION_KNOWN_DEVICE_DAYS", "0"),
        ]),
    )
    .expect("parse")
    .validate()
    .expect("valid");
    let mail = c.mail.clone().expect("mail on");
    assert_eq!((mail.host.as_str(), mail.port, mail.security), ("smtp.college.example", 2525, MailSecurity::StartTls));
    assert_eq!(mail.security_officers, ["ib@college.example", "ciso@college.example"]);
    assert_eq!(mail.credentials.as_ref().map(|(u, p)| (u.as_str(), p.0.as_str())), Some(("propusk", "smtp-secret-42")));
    assert_eq!(c.body_timeout, Duration::from_secs(3));
    assert!(c.settings.devices.remember.is_zero());
    assert!(!format!("{c:?}").contains("smtp-secret-42"), "the password never shows in Debug");
    let tls = RawConfig::parse("[mail]\nhost = \"h\"\nsecurity = \"tls\"\nfrom = \"a@b.example\"\n", env(&[]))
        .expect("parse")
        .validate()
        .expect("valid");
    assert_eq!(tls.mail.map(|m| m.port), Some(465));
}

#[test]
fn mail_errors_name_their_key() {
    let cases: &[(&str, &str)] = &[
        ("[mail]\nhost = \"smtp.example\"\n", "mail.from"),
        ("[mail]\nhost = \"smtp.example\"\nfrom = \"not an address\"\n", "mail.from"),
        ("[mail]\nsecurity = \"ssl\"\n", "mail.security"),
        ("[mail]\nsecurity_officers = [\"ib at college\"]\n", "mail.security_officers"),
        ("[mail]\nhost = \"h\"\nfrom = \"a@b.example\"\nport = 70000\n", "mail.port"),
        ("[mail]\nhost = \"h\"\nfrom = \"a@b.example\"\nusername = \"u\"\n", "mail.password"),
        ("[mail]\nhost = \"h\"\nfrom = \"a@b.example\"\npassword = \"p\"\n", "mail.username"),
        (
            "[mail]\nhost = \"smtp.example\"\nfrom = \"a@b.example\"\nsecurity = \"none\"\nusername = \"u\"\npassword = \"p\"\n",
            "mail.security",
        ),
        ("[mail]\nhost = \"h\"\nfrom = \"a@b.example\"\ntimeout_seconds = 0\n", "mail.timeout_seconds"),
        ("[server]\nheader_timeout_seconds = 0\n", "server.header_timeout_seconds"),
        ("[server]\nbody_timeout_seconds = 301\n", "server.body_timeout_seconds"),
    ];
    for (text, key) in cases {
        let e = RawConfig::parse(text, env(&[])).and_then(RawConfig::validate).expect_err(text);
        assert_eq!(e.key, *key, "{text:?}: {}", e.message);
    }
    let local = "[mail]\nhost = \"127.0.0.1\"\nfrom = \"a@b.example\"\nsecurity = \"none\"\nusername = \"u\"\npassword = \"p\"\n";
    assert!(RawConfig::parse(local, env(&[])).expect("parse").validate().is_ok(), "a local relay may take a password");
}
