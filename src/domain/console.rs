//! Who may do what in the administrators' console (R-5–, D-11).
//!
//! A permission is granted by a role; an account holds the union of its roles'
//! permissions. The table is the one place that says it: the console's pages, its JSON
//! API and the use cases behind them all ask [`Permissions::allows`].

use super::account::{Role, Roles};

/// One thing the console lets a person see or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Search people and see a person's profile, roles, restrictions and sign-ins.
    ViewUsers,
    /// Create people, change roles, suspend, activate, reset passwords, restrict.
    ManageUsers,
    /// Unlock, restore after compromise.
    ManageSecurity,
    /// Register a group from a file and print its credential slips.
    BulkRegister,
    /// Read the credential journal and the audit log; export them.
    ViewJournals,
    /// The "I cannot sign in" queue.
    HandleRequests,
    /// Announcements and maintenance windows.
    ManageNotices,
    /// The environment's reports.
    ViewReports,
    /// Who is entitled to each library system, exportable.
    ViewLibraryList,
    /// Create and end inspectors' accounts (D-11).
    ManageInspectors,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ViewUsers,
        Permission::ManageUsers,
        Permission::ManageSecurity,
        Permission::BulkRegister,
        Permission::ViewJournals,
        Permission::HandleRequests,
        Permission::ManageNotices,
        Permission::ViewReports,
        Permission::ViewLibraryList,
        Permission::ManageInspectors,
    ];

    /// Whether the permission only reads (what an inspector may hold).
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            Permission::ViewUsers | Permission::ViewJournals | Permission::ViewReports | Permission::ViewLibraryList
        )
    }
}

/// What one role grants.
pub fn granted_by(role: Role) -> &'static [Permission] {
    use Permission as P;
    match role {
        Role::Student | Role::Teacher | Role::Staff => &[],
        Role::EiosAdmin => &[
            P::ViewUsers,
            P::ManageUsers,
            P::ManageSecurity,
            P::BulkRegister,
            P::ViewJournals,
            P::HandleRequests,
            P::ManageNotices,
            P::ViewReports,
            P::ViewLibraryList,
            P::ManageInspectors,
        ],
        Role::SecurityOfficer => &[P::ViewUsers, P::ManageSecurity, P::ViewJournals, P::ViewReports],
        Role::Librarian => &[P::ViewLibraryList],
        Role::Inspector => &[P::ViewUsers, P::ViewJournals, P::ViewReports, P::ViewLibraryList],
    }
}

/// The permissions an account holds through all of its roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(Vec<Permission>);

impl Permissions {
    pub fn of(roles: &Roles) -> Self {
        let mut v: Vec<Permission> = roles.iter().flat_map(|r| granted_by(r).iter().copied()).collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    pub fn allows(&self, p: Permission) -> bool {
        self.0.contains(&p)
    }

    /// Whether the console is open to this account at all.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }
}

/// The longest an inspector's account may last (D-11).
pub const INSPECTOR_MAX_DAYS: u32 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learners_and_staff_have_no_console() {
        for r in [Role::Student, Role::Teacher, Role::Staff] {
            assert!(!Permissions::of(&Roles::new([r])).any(), "{r}");
        }
    }

    #[test]
    fn an_inspector_only_reads() {
        let p = Permissions::of(&Roles::new([Role::Inspector]));
        assert!(p.any());
        for perm in p.iter() {
            assert!(perm.is_read_only(), "{perm:?}");
        }
        assert!(!p.allows(Permission::ManageUsers));
    }

    #[test]
    fn a_librarian_sees_only_the_library_list() {
        let p = Permissions::of(&Roles::new([Role::Librarian]));
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![Permission::ViewLibraryList]);
    }

    #[test]
    fn roles_add_up() {
        let p = Permissions::of(&Roles::new([Role::Librarian, Role::SecurityOfficer]));
        assert!(p.allows(Permission::ViewLibraryList));
        assert!(p.allows(Permission::ManageSecurity));
        assert!(!p.allows(Permission::BulkRegister));
    }

    #[test]
    fn the_environment_administrator_holds_every_permission() {
        let p = Permissions::of(&Roles::new([Role::EiosAdmin]));
        for perm in Permission::ALL {
            assert!(p.allows(perm), "{perm:?}");
        }
    }
}
