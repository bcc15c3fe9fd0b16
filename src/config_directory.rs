//! The `[directory]` section: where accounts live (`kind = "embedded"`, propusk's own
//! store, or `"ldap"`), and for LDAP the servers, the service account, the search, the
//! attribute and group mapping, TLS, timeouts, the pool, the sync and erasure.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Redacted, err};
use crate::directory::ldap::{AttributeMap, EraseMode, GroupMap, LdapSettings, Profile};
use crate::domain::account::Role;
use crate::domain::password::Password;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDirectory {
    /// `embedded` (propusk's own store) or `ldap`.
    pub kind: String,
    /// `ldaps://…` or `ldap://…` servers, tried in order (failover).
    pub urls: Vec<String>,
    /// `openldap`, `active_directory`, `freeipa` or `389ds`.
    pub profile: String,
    pub bind_dn: String,
    /// The service account's password (better: `bind_password_file` or the environment).
    pub bind_password: Redacted,
    pub bind_password_file: String,
    pub base: String,
    /// Extra filter ANDed with the login; empty: the profile's.
    pub filter: String,
    /// Empty: the profile's (`uid`, `sAMAccountName`).
    pub login_attribute: String,
    pub name_attribute: String,
    pub email_attribute: String,
    pub study_group_attribute: String,
    pub department_attribute: String,
    pub external_id_attribute: String,
    /// Groups (DN or cn, separated by `;`) whose members get each role.
    pub groups_student: String,
    pub groups_teacher: String,
    pub groups_staff: String,
    pub groups_eios_admin: String,
    pub groups_security_officer: String,
    pub groups_librarian: String,
    /// PEM file of the CA that signed the directory's certificate.
    pub ca_file: String,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
    /// Allow `ldap://` without StartTLS (passwords in clear on the wire): only for a
    /// directory on the same host.
    pub allow_plaintext: bool,
    pub connect_timeout_seconds: u32,
    pub operation_timeout_seconds: u32,
    pub pool_size: u32,
    /// Minutes between full syncs; 0: only at sign-in.
    pub sync_interval_minutes: u32,
    /// `delete` or `archive`.
    pub erase: String,
    pub archive_ou: String,
}

impl Default for RawDirectory {
    fn default() -> Self {
        Self {
            kind: "embedded".into(),
            urls: Vec::new(),
            profile: "openldap".into(),
            bind_dn: String::new(),
            bind_password: Redacted::default(),
            bind_password_file: String::new(),
            base: String::new(),
            filter: String::new(),
            login_attribute: String::new(),
            name_attribute: String::new(),
            email_attribute: "mail".into(),
            study_group_attribute: "departmentNumber".into(),
            department_attribute: "ou".into(),
            external_id_attribute: "employeeNumber".into(),
            groups_student: String::new(),
            groups_teacher: String::new(),
            groups_staff: String::new(),
            groups_eios_admin: String::new(),
            groups_security_officer: String::new(),
            groups_librarian: String::new(),
            ca_file: String::new(),
            starttls: false,
            allow_plaintext: false,
            connect_timeout_seconds: 5,
            operation_timeout_seconds: 5,
            pool_size: 8,
            sync_interval_minutes: 60,
            erase: "delete".into(),
            archive_ou: String::new(),
        }
    }
}

/// The validated `[directory]` section.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    /// `None`: the embedded store.
    pub ldap: Option<LdapSettings>,
    /// `None`: no scheduled sync.
    pub sync_interval: Option<Duration>,
}

