//! argon2id password hashing on a bounded pool, off the async runtime.
//!
//! At most `workers` hashes run at once (each on a blocking thread) and at most
//! `queue` more wait; beyond that a caller gets [`HashError::Busy`] at once, so a storm
//! of sign-ins cannot starve the rest of the server or grow memory without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::domain::password::Password;
use crate::ports::{HashError, PasswordHasher};

/// argon2id cost parameters (OWASP defaults: m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl HashParams {
    pub fn argon2(&self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

pub struct Argon2Pool {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// Hashes running or waiting for a worker.
    in_flight: Arc<AtomicUsize>,
    workers: usize,
    max_waiting: usize,
    /// A hash of a random password with the same parameters, for [`PasswordHasher::verify_dummy`].
    dummy: String,
    /// The hashing budget of attempts from suspect networks.
    suspects: governor::DefaultDirectRateLimiter,
}

impl Argon2Pool {
    pub fn new(params: HashParams, workers: usize, max_waiting: usize) -> Result<Self, HashError> {
        Self::with_suspect_budget(params, workers, max_waiting, 5)
    }

    /// As [`new`](Self::new), with `suspects_per_second` hashes for suspect attempts.
    pub fn with_suspect_budget(
        params: HashParams,
        workers: usize,
        max_waiting: usize,
        suspects_per_second: u32,
    ) -> Result<Self, HashError> {
        let n = std::num::NonZeroU32::new(suspects_per_second).unwrap_or(std::num::NonZeroU32::MIN);
        let argon2 = params.argon2()?;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy = argon2
            .hash_password(b"propusk: no such account", &salt)
            .map_err(|e| HashError::Failed(e.to_string()))?
            .to_string();
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            in_flight: Arc::new(AtomicUsize::new(0)),
            workers: workers.max(1),
            max_waiting,
            dummy,
            suspects: governor::RateLimiter::direct(governor::Quota::per_second(n).allow_burst(n)),
        })
    }

    /// How many hashes are waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed).saturating_sub(self.workers)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let slot = InFlight::claim(&self.in_flight, self.workers + self.max_waiting)?;
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| HashError::Failed("hash pool closed".into()))?;
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || {
            let out = job(&argon2);
            drop(permit);
            drop(slot);
            out
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

/// One claimed place among the running and waiting hashes; released on drop, even when
/// the request that claimed it is cancelled.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn claim(counter: &Arc<AtomicUsize>, limit: usize) -> Result<Self, HashError> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .map_err(|_| HashError::Busy)?;
        Ok(Self(counter.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl PasswordHasher for Argon2Pool {
    async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move |a| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            a.hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    async fn verify(&self, hash: String, password: Password) -> Result<bool, HashError> {
        self.run(move |a| match PasswordHash::new(&hash) {
            Ok(parsed) => a.verify_password(password.expose().as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        })
        .await
    }

    async fn verify_dummy(&self, password: Password) -> Result<(), HashError> {
        self.verify(self.dummy.clone(), password).await.map(|_| ())
    }

    fn admit_suspect(&self) -> bool {
        self.suspects.check().is_ok()
    }

    fn busy(&self) -> bool {
        self.queued() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashParams {
        HashParams { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() {
        let pool = Argon2Pool::new(cheap(), 2, 8).expect("pool");
        let h = pool.hash(Password::new("Сирень-за-окном-42")).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(pool.verify(h.clone(), Password::new("Сирень-за-окном-42")).await.expect("verify"));
        assert!(!pool.verify(h, Password::new("сирень-за-окном-42")).await.expect("verify"));
        assert!(!pool.verify("not a hash".into(), Password::new("x")).await.expect("verify"));
        pool.verify_dummy(Password::new("x")).await.expect("dummy");
    }

    #[test]
    fn suspect_attempts_share_a_budget() {
        let pool = Argon2Pool::with_suspect_budget(cheap(), 1, 1, 3).expect("pool");
        let admitted = (0..10).filter(|_| pool.admit_suspect()).count();
        assert_eq!(admitted, 3, "a burst of the per-second budget, then refusals");
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_growing() {
        let pool = Arc::new(Argon2Pool::new(HashParams::default(), 1, 2).expect("pool"));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let p = pool.clone();
            tasks.push(tokio::spawn(async move { p.hash(Password::new("a-long-password")).await }));
        }
        let mut busy = 0;
        let mut ok = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => ok += 1,
                Err(HashError::Busy) => busy += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(ok >= 3, "one running and two queued must be served, got {ok}");
        assert!(busy >= 1, "the rest must be refused, got {busy} busy of 12");
        assert_eq!(pool.queued(), 0);
    }
}
