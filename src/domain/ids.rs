//! Identifier newtypes: an account's immutable id, its login, and session tokens.
//!
//! A bare `String` id is a bug magnet; these types make it impossible to pass a login
//! where an account id is expected, or to log a session token by accident.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The immutable internal id of an account (a UUIDv7, so ids sort by creation time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// A new id for an account created at `now_ms`, with randomness from `rng`.
    pub fn generate(now_ms: i64, rng: &mut impl RngCore) -> Self {
        let mut rand_bytes = [0u8; 10];
        rng.fill_bytes(&mut rand_bytes);
        let ms = u64::try_from(now_ms).unwrap_or(0);
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        b[6..].copy_from_slice(&rand_bytes);
        b[6] = 0x70 | (b[6] & 0x0f); // version 7
        b[8] = 0x80 | (b[8] & 0x3f); // RFC 9562 variant
        Self(uuid::Uuid::from_bytes(b).to_string())
    }

    /// Wraps an id read back from the store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not a valid login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("a login has 2 to 64 characters")]
    Length,
    #[error("a login starts with a Latin letter")]
    Start,
    #[error("a login has only Latin letters, digits, '.', '_' and '-'")]
    Characters,
}

/// A login: unique, case-insensitive (kept in lower case), never reassigned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    pub const MAX_LEN: usize = 64;

    /// Parses what a person typed: surrounding spaces are dropped and letters lowered.
    pub fn parse(input: &str) -> Result<Self, LoginError> {
        let s = input.trim().to_ascii_lowercase();
        if s.len() < 2 || s.len() > Self::MAX_LEN {
            return Err(LoginError::Length);
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(LoginError::Start);
        }
        if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')) {
            return Err(LoginError::Characters);
        }
        Ok(Self(s))
    }

    /// Wraps a login read back from the store (already validated when written).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret a browser holds in its session cookie. Only its hash is stored, so a copy
/// of the database does not let anyone take over a session. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(URL_SAFE_NO_PAD.encode(b))
    }

    /// Accepts a token from a cookie if it has the shape of one; anything else is `None`.
    pub fn from_cookie(s: &str) -> Option<Self> {
        (s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SessionTokenHash {
        SessionTokenHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The anti-forgery token bound to this session: derived, so nothing more is stored,
    /// and one-way, so a page that shows it does not reveal the session token.
    pub fn csrf_token(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"propusk csrf v1\0");
        h.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(h.finalize())
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// The stored form of a session token (hex SHA-256); also the session's public handle in
/// pages ("end this session"), since it cannot be turned back into the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SessionTokenHash(String);

impl SessionTokenHash {
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// Accepts a handle posted back by a form if it has the shape of one.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn logins_are_normalised_and_validated() {
        let cases: &[(&str, Result<&str, LoginError>)] = &[
            ("ivanov.ii", Ok("ivanov.ii")),
            ("  Ivanov_II ", Ok("ivanov_ii")),
            ("a", Err(LoginError::Length)),
            ("1abc", Err(LoginError::Start)),
            ("-abc", Err(LoginError::Start)),
            ("иванов", Err(LoginError::Start)),
            ("ivan ov", Err(LoginError::Characters)),
            ("ivan'--", Err(LoginError::Characters)),
            ("ivan*)(uid=*", Err(LoginError::Characters)),
        ];
        for (input, want) in cases {
            let got = Login::parse(input);
            assert_eq!(got.as_ref().map(Login::as_str).map_err(|e| *e), *want, "{input:?}");
        }
        assert_eq!(Login::parse(&"a".repeat(65)), Err(LoginError::Length));
        assert!(Login::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn account_ids_are_uuid_v7_and_sort_by_time() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = AccountId::generate(1_000, &mut rng);
        let b = AccountId::generate(2_000, &mut rng);
        assert!(a < b);
        let parsed = uuid::Uuid::parse_str(a.as_str()).expect("uuid");
        assert_eq!(parsed.get_version_num(), 7);
    }

    #[test]
    fn session_tokens_hash_one_way_and_hide_in_debug() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let t = SessionToken::generate(&mut rng);
        assert_eq!(t.expose().len(), 43);
        assert_eq!(SessionToken::from_cookie(t.expose()).as_ref(), Some(&t));
        assert!(SessionToken::from_cookie("short").is_none());
        assert!(SessionToken::from_cookie(&"%".repeat(43)).is_none());
        let h = t.hash();
        assert_eq!(SessionTokenHash::parse(h.as_str()), Some(h.clone()));
        assert!(!format!("{t:?}").contains(t.expose()));
        assert_ne!(t.csrf_token(), t.expose());
        assert_ne!(t.csrf_token(), h.as_str());
    }
}
