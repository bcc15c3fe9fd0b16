//! Accounts: who a person is to propusk, which roles they hold and whether they may sign in.

use std::fmt;
use std::str::FromStr;

use super::ids::{AccountId, Login};
use super::time::Timestamp;

/// A role from the regulation (REQUIREMENTS.md, "Who uses it"). An account may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Student,
    Teacher,
    Staff,
    EiosAdmin,
    SecurityOfficer,
    Librarian,
    /// An external inspector's read-only, time-limited account (D-11).
    Inspector,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Student,
        Role::Teacher,
        Role::Staff,
        Role::EiosAdmin,
        Role::SecurityOfficer,
        Role::Librarian,
        Role::Inspector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Teacher => "teacher",
            Role::Staff => "staff",
            Role::EiosAdmin => "eios_admin",
            Role::SecurityOfficer => "security_officer",
            Role::Librarian => "librarian",
            Role::Inspector => "inspector",
        }
    }

    /// Roles that administer the environment get the stricter session limits of D-3.
    pub fn is_administrative(self) -> bool {
        matches!(self, Role::EiosAdmin | Role::SecurityOfficer | Role::Librarian | Role::Inspector)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; known roles: student, teacher, staff, eios_admin, security_officer, librarian, inspector")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A set of roles, kept sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        let mut v: Vec<Role> = roles.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    pub fn contains(&self, r: Role) -> bool {
        self.0.contains(&r)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn any_administrative(&self) -> bool {
        self.0.iter().any(|r| r.is_administrative())
    }

    /// Comma-separated role ids: the stored form and the CLI's.
    pub fn to_csv(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn parse_csv(s: &str) -> Result<Self, UnknownRole> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(Role::from_str).collect::<Result<Vec<_>, _>>().map(Self::new)
    }
}

impl serde::Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| r.as_str()))
    }
}

/// Whether an account may be used, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// May sign in.
    Active,
    /// Locked after failed sign-ins or by an administrator.
    Locked,
    /// Its owner reported it compromised.
    Compromised,
    /// Temporarily suspended by an administrator.
    Suspended,
    /// Blocked for good, as on deprovisioning.
    Blocked,
}

impl AccountStatus {
    pub const ALL: [AccountStatus; 5] = [
        AccountStatus::Active,
        AccountStatus::Locked,
        AccountStatus::Compromised,
        AccountStatus::Suspended,
        AccountStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Locked => "locked",
            AccountStatus::Compromised => "compromised",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Blocked => "blocked",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}; known statuses: active, locked, compromised, suspended, blocked")]
pub struct UnknownStatus(pub String);

impl FromStr for AccountStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountStatus::ALL.into_iter().find(|st| st.as_str() == s.trim()).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// An account as the rest of propusk sees it. The password hash is not part of it: it
/// is read only by the sign-in and password use cases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub id: AccountId,
    pub login: Login,
    pub full_name: String,
    pub email: Option<String>,
    pub roles: Roles,
    pub study_group: Option<String>,
    pub department: Option<String>,
    /// Student-register or personnel number.
    pub external_id: Option<String>,
    pub status: AccountStatus,
    /// The current password was issued by an administrator and must be changed (D-2).
    pub password_must_change: bool,
    /// An issued password not used by then no longer works (D-2: 72 h).
    pub password_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What an administrator supplies to register a person; validated by [`NewAccount::validate`].
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub login: String,
    pub full_name: String,
    pub email: Option<String>,
    pub roles: Vec<Role>,
    pub study_group: Option<String>,
    pub department: Option<String>,
    pub external_id: Option<String>,
}

/// The validated profile of a new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub login: Login,
    pub full_name: String,
    pub email: Option<String>,
    pub roles: Roles,
    pub study_group: Option<String>,
    pub department: Option<String>,
    pub external_id: Option<String>,
}

