//! Structured logs with tracing, as text or JSON.
//!
//! What is logged is chosen at each call site; the rule everywhere is that passwords,
//! session tokens and their hashes, CSRF tokens and database credentials are never fields.

use crate::config::LogFormat;

pub fn init(format: LogFormat, level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests, benchmarks) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
