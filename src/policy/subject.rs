//! Who is asking: the account's attributes the role policies look at, and the personal
//! restrictions an administrator placed on it.
//!
//! Owns the shape of that data and the rule for when a restriction is in force. Must not
//! read the store or the clock: the caller hands in the account, its restrictions and
//! the time.

use crate::domain::{Account, AccountId, AccountStatus, Login, Role, Roles, Timestamp};

use super::catalogue::ResourceId;

/// An administrator's restriction of one account's access to one resource, without
/// blocking the account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Restriction {
    pub resource: ResourceId,
    pub reason: String,
    /// The restriction lapses at this instant; `None` means until lifted.
    pub until: Option<Timestamp>,
    /// Who set it: an administrator's login, as in the credential journal.
    pub set_by: String,
}

impl Restriction {
    /// In force from when it was set until (not including) `until`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// The person a decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub(crate) account: AccountId,
    pub(crate) login: Login,
    pub(crate) roles: Roles,
    pub(crate) study_group: Option<String>,
    pub(crate) department: Option<String>,
    pub(crate) status: AccountStatus,
    pub(crate) restrictions: Vec<Restriction>,
}

impl Subject {
    /// `restrictions` are this account's, as stored; which of them are in force is
    /// decided at each decision's `now`.
    pub fn new(account: &Account, restrictions: &[Restriction]) -> Self {
        Self {
            account: account.id.clone(),
            login: account.login.clone(),
            roles: account.roles.clone(),
            study_group: account.study_group.clone(),
            department: account.department.clone(),
            status: account.status,
            restrictions: restrictions.to_vec(),
        }
    }

    /// An active account holding one role and nothing else: used to check that every
    /// resource is reachable by someone.
    pub(crate) fn probe(role: Role) -> Self {
        Self {
            account: AccountId::from_stored(format!("probe-{role}")),
            login: Login::from_stored(format!("probe.{role}")),
            roles: Roles::new([role]),
            study_group: None,
            department: None,
            status: AccountStatus::Active,
            restrictions: Vec::new(),
        }
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    pub fn login(&self) -> &Login {
        &self.login
    }

    pub fn status(&self) -> AccountStatus {
        self.status
    }

    pub fn restrictions(&self) -> &[Restriction] {
        &self.restrictions
    }

    /// The restrictions of `resource` in force at `now`.
    pub fn restrictions_of<'a>(
        &'a self,
        resource: &'a ResourceId,
        now: Timestamp,
    ) -> impl Iterator<Item = &'a Restriction> + 'a {
        self.restrictions.iter().filter(move |r| &r.resource == resource && r.in_force(now))
    }

    /// Ids of the resources restricted at `now`, without repeats.
    pub(crate) fn restricted_at(&self, now: Timestamp) -> Vec<&ResourceId> {
        let mut ids: Vec<&ResourceId> =
            self.restrictions.iter().filter(|r| r.in_force(now)).map(|r| &r.resource).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}