/// Which field of a new account is wrong, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("login: {0}")]
    Login(#[from] super::ids::LoginError),
    #[error("full name: required, at most 200 characters, no control characters")]
    FullName,
    #[error("email: not an email address")]
    Email,
    #[error("roles: at least one role is required")]
    NoRoles,
    #[error("{0}: at most 100 characters, no control characters")]
    Field(&'static str),
}

impl NewAccount {
    pub fn validate(self) -> Result<Profile, ProfileError> {
        let login = Login::parse(&self.login)?;
        let full_name = normalise_text(&self.full_name);
        if full_name.is_empty() || full_name.chars().count() > 200 || has_control(&full_name) {
            return Err(ProfileError::FullName);
        }
        let email =
            optional(self.email).map(|e| if is_email(&e) { Ok(e) } else { Err(ProfileError::Email) }).transpose()?;
        if self.roles.is_empty() {
            return Err(ProfileError::NoRoles);
        }
        let short = |name: &'static str, v: Option<String>| -> Result<Option<String>, ProfileError> {
            match optional(v) {
                Some(s) if s.chars().count() > 100 || has_control(&s) => Err(ProfileError::Field(name)),
                other => Ok(other),
            }
        };
        Ok(Profile {
            login,
            full_name,
            email,
            roles: Roles::new(self.roles),
            study_group: short("study group", self.study_group)?,
            department: short("department", self.department)?,
            external_id: short("external id", self.external_id)?,
        })
    }
}

fn normalise_text(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn optional(v: Option<String>) -> Option<String> {
    v.map(|s| normalise_text(&s)).filter(|s| !s.is_empty())
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A deliberately plain check: one `@`, something before it, a dotted domain after it.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewAccount {
        NewAccount {
            login: "Petrova.AA".into(),
            full_name: "  Петрова   Анна Алексеевна ".into(),
            email: Some("petrova@college.example".into()),
            roles: vec![Role::Teacher, Role::Student, Role::Teacher],
            study_group: Some("".into()),
            department: Some("Кафедра информатики".into()),
            external_id: None,
        }
    }

    #[test]
    fn a_valid_profile_is_normalised() {
        let p = base().validate().expect("valid");
        assert_eq!(p.login.as_str(), "petrova.aa");
        assert_eq!(p.full_name, "Петрова Анна Алексеевна");
        assert_eq!(p.roles.to_csv(), "student,teacher");
        assert_eq!(p.study_group, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(NewAccount, ProfileError)> = vec![
            (NewAccount { full_name: " ".into(), ..base() }, ProfileError::FullName),
            (NewAccount { full_name: "a\u{0}b".into(), ..base() }, ProfileError::FullName),
            (NewAccount { email: Some("nobody".into()), ..base() }, ProfileError::Email),
            (NewAccount { email: Some("a@b".into()), ..base() }, ProfileError::Email),
            (NewAccount { email: Some("<a@b.c>".into()), ..base() }, ProfileError::Email),
            (NewAccount { roles: vec![], ..base() }, ProfileError::NoRoles),
            (NewAccount { study_group: Some("x".repeat(101)), ..base() }, ProfileError::Field("study group")),
            (NewAccount { login: "1x".into(), ..base() }, ProfileError::Login(super::super::ids::LoginError::Start)),
        ];
        for (input, want) in cases {
            assert_eq!(input.clone().validate(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn roles_and_statuses_round_trip() {
        let r = Roles::parse_csv("teacher, student,,eios_admin").expect("roles");
        assert_eq!(r.to_csv(), "student,teacher,eios_admin");
        assert!(r.any_administrative());
        assert_eq!(Roles::parse_csv(&r.to_csv()), Ok(r));
        assert!(Roles::parse_csv("student,dean").is_err());
        for s in AccountStatus::ALL {
            assert_eq!(s.as_str().parse::<AccountStatus>(), Ok(s));
        }
        assert!("deleted".parse::<AccountStatus>().is_err());
    }
}
