//! Tests of the policy room: the shipped directory, decisions by role, status and
//! restriction, the forward-auth lookup, and precise errors for broken inputs.
//!
//! Owns test fixtures only; must not be needed by anything outside `#[cfg(test)]`.

mod decide;
mod load;

use std::path::{Path, PathBuf};

use crate::domain::{Account, AccountId, AccountStatus, Login, Role, Roles, Timestamp};

use super::{Policies, ResourceId, Restriction, Subject};

pub(super) const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

pub(super) fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

pub(super) fn shipped() -> Policies {
    match Policies::load(&shipped_dir()) {
        Ok(p) => p,
        Err(e) => panic!("the shipped policies do not load:\n{e}"),
    }
}

pub(super) fn rid(s: &str) -> ResourceId {
    ResourceId::parse(s).expect("resource id")
}

pub(super) fn account(roles: &[Role], status: AccountStatus) -> Account {
    Account {
        id: AccountId::from_stored("0190a1b2-0000-7000-8000-000000000001".into()),
        login: Login::parse("ivanov.ii").expect("login"),
        full_name: "Иванов Иван Ильич".into(),
        email: None,
        roles: Roles::new(roles.iter().copied()),
        study_group: Some("ИС-21".into()),
        department: None,
        external_id: None,
        status,
        password_must_change: false,
        password_expires_at: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
    }
}

pub(super) fn subject(roles: &[Role], restrictions: &[Restriction]) -> Subject {
    Subject::new(&account(roles, AccountStatus::Active), restrictions)
}

#[test]
fn policies_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Policies>();
}
