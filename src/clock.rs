//! The time every node agrees on: the database server's clock, read when the store opens
//! and every minute after, and carried forward between readings by this machine's
//! monotonic clock. Expiry written by one node is decided by another (codes, tokens,
//! sessions, locks, pending sign-ins, leases, TOTP steps); with every node on the
//! database's time, a node whose own clock is off by minutes still decides exactly as
//! the others do. The embedded store has no clock of its own, so with SQLite the time is
//! this machine's.
//!
//! Between readings the time runs on this machine's monotonic clock, so stepping the
//! machine's own clock changes nothing; a new reading replaces the old one outright (a
//! database whose clock was stepped moves every node with it at the next reading).

use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::domain::Timestamp;
use crate::ports::{Clock, Store, StoreError, SystemClock};

/// How often the database's clock is read again.
pub const RESYNC: Duration = Duration::from_secs(60);

/// A reading that took longer than this round trip is not trusted over an earlier one.
const SLOW_READING: Duration = Duration::from_secs(1);

/// How far this machine's clock may be from the database's before a warning is logged.
pub const WARN_OFFSET: Duration = Duration::from_secs(2);

/// The database's time at a monotonic instant of this machine.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    at: Instant,
    time: Timestamp,
}

/// What a reading of the database's clock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// This machine's clock minus the database's, in milliseconds.
    pub offset_ms: i64,
    /// The query's round trip: the reading is exact to half of it.
    pub round_trip: Duration,
}

/// A [`Clock`] on the database's time (see the module's documentation).
#[derive(Debug, Default)]
pub struct DatabaseClock {
    anchor: RwLock<Option<Anchor>>,
}

impl DatabaseClock {
    /// Reads the database's clock and takes its time from now on. `Ok(None)` for a
    /// store without a clock of its own (the time stays this machine's). A failed or
    /// slow reading keeps the previous one.
    pub async fn sync(&self, store: &dyn Store) -> Result<Option<Reading>, StoreError> {
        let asked = Instant::now();
        let Some(time) = store.database_time().await? else {
            return Ok(None);
        };
        let round_trip = asked.elapsed();
        // The server read its clock somewhere in the round trip; the middle is the best guess.
        let at = asked + round_trip / 2;
        let local = SystemClock.now().as_millis() - i64::try_from(at.elapsed().as_millis()).unwrap_or(0);
        let reading = Reading { offset_ms: local - time.as_millis(), round_trip };
        let mut anchor = self.anchor.write().unwrap_or_else(|p| p.into_inner());
        if anchor.is_none() || round_trip <= SLOW_READING {
            *anchor = Some(Anchor { at, time });
        }
        Ok(Some(reading))
    }

    /// Reads the database's clock, logging how far this machine's is from it and
    /// warning past [`WARN_OFFSET`].
    pub async fn sync_and_report(&self, store: &dyn Store) -> Result<(), StoreError> {
        if let Some(r) = self.sync(store).await? {
            let off = Duration::from_millis(r.offset_ms.unsigned_abs());
            if off >= WARN_OFFSET {
                tracing::warn!(
                    offset_ms = r.offset_ms,
                    "this machine's clock is off from the database's; propusk keeps the database's time, \
                     but logs and certificate checks use this machine's: run NTP (see deploy/clocks.md)"
                );
            } else {
                tracing::debug!(offset_ms = r.offset_ms, round_trip_ms = r.round_trip.as_millis(), "clock read");
            }
        }
        Ok(())
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> Timestamp {
        let anchor = *self.anchor.read().unwrap_or_else(|p| p.into_inner());
        match anchor {
            Some(a) => a.time.saturating_add(a.at.elapsed()),
            None => SystemClock.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_database_clock_the_time_is_this_machines() {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let clock = DatabaseClock::default();
        assert_eq!(clock.sync(store.as_ref()).await.expect("sync"), None);
        let (before, now, after) = (SystemClock.now(), clock.now(), SystemClock.now());
        assert!(before <= now && now <= after, "{before:?} {now:?} {after:?}");
    }

    #[test]
    fn the_time_runs_on_from_the_last_reading() {
        let clock = DatabaseClock::default();
        let far = SystemClock.now().saturating_add(Duration::from_secs(3600));
        *clock.anchor.write().expect("lock") = Some(Anchor { at: Instant::now(), time: far });
        std::thread::sleep(Duration::from_millis(20));
        let first = clock.now();
        assert!(first.since(far) >= Duration::from_millis(20) && first.since(far) < Duration::from_secs(5));
        // A new reading replaces the old one.
        let here = SystemClock.now();
        *clock.anchor.write().expect("lock") = Some(Anchor { at: Instant::now(), time: here });
        assert!(clock.now().since(here) < Duration::from_secs(5) && clock.now() < first);
    }
}
