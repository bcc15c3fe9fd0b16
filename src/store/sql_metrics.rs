//! The aggregate counts the metrics endpoint reads (sessions, deprovisioning cases),
//! written once for both backends and instantiated by [`sql_metrics_store!`].

/// Implements `ports::metrics::MetricsStore` for `$store`.
macro_rules! sql_metrics_store {
    ($store:ty, $db:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::ports::metrics::MetricsStore for $store {
            async fn store_gauges(
                &self,
                now: $crate::domain::Timestamp,
            ) -> Result<$crate::ports::metrics::StoreGauges, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                // Only sessions not ended are read (the partial index `sessions_live`).
                let row = sqlx::query(
                    "SELECT \
                     (SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND expires_at > $1 \
                      AND last_seen_at + idle_timeout_ms > $1) AS active_sessions, \
                     (SELECT COUNT(*) FROM lifecycle_steps WHERE state = 'pending' AND due_at < $1) AS overdue",
                )
                .bind(now.as_millis())
                .fetch_one(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                let mut g = $crate::ports::metrics::StoreGauges {
                    active_sessions: count(row.try_get("active_sessions").map_err($crate::store::map_err)?),
                    steps_overdue: count(row.try_get("overdue").map_err($crate::store::map_err)?),
                    ..Default::default()
                };
                let rows = sqlx::query(
                    "SELECT CASE WHEN withdrawn <> 0 THEN 'withdrawn' WHEN closed_at IS NULL THEN 'open' \
                     ELSE 'closed' END AS state, COUNT(*) AS n FROM lifecycle_cases GROUP BY 1",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                for r in rows {
                    let state: String = r.try_get("state").map_err($crate::store::map_err)?;
                    let n = count(r.try_get("n").map_err($crate::store::map_err)?);
                    match state.as_str() {
                        "open" => g.cases_open = n,
                        "closed" => g.cases_closed = n,
                        _ => g.cases_withdrawn = n,
                    }
                }
                Ok(g)
            }
        }
    };
}
