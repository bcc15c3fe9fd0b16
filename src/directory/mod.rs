//! Adapters of the directory port (`ports/directory.rs`).

mod embedded;

pub use embedded::Embedded;
