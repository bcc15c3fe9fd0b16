//! What the second factor (D-5) needs from the outside: its rows in the store (enrolled
//! secrets, recovery codes, sign-ins waiting for their second factor) and a sealer that
//! encrypts secrets at rest with the master key. No adapter types here.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::AccountId;
use crate::domain::time::Timestamp;

/// An enrolled second factor. The secret is sealed ([`Sealer`]); `last_step` is the last
/// accepted RFC 6238 time step (a code is accepted once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorRecord {
    pub account_id: AccountId,
    pub sealed_secret: String,
    pub enrolled_at: Timestamp,
    pub last_step: Option<i64>,
}

/// One recovery code: its salted hash, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    pub code_hash: String,
    pub created_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// Where a pending sign-in stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingStage {
    /// Enrolled: a code (or a recovery code) is asked for.
    Code,
    /// Not enrolled: the proposed secret is shown and a code confirms it.
    Enrol,
    /// Enrolled just now: the recovery codes were shown and wait for "I have saved them".
    Saved,
}

impl PendingStage {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingStage::Code => "code",
            PendingStage::Enrol => "enrol",
            PendingStage::Saved => "saved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PendingStage::Code, PendingStage::Enrol, PendingStage::Saved].into_iter().find(|p| p.as_str() == s)
    }
}

/// A sign-in whose password was right and whose second factor is owed: bound to the
/// browser by a cookie (only its SHA-256 is stored), short-lived, used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub token_hash: String,
    pub account_id: AccountId,
    pub stage: PendingStage,
    /// While enrolling: the proposed secret, sealed.
    pub sealed_secret: Option<String>,
    /// Where to go once signed in (a local path).
    pub next: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// The second factor's row-level changes, applied inside [`super::Store::commit`].
#[derive(Debug, Clone)]
pub enum SecondFactorChange {
    InsertPending(PendingSignIn),
    /// Moves an unused pending sign-in from `from` to `to`; `NotFound` otherwise.
    AdvancePending {
        token_hash: String,
        from: PendingStage,
        to: PendingStage,
    },
    /// Marks a pending sign-in used; `NotFound` if it already was (a second use).
    UsePending {
        token_hash: String,
        at: Timestamp,
    },
    /// Forgets every pending sign-in of an account (a lock, a reset).
    DeletePendingOf {
        account: AccountId,
    },
    /// Pending sign-ins that expired before `before` (housekeeping).
    DeleteExpiredPending {
        before: Timestamp,
    },
    /// Enrols (or re-enrols) an account: the secret replaces any earlier one, with the
    /// step of the confirming code as the last accepted step.
    Enrol {
        account: AccountId,
        sealed_secret: String,
        at: Timestamp,
        step: i64,
    },
    /// Accepts `step` for `account`; `NotFound` unless it is later than the last
    /// accepted one (a replay, or a concurrent use of the same code on another node).
    AcceptStep {
        account: AccountId,
        step: i64,
    },
    /// Replaces the account's recovery codes with new ones (hashes).
    ReplaceRecoveryCodes {
        account: AccountId,
        hashes: Vec<String>,
        at: Timestamp,
    },
    /// Uses one recovery code; `NotFound` if it was used already.
    UseRecoveryCode {
        account: AccountId,
        code_hash: String,
        at: Timestamp,
    },
    /// Removes the second factor, its recovery codes and pending sign-ins (a reset).
    Remove {
        account: AccountId,
    },
}

/// The second factor's reads.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn find_second_factor(&self, account: &AccountId) -> Result<Option<SecondFactorRecord>, StoreError>;
    async fn list_recovery_codes(&self, account: &AccountId) -> Result<Vec<RecoveryCodeRecord>, StoreError>;
    async fn find_pending_sign_in(&self, token_hash: &str) -> Result<Option<PendingSignIn>, StoreError>;
}

/// Encryption at rest with the master key (AES-256-GCM). `context` is bound to the
/// ciphertext as associated data, so a sealed value moved to another row does not open.
pub trait Sealer: Send + Sync + 'static {
    fn seal(&self, context: &str, plain: &[u8]) -> Result<String, SealError>;
    fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("encryption failed")]
    Seal,
    #[error("a sealed value does not open with the master key")]
    Open,
}
