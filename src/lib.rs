//! propusk: the single sign-on and access gateway of a college's electronic learning
//! environment. See ARCHITECTURE.md for the code map and its invariants.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod directory;
pub mod domain;
pub mod hash;
pub mod http;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod policy;
pub mod ports;
pub mod roster;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
