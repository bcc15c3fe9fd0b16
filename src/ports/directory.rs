//! The account directory: where a person's password is checked and where a lock must also
//! be set so that services binding to the directory directly see it.
//!
//! The embedded store is its own directory (`directory/embedded.rs`: nothing to write
//! back); an LDAP directory (`directory.kind = "ldap"`) is another adapter of this port.

use async_trait::async_trait;

use crate::domain::ids::Login;

/// What can go wrong when asking the directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The directory has no entry for the login.
    #[error("no directory entry for {0}")]
    NotFound(String),
    /// The directory could not be reached or did not answer in time.
    #[error("the directory is unavailable: {0}")]
    Unavailable(String),
    /// The directory answered with something propusk cannot use.
    #[error("the directory refused the operation: {0}")]
    Refused(String),
}

/// The directory port.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// `"embedded"` for propusk's own store; otherwise the external directory's kind.
    fn kind(&self) -> &'static str;

    /// Whether locks and erasures must be written to a directory outside propusk's store.
    fn is_external(&self) -> bool {
        self.kind() != "embedded"
    }

    /// Sets (`true`) or clears the directory's own lock of the entry of `login`.
    async fn set_disabled(&self, login: &Login, disabled: bool) -> Result<(), DirectoryError>;

    /// Removes the entry of `login` (or archives it without personal attributes, as the
    /// directory's configuration says). An entry already gone is success.
    async fn erase(&self, login: &Login) -> Result<(), DirectoryError>;
}