pub(super) fn directory_config(d: &RawDirectory) -> Result<DirectoryConfig, ConfigError> {
    match d.kind.as_str() {
        "embedded" => return Ok(DirectoryConfig { ldap: None, sync_interval: None }),
        "ldap" => {}
        other => return Err(err("directory.kind", format!("expected embedded or ldap, got {other:?}"))),
    }
    let profile = Profile::parse(&d.profile).ok_or_else(|| {
        err("directory.profile", format!("expected openldap, active_directory, freeipa or 389ds, got {:?}", d.profile))
    })?;
    let urls: Vec<String> = d.urls.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
    if urls.is_empty() {
        return Err(err("directory.urls", "at least one ldaps:// or ldap:// URL is required"));
    }
    for u in &urls {
        if !(u.starts_with("ldaps://") || u.starts_with("ldap://")) {
            return Err(err("directory.urls", format!("{u:?} must start with ldaps:// or ldap://")));
        }
        if u.starts_with("ldap://") && !d.starttls && !d.allow_plaintext {
            return Err(err(
                "directory.urls",
                format!(
                    "{u:?} would send passwords in clear: use ldaps://, set directory.starttls, or (same host only) directory.allow_plaintext"
                ),
            ));
        }
    }
    let tls = d.starttls || urls.iter().any(|u| u.starts_with("ldaps://"));
    if tls && d.ca_file.trim().is_empty() {
        return Err(err("directory.ca_file", "required for ldaps:// and StartTLS: the PEM file of the directory's CA"));
    }
    let required = |key: &str, v: &str| {
        if v.trim().is_empty() {
            Err(err(key, "required when directory.kind = \"ldap\""))
        } else {
            Ok(v.trim().to_owned())
        }
    };
    let bind_dn = required("directory.bind_dn", &d.bind_dn)?;
    let base = required("directory.base", &d.base)?;
    let password = match (d.bind_password.0.is_empty(), d.bind_password_file.trim()) {
        (false, "") => d.bind_password.0.clone(),
        (true, "") => {
            return Err(err(
                "directory.bind_password_file",
                "the service account's password is required (or PROPUSK_DIRECTORY_BIND_PASSWORD)",
            ));
        }
        (false, _) => {
            return Err(err("directory.bind_password", "set either bind_password or bind_password_file, not both"));
        }
        (true, file) => std::fs::read_to_string(file)
            .map_err(|e| err("directory.bind_password_file", format!("cannot read {file}: {e}")))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
    };
    let filter =
        if d.filter.trim().is_empty() { profile.default_filter().to_owned() } else { d.filter.trim().to_owned() };
    if !(filter.starts_with('(') && filter.ends_with(')')) {
        return Err(err("directory.filter", "must be an LDAP filter in parentheses, such as (objectClass=person)"));
    }
    let or = |v: &str, default: &str| if v.trim().is_empty() { default.to_owned() } else { v.trim().to_owned() };
    let attributes = AttributeMap {
        login: or(&d.login_attribute, profile.login_attribute()),
        name: or(&d.name_attribute, profile.name_attribute()),
        email: d.email_attribute.trim().to_owned(),
        study_group: d.study_group_attribute.trim().to_owned(),
        department: d.department_attribute.trim().to_owned(),
        external_id: d.external_id_attribute.trim().to_owned(),
    };
    let by_role = [
        (Role::Student, &d.groups_student),
        (Role::Teacher, &d.groups_teacher),
        (Role::Staff, &d.groups_staff),
        (Role::EiosAdmin, &d.groups_eios_admin),
        (Role::SecurityOfficer, &d.groups_security_officer),
        (Role::Librarian, &d.groups_librarian),
    ];
    let groups = GroupMap::new(by_role.into_iter().flat_map(|(role, list)| {
        list.split(';').map(str::trim).filter(|g| !g.is_empty()).map(move |g| (role, g.to_owned()))
    }));
    let erase = match (d.erase.as_str(), d.archive_ou.trim()) {
        ("delete", _) => EraseMode::Delete,
        ("archive", "") => return Err(err("directory.archive_ou", "required when directory.erase = \"archive\"")),
        ("archive", ou) => EraseMode::Archive(ou.to_owned()),
        (other, _) => return Err(err("directory.erase", format!("expected delete or archive, got {other:?}"))),
    };
    let seconds = |key: &str, v: u32| {
        if (1..=300).contains(&v) { Ok(Duration::from_secs(u64::from(v))) } else { Err(err(key, "expected 1 to 300")) }
    };
    if !(1..=64).contains(&d.pool_size) {
        return Err(err("directory.pool_size", "expected 1 to 64"));
    }
    let ldap = LdapSettings {
        urls,
        profile,
        bind_dn,
        bind_password: Password::new(password),
        base,
        filter,
        attributes,
        groups,
        ca_file: (!d.ca_file.trim().is_empty()).then(|| PathBuf::from(d.ca_file.trim())),
        starttls: d.starttls,
        connect_timeout: seconds("directory.connect_timeout_seconds", d.connect_timeout_seconds)?,
        operation_timeout: seconds("directory.operation_timeout_seconds", d.operation_timeout_seconds)?,
        pool_size: d.pool_size as usize,
        erase,
    };
    let sync_interval =
        (d.sync_interval_minutes > 0).then(|| Duration::from_secs(u64::from(d.sync_interval_minutes) * 60));
    Ok(DirectoryConfig { ldap: Some(ldap), sync_interval })
}

