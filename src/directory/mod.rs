//! Adapters of the directory port (`ports/directory.rs`): the embedded store, and an LDAP
//! directory through `ldap3` (`ldap/`).

mod embedded;
pub mod ldap;

pub use embedded::Embedded;
pub use ldap::{LdapDirectory, LdapSettings};

use crate::ports::directory::{Directory, DirectoryError};
use std::sync::Arc;

/// The directory the configuration names: the embedded store, or the LDAP adapter.
pub fn open(ldap: Option<LdapSettings>) -> Result<Arc<dyn Directory>, DirectoryError> {
    Ok(match ldap {
        None => Arc::new(Embedded),
        Some(s) => Arc::new(LdapDirectory::new(s)?),
    })
}
