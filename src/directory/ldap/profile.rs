//! What differs between directories: attribute names, how an entry's own lock is read
//! and written, how a refused bind is explained, how groups become roles. Pure functions
//! over attribute maps, unit-tested for each profile; the connection is in `ldap/mod.rs`.

use std::collections::HashMap;

use super::escape::{filter_value, first_rdn_value, normalise_dn};
use crate::domain::account::{Role, Roles};
use crate::ports::directory::DirectoryEntry;

/// The directory product (`directory.profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// inetOrgPerson, groupOfNames with the memberof overlay, the ppolicy overlay.
    OpenLdap,
    /// Active Directory and Samba AD: sAMAccountName, memberOf (nested), userAccountControl.
    ActiveDirectory,
    /// FreeIPA (ALD Pro) and 389 Directory Server: uid, memberOf, nsAccountLock.
    FreeIpa,
}

/// AD's userAccountControl flag ACCOUNTDISABLE (MS-ADTS §2.2.16).
pub const UAC_ACCOUNTDISABLE: u32 = 0x2;
/// OpenLDAP ppolicy's "locked until an administrator unlocks" value.
pub const PPOLICY_PERMANENT: &str = "000001010000Z";
/// AD's LDAP_MATCHING_RULE_IN_CHAIN: membership through nested groups.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// One change to an entry's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrChange {
    Replace(&'static str, String),
    /// Removes every value; an attribute already absent is success.
    Delete(&'static str),
}

/// Why the directory refused a bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongPassword,
    PasswordExpired,
    Disabled,
}

impl Profile {
    /// `openldap`, `active_directory`, `freeipa` or `389ds`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openldap" => Some(Self::OpenLdap),
            "active_directory" => Some(Self::ActiveDirectory),
            "freeipa" | "389ds" => Some(Self::FreeIpa),
            _ => None,
        }
    }

    pub fn login_attribute(self) -> &'static str {
        match self {
            Self::ActiveDirectory => "sAMAccountName",
            Self::OpenLdap | Self::FreeIpa => "uid",
        }
    }

    pub fn name_attribute(self) -> &'static str {
        match self {
            Self::ActiveDirectory => "displayName",
            Self::OpenLdap | Self::FreeIpa => "cn",
        }
    }

    pub fn default_filter(self) -> &'static str {
        match self {
            Self::OpenLdap => "(objectClass=inetOrgPerson)",
            Self::ActiveDirectory => "(&(objectCategory=person)(objectClass=user))",
            Self::FreeIpa => "(objectClass=person)",
        }
    }

    /// The attribute that holds the entry's own lock.
    pub fn lock_attribute(self) -> &'static str {
        match self {
            Self::OpenLdap => "pwdAccountLockedTime",
            Self::ActiveDirectory => "userAccountControl",
            Self::FreeIpa => "nsAccountLock",
        }
    }

    /// Whether the entry's own lock is set, from its attributes (names in lower case).
    pub fn is_disabled(self, attrs: &HashMap<String, Vec<String>>) -> bool {
        let value = first(attrs, self.lock_attribute());
        match self {
            Self::OpenLdap => value.is_some(),
            Self::ActiveDirectory => {
                value.and_then(|v| v.parse::<u32>().ok()).is_some_and(|f| f & UAC_ACCOUNTDISABLE != 0)
            }
            Self::FreeIpa => value.is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    /// The changes that set (`disabled`) or clear the entry's own lock. AD keeps the lock
    /// as one bit among others, so its current `userAccountControl` is needed.
    pub fn lock_changes(self, disabled: bool, current_uac: Option<u32>) -> Vec<AttrChange> {
        match (self, disabled) {
            (Self::OpenLdap, true) => vec![AttrChange::Replace("pwdAccountLockedTime", PPOLICY_PERMANENT.into())],
            (Self::OpenLdap, false) => vec![AttrChange::Delete("pwdAccountLockedTime")],
            (Self::ActiveDirectory, d) => {
                // 0x200 NORMAL_ACCOUNT when the entry did not say.
                let uac = current_uac.unwrap_or(0x200);
                let uac = if d { uac | UAC_ACCOUNTDISABLE } else { uac & !UAC_ACCOUNTDISABLE };
                vec![AttrChange::Replace("userAccountControl", uac.to_string())]
            }
            (Self::FreeIpa, true) => vec![AttrChange::Replace("nsAccountLock", "TRUE".into())],
            (Self::FreeIpa, false) => vec![AttrChange::Replace("nsAccountLock", "FALSE".into())],
        }
    }

    /// Explains a refused bind: the result code, the server's diagnostic message and, for
    /// OpenLDAP, the error of the password policy response control.
    pub fn refusal(self, code: u32, diagnostic: &str, ppolicy_error: Option<u8>) -> Refusal {
        match self {
            // draft-behera-ldap-password-policy §6.2: passwordExpired(0), accountLocked(1).
            Self::OpenLdap => match ppolicy_error {
                Some(0) => Refusal::PasswordExpired,
                Some(1) => Refusal::Disabled,
                _ => Refusal::WrongPassword,
            },
            // The "data NNN" sub-code of AD's diagnostic (MS-ADTS, common bind errors).
            Self::ActiveDirectory => match ad_data_code(diagnostic).as_deref() {
                Some("532" | "773") => Refusal::PasswordExpired,
                Some("533" | "701" | "775") => Refusal::Disabled,
                _ => Refusal::WrongPassword,
            },
            // 389 answers an inactivated account with unwillingToPerform (53), an expired
            // password with invalidCredentials and a "password expired" message.
            Self::FreeIpa => {
                let d = diagnostic.to_ascii_lowercase();
                if code == 53 || d.contains("inactivated") {
                    Refusal::Disabled
                } else if d.contains("expired") {
                    Refusal::PasswordExpired
                } else {
                    Refusal::WrongPassword
                }
            }
        }
    }

    /// The filter that finds every group `dn` belongs to through nested groups (AD);
    /// `None` where `memberOf` already says enough.
    pub fn nested_groups_filter(self, dn: &str) -> Option<String> {
        (self == Self::ActiveDirectory).then(|| format!("(member:{IN_CHAIN}:={})", filter_value(dn)))
    }
}

/// AD's `unicodePwd` value: the password in double quotes, UTF-16LE (MS-ADTS §3.1.1.3.1.5).
pub fn ad_unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"").encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn ad_data_code(diagnostic: &str) -> Option<String> {
    let i = diagnostic.find("data ")?;
    Some(diagnostic[i + 5..].chars().take_while(char::is_ascii_hexdigit).collect::<String>().to_ascii_lowercase())
}

