//! The `[rules]` section: whether people accept the rules of the environment.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRules {
    /// Ask every person to accept the rules at first sign-in and after each new version.
    pub required: bool,
}

impl Default for RawRules {
    fn default() -> Self {
        Self { required: true }
    }
}
