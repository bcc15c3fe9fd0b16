//! The counts from the store that the metrics show (sessions, deprovisioning cases),
//! read when Prometheus scrapes.

use super::{App, AppError};
use crate::ports::metrics::StoreGauges;

impl App {
    /// Active sessions and deprovisioning cases as the store holds them now: a few
    /// aggregate queries, for the metrics endpoint.
    pub async fn store_gauges(&self) -> Result<StoreGauges, AppError> {
        Ok(self.store.store_gauges(self.clock.now()).await?)
    }
}
