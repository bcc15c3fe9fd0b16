//! What the metrics endpoint reads from storage at scrape time: a few aggregate counts,
//! each one query over an index or a small table. Nothing personal.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::time::Timestamp;

/// Counts that live in the store, read when Prometheus scrapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Sessions not ended whose idle and absolute limits have not passed at `now`.
    pub active_sessions: u64,
    /// Deprovisioning cases still open, closed, and withdrawn.
    pub cases_open: u64,
    pub cases_closed: u64,
    pub cases_withdrawn: u64,
    /// Deprovisioning steps still pending past their deadline (a violation, R-11, R-12).
    pub steps_overdue: u64,
}

#[async_trait]
pub trait MetricsStore: Send + Sync {
    async fn store_gauges(&self, now: Timestamp) -> Result<StoreGauges, StoreError>;
}
