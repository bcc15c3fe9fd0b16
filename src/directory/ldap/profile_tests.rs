//! Attribute handling of each profile, without a directory.

use super::*;

fn attrs(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
    lowered(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect())
}

fn map(profile: Profile) -> AttributeMap {
    AttributeMap {
        login: profile.login_attribute().into(),
        name: profile.name_attribute().into(),
        email: "mail".into(),
        study_group: "departmentNumber".into(),
        department: "department".into(),
        external_id: "employeeNumber".into(),
    }
}

fn groups() -> GroupMap {
    GroupMap::new([
        (Role::Student, "CN=Students,OU=Groups,DC=college,DC=example".to_owned()),
        (Role::Teacher, "teachers".to_owned()),
        (Role::EiosAdmin, "cn=eios-admins,ou=groups,dc=college,dc=example".to_owned()),
    ])
}

#[test]
fn active_directory_entries_map_sam_account_name_groups_and_the_disable_bit() {
    let p = Profile::ActiveDirectory;
    let a = attrs(&[
        ("sAMAccountName", &["petrova.aa"]),
        ("displayName", &["Петрова Анна"]),
        ("memberOf", &["CN=Teachers,OU=Staff Groups,DC=college,DC=example"]),
        ("userAccountControl", &["514"]),
        ("employeeNumber", &["T-77"]),
    ]);
    let nested = vec!["cn=students, ou=groups, dc=college, dc=example".to_owned()];
    let e = map(p).entry(p, &groups(), "CN=Петрова Анна,OU=Staff,DC=college,DC=example", &a, &nested).expect("entry");
    assert_eq!(e.login, "petrova.aa");
    assert_eq!(e.full_name, "Петрова Анна");
    assert_eq!(e.roles.to_csv(), "student,teacher");
    assert_eq!(e.external_id.as_deref(), Some("T-77"));
    assert_eq!(e.email, None);
    assert!(e.disabled, "514 = NORMAL_ACCOUNT | ACCOUNTDISABLE");
    assert!(!p.is_disabled(&attrs(&[("userAccountControl", &["512"])])));
    assert!(!p.is_disabled(&attrs(&[("userAccountControl", &["garbage"])])));
}

#[test]
fn active_directory_lock_keeps_the_other_flags() {
    let p = Profile::ActiveDirectory;
    // 0x10200: NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD.
    assert_eq!(p.lock_changes(true, Some(0x10200)), vec![AttrChange::Replace("userAccountControl", "66050".into())]);
    assert_eq!(p.lock_changes(false, Some(66050)), vec![AttrChange::Replace("userAccountControl", "66048".into())]);
    assert_eq!(p.lock_changes(true, None), vec![AttrChange::Replace("userAccountControl", "514".into())]);
}

#[test]
fn active_directory_bind_errors_are_read_from_the_data_code() {
    let p = Profile::ActiveDirectory;
    let diag = |code: &str| {
        format!("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {code}, v4563")
    };
    assert_eq!(p.refusal(49, &diag("52e"), None), Refusal::WrongPassword);
    assert_eq!(p.refusal(49, &diag("525"), None), Refusal::WrongPassword);
    assert_eq!(p.refusal(49, &diag("532"), None), Refusal::PasswordExpired);
    assert_eq!(p.refusal(49, &diag("773"), None), Refusal::PasswordExpired);
    assert_eq!(p.refusal(49, &diag("533"), None), Refusal::Disabled);
    assert_eq!(p.refusal(49, &diag("775"), None), Refusal::Disabled);
    assert_eq!(p.refusal(49, "", None), Refusal::WrongPassword);
}

#[test]
fn active_directory_nested_groups_use_the_in_chain_rule_with_an_escaped_dn() {
    let f = Profile::ActiveDirectory.nested_groups_filter("CN=Smith\\, J (x),OU=P,DC=c").expect("filter");
    assert_eq!(f, "(member:1.2.840.113556.1.4.1941:=CN=Smith\\5c, J \\28x\\29,OU=P,DC=c)");
    assert_eq!(Profile::OpenLdap.nested_groups_filter("cn=x"), None);
    assert_eq!(ad_unicode_pwd("ab"), vec![0x22, 0, b'a', 0, b'b', 0, 0x22, 0]);
}

#[test]
fn freeipa_entries_use_ns_account_lock() {
    let p = Profile::FreeIpa;
    let a = attrs(&[
        ("uid", &["sidorov.ss"]),
        ("cn", &["Сидоров Семён"]),
        ("memberOf", &["cn=students,cn=groups,cn=accounts,dc=college,dc=example", "cn=ipausers,cn=groups"]),
        ("nsAccountLock", &["TRUE"]),
        ("departmentNumber", &["ИС-21"]),
    ]);
    let gm = GroupMap::new([(Role::Student, "students".to_owned())]);
    let e = map(p).entry(p, &gm, "uid=sidorov.ss,cn=users,cn=accounts,dc=college,dc=example", &a, &[]).expect("entry");
    assert_eq!(e.roles.to_csv(), "student");
    assert_eq!(e.study_group.as_deref(), Some("ИС-21"));
    assert!(e.disabled);
    assert!(!p.is_disabled(&attrs(&[("nsAccountLock", &["false"])])));
    assert!(!p.is_disabled(&attrs(&[])));
    assert_eq!(p.lock_changes(true, None), vec![AttrChange::Replace("nsAccountLock", "TRUE".into())]);
    assert_eq!(p.lock_changes(false, None), vec![AttrChange::Replace("nsAccountLock", "FALSE".into())]);
    assert_eq!(p.refusal(53, "Account inactivated. Contact system administrator.", None), Refusal::Disabled);
    assert_eq!(p.refusal(49, "password expired!", None), Refusal::PasswordExpired);
    assert_eq!(p.refusal(49, "", None), Refusal::WrongPassword);
    assert_eq!(Profile::parse("389ds"), Some(Profile::FreeIpa));
}

#[test]
fn openldap_uses_ppolicy_and_a_missing_name_falls_back_to_the_login() {
    let p = Profile::OpenLdap;
    let a = attrs(&[("uid", &["bez.imeni"]), ("pwdAccountLockedTime", &[PPOLICY_PERMANENT])]);
    let e = map(p).entry(p, &groups(), "uid=bez.imeni,ou=people", &a, &[]).expect("entry");
    assert_eq!(e.full_name, "bez.imeni");
    assert!(e.roles.is_empty());
    assert!(e.disabled);
    assert!(map(p).entry(p, &groups(), "cn=x", &attrs(&[("cn", &["x"])]), &[]).is_err(), "no login");
    assert_eq!(p.lock_changes(false, None), vec![AttrChange::Delete("pwdAccountLockedTime")]);
    // SEQUENCE { error [1] passwordExpired(0) } and { warning [0] { [0] 42 }, error [1] accountLocked(1) }.
    assert_eq!(ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x00]), Some(0));
    assert_eq!(ppolicy_error(&[0x30, 0x08, 0xa0, 0x03, 0x80, 0x01, 42, 0x81, 0x01, 0x01]), Some(1));
    assert_eq!(ppolicy_error(&[0x30, 0x05, 0xa0, 0x03, 0x80, 0x01, 42]), None);
    assert_eq!(ppolicy_error(&[0x30, 0x09, 0x81]), None, "truncated");
    assert_eq!(p.refusal(49, "", Some(0)), Refusal::PasswordExpired);
    assert_eq!(p.refusal(49, "", None), Refusal::WrongPassword);
}
