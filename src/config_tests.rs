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
