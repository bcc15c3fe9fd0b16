//! propusk's own store as the directory: the account's status in the store is the only
//! lock there is, so there is nothing to write back.

use async_trait::async_trait;

use crate::domain::ids::Login;
use crate::ports::directory::{Directory, DirectoryError};

/// The embedded directory.
#[derive(Debug, Default, Clone, Copy)]
pub struct Embedded;

#[async_trait]
impl Directory for Embedded {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn set_disabled(&self, _login: &Login, _disabled: bool) -> Result<(), DirectoryError> {
        Ok(())
    }

    async fn erase(&self, _login: &Login) -> Result<(), DirectoryError> {
        Ok(())
    }
}
