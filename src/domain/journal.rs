//! The credential journal and the audit log (D-10, R-22): what is recorded when a
//! login and password are issued, and when anything administrative happens.
//!
//! The journal records who issued a credential, to whom, when and by which channel, and
//! when the person first used it (the mark of receipt), never the secret itself.

use super::ids::{AccountId, Login};
use super::time::Timestamp;

/// Why a credential was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The first administrator, created when the store is empty.
    Bootstrap,
    /// A new account's first password.
    Initial,
    /// An administrator set a new password for the person.
    Reset,
}

impl IssueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Bootstrap => "bootstrap",
            IssueKind::Initial => "initial",
            IssueKind::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [IssueKind::Bootstrap, IssueKind::Initial, IssueKind::Reset].into_iter().find(|k| k.as_str() == s)
    }
}

/// How the secret reached its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Printed once on the server console at first start.
    Console,
    /// Printed once by the command-line tool to the administrator.
    Cli,
    /// Handed over on paper.
    Slip,
    /// Handed over in person by the administrator.
    InPerson,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Console => "console",
            Channel::Cli => "cli",
            Channel::Slip => "slip",
            Channel::InPerson => "in_person",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Channel::Console, Channel::Cli, Channel::Slip, Channel::InPerson].into_iter().find(|c| c.as_str() == s)
    }
}

/// One line of the credential journal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialIssue {
    pub subject: AccountId,
    pub subject_login: Login,
    /// Who issued it: an administrator's login, `system`, or `os:<user>` for the CLI.
    pub issued_by: String,
    pub issued_at: Timestamp,
    pub kind: IssueKind,
    pub channel: Channel,
    /// After this the issued password no longer works (D-2).
    pub expires_at: Timestamp,
}

/// A journal line as read back, with its number and the mark of receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalEntry {
    pub seq: i64,
    #[serde(flatten)]
    pub issue: CredentialIssue,
    /// Set when the person first signs in with the issued password.
    pub received_at: Option<Timestamp>,
}

/// One line of the audit log (D-10): UTC time, actor, action, subject, address, result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub actor: String,
    pub action: &'static str,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub outcome: &'static str,
    pub detail: String,
}