/// Reads the error of a password policy response control value (BER:
/// `SEQUENCE { warning [0] … OPTIONAL, error [1] ENUMERATED OPTIONAL }`).
pub fn ppolicy_error(value: &[u8]) -> Option<u8> {
    let (&tag, rest) = value.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (len, mut body) = ber_len(rest)?;
    body = body.get(..len)?;
    while let Some((&t, rest)) = body.split_first() {
        let (l, rest) = ber_len(rest)?;
        let content = rest.get(..l)?;
        if t == 0x81 {
            return content.last().copied();
        }
        body = rest.get(l..)?;
    }
    None
}

fn ber_len(b: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = b.split_first()?;
    if first < 0x80 {
        return Some((usize::from(first), rest));
    }
    let n = usize::from(first & 0x7f);
    let bytes = rest.get(..n)?;
    let len = bytes.iter().fold(0usize, |acc, &x| acc.saturating_mul(256).saturating_add(usize::from(x)));
    Some((len, rest.get(n..)?))
}

/// Groups to roles (`directory.groups_ROLE`): a group named by its DN or by its first
/// RDN's value (its `cn`), compared without case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMap(Vec<(Role, String)>);

impl GroupMap {
    pub fn new(pairs: impl IntoIterator<Item = (Role, String)>) -> Self {
        Self(pairs.into_iter().map(|(r, g)| (r, normalise_dn(g.trim()))).collect())
    }

    pub fn roles_of<'a>(&self, groups: impl IntoIterator<Item = &'a String>) -> Roles {
        let groups: Vec<(String, Option<String>)> =
            groups.into_iter().map(|g| (normalise_dn(g), first_rdn_value(g).map(|v| v.to_lowercase()))).collect();
        Roles::new(self.0.iter().filter_map(|(role, want)| {
            groups
                .iter()
                .any(|(dn, cn)| dn == want || (!want.contains('=') && cn.as_deref() == Some(want)))
                .then_some(*role)
        }))
    }
}

/// Which attributes carry what (`directory.*_attribute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMap {
    pub login: String,
    pub name: String,
    pub email: String,
    pub study_group: String,
    pub department: String,
    pub external_id: String,
}

impl AttributeMap {
    /// The attributes a search asks for.
    pub fn requested(&self, profile: Profile) -> Vec<String> {
        let mut v = vec![&self.login, &self.name, &self.email, &self.study_group, &self.department, &self.external_id]
            .into_iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect::<Vec<_>>();
        v.push("memberOf".into());
        v.push(profile.lock_attribute().into());
        v
    }

    /// The entry in propusk's terms. A missing optional attribute is `None`; a missing
    /// name falls back to the login; a missing login is an error (the entry is skipped).
    pub fn entry(
        &self,
        profile: Profile,
        groups: &GroupMap,
        dn: &str,
        attrs: &HashMap<String, Vec<String>>,
        extra_groups: &[String],
    ) -> Result<DirectoryEntry, String> {
        let login = first(attrs, &self.login).ok_or_else(|| format!("{dn}: no {} attribute", self.login))?;
        let opt = |name: &str| first(attrs, name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let member_of: Vec<String> =
            all(attrs, "memberOf").iter().chain(extra_groups.iter()).cloned().collect::<Vec<_>>();
        Ok(DirectoryEntry {
            dn: dn.to_owned(),
            login: login.to_owned(),
            full_name: opt(&self.name).unwrap_or_else(|| login.to_owned()),
            email: opt(&self.email),
            roles: groups.roles_of(member_of.iter()),
            study_group: opt(&self.study_group),
            department: opt(&self.department),
            external_id: opt(&self.external_id),
            disabled: profile.is_disabled(attrs),
        })
    }
}

/// Attribute names lowered: directories answer in the schema's spelling.
pub fn lowered(attrs: HashMap<String, Vec<String>>) -> HashMap<String, Vec<String>> {
    attrs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

fn first<'a>(attrs: &'a HashMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    attrs.get(&name.to_ascii_lowercase()).and_then(|v| v.first()).map(String::as_str)
}

fn all<'a>(attrs: &'a HashMap<String, Vec<String>>, name: &str) -> &'a [String] {
    attrs.get(&name.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[])
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