#[cfg(test)]
mod tests {
    use super::super::RawConfig;

    fn load(env: &[(&str, &str)]) -> Result<super::DirectoryConfig, super::ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        RawConfig::parse("", env).and_then(|r| r.validate()).map(|c| c.directory)
    }

    const LDAP: [(&str, &str); 6] = [
        ("PROPUSK_DIRECTORY_KIND", "ldap"),
        ("PROPUSK_DIRECTORY_URLS", "ldaps://dc1.college.example, ldaps://dc2.college.example"),
        ("PROPUSK_DIRECTORY_CA_FILE", "/etc/propusk/ca.pem"),
        ("PROPUSK_DIRECTORY_BIND_DN", "cn=propusk,dc=college,dc=example"),
        ("PROPUSK_DIRECTORY_BIND_PASSWORD", "secret"),
        ("PROPUSK_DIRECTORY_BASE", "dc=college,dc=example"),
    ];

    #[test]
    fn embedded_by_default_and_ldap_from_the_environment() {
        assert!(load(&[]).expect("default").ldap.is_none());
        let mut env = LDAP.to_vec();
        env.push(("PROPUSK_DIRECTORY_GROUPS_STUDENT", "students; cn=ИС-21,ou=groups,dc=college,dc=example"));
        env.push(("PROPUSK_DIRECTORY_PROFILE", "active_directory"));
        let d = load(&env).expect("ldap");
        let l = d.ldap.expect("settings");
        assert_eq!(l.urls.len(), 2);
        assert_eq!(l.attributes.login, "sAMAccountName");
        assert_eq!(l.filter, "(&(objectCategory=person)(objectClass=user))");
        assert_eq!(l.groups.roles_of(&["CN=ИС-21,OU=Groups,DC=college,DC=example".to_owned()]).to_csv(), "student");
        assert!(!format!("{l:?}").contains("secret"), "the password is redacted");
        assert_eq!(d.sync_interval, Some(std::time::Duration::from_secs(3600)));
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("PROPUSK_DIRECTORY_KIND", "ad")], "directory.kind"),
            (vec![("PROPUSK_DIRECTORY_PROFILE", "novell")], "directory.profile"),
            (vec![("PROPUSK_DIRECTORY_URLS", "")], "directory.urls"),
            (vec![("PROPUSK_DIRECTORY_URLS", "ldap://dc1")], "directory.urls"),
            (vec![("PROPUSK_DIRECTORY_CA_FILE", "")], "directory.ca_file"),
            (vec![("PROPUSK_DIRECTORY_BIND_DN", " ")], "directory.bind_dn"),
            (vec![("PROPUSK_DIRECTORY_BIND_PASSWORD_FILE", "/x")], "directory.bind_password"),
            (vec![("PROPUSK_DIRECTORY_FILTER", "objectClass=person")], "directory.filter"),
            (vec![("PROPUSK_DIRECTORY_ERASE", "archive")], "directory.archive_ou"),
            (vec![("PROPUSK_DIRECTORY_ERASE", "shred")], "directory.erase"),
            (vec![("PROPUSK_DIRECTORY_POOL_SIZE", "0")], "directory.pool_size"),
            (vec![("PROPUSK_DIRECTORY_OPERATION_TIMEOUT_SECONDS", "0")], "directory.operation_timeout_seconds"),
        ];
        for (over, key) in cases {
            let mut env = LDAP.to_vec();
            env.extend(over.iter().copied());
            let e = load(&env).expect_err(key);
            assert_eq!(e.key, key, "{over:?}: {e}");
        }
        let mut plain = LDAP.to_vec();
        plain.extend([
            ("PROPUSK_DIRECTORY_URLS", "ldap://127.0.0.1:389"),
            ("PROPUSK_DIRECTORY_ALLOW_PLAINTEXT", "true"),
        ]);
        plain.push(("PROPUSK_DIRECTORY_CA_FILE", ""));
        assert!(load(&plain).expect("plain on loopback").ldap.expect("ldap").ca_file.is_none());
    }
}
