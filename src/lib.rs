//! propusk: the single sign-on and access gateway of a college's electronic learning
//! environment. See ARCHITECTURE.md for the code map and its invariants.

pub mod app;
pub mod domain;
pub mod hash;
pub mod ports;
pub mod store;
