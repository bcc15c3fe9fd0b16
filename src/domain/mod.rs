//! Pure rules of propusk: identifiers, accounts and their status, roles, passwords,
//! sessions and the credential journal.
//!
//! Nothing here performs I/O, reads the clock or draws randomness on its own: time is
//! passed in as [`Timestamp`] and randomness as an `rand::RngCore`. This room must never
//! import tokio, axum, sqlx, ldap3, rustls or governor (a tidy test enforces it).

pub mod account;
pub mod chain;
pub mod console;
pub mod ids;
pub mod journal;
pub mod lifecycle;
pub mod lockout;
pub mod oidc;
pub mod password;
pub mod roster;
pub mod session;
pub mod time;
pub mod totp;
pub mod translit;

pub use account::{Account, AccountStatus, NewAccount, Role, Roles};
pub use ids::{AccountId, Login, SessionToken, SessionTokenHash};
pub use time::Timestamp;
