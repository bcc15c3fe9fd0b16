//! Points in time as UTC milliseconds since the Unix epoch.
//!
//! Stored as a plain integer in every backend so that comparisons in SQL are exact and
//! portable; formatted for people only at the edge.

use std::time::Duration;

/// A UTC instant with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    pub fn saturating_sub(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0 - earlier.0).unwrap_or(0))
    }

    /// `YYYY-MM-DD HH:MM UTC`, for pages and the CLI.
    pub fn to_human(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "?".to_owned())
    }

    /// RFC 3339, for JSON output.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_since_is_never_negative() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(t.saturating_add(Duration::from_secs(1)).as_millis(), 2_000);
        assert_eq!(t.saturating_sub(Duration::from_secs(2)).as_millis(), -1_000);
        assert_eq!(t.since(Timestamp::from_millis(5_000)), Duration::ZERO);
        assert_eq!(
            Timestamp::from_millis(i64::MAX - 1).saturating_add(Duration::from_secs(10)),
            Timestamp::from_millis(i64::MAX)
        );
    }

    #[test]
    fn formats_for_people_and_machines() {
        let t = Timestamp::from_millis(1_764_000_000_000);
        assert_eq!(t.to_human(), "2025-11-24 16:00 UTC");
        assert_eq!(t.to_rfc3339(), "2025-11-24T16:00:00Z");
    }
}
