//! argon2id password hashing on a bounded pool, off the async runtime.
//!
//! At most `workers` hashes run at once, each on one of `workers` threads of the pool's
//! own, and at most `queue` more wait; beyond that a caller gets [`HashError::Busy`] at
//! once, so a storm of sign-ins cannot starve the rest of the server or grow memory
//! without bound. Each thread keeps its argon2 memory (19 MiB with the defaults) from one
//! verification to the next: allocating it afresh for every verification, on whichever
//! thread ran it, left the allocator holding hundreds of megabytes after a rush.
//!
//! Waiting hashes are served in two classes: a sign-in from a device known for
//! its account ([`PasswordHasher::verify_known`]) and a new password being hashed go
//! before every other waiting verification, and the other verifications may fill only
//! half of the queue, so room is always kept for the owners while strangers guess.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::Output;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use tokio::sync::oneshot;

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

/// argon2id for issued passwords (`PasswordHasher::hash_issued`): 64 KiB, one pass.
/// The secret is random (about 79 bits) and works for 72 hours until it is changed; the
/// person's own password is hashed with the configured parameters.
pub const ISSUED_PARAMS: HashParams = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };

impl HashParams {
    pub fn argon2(&self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Which waiting line a hash joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Known devices and new passwords: served first, the whole queue open to them.
    First,
    /// Every other verification (unknown devices, unknown logins).
    Rest,
}

pub struct Argon2Pool {
    argon2: Argon2<'static>,
    /// The workers' queue; the gate lets at most `workers` jobs into it at once.
    jobs: std::sync::mpsc::Sender<Job>,
    gate: Arc<Gate>,
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
        let jobs = spawn_workers(workers.max(1))?;
        Ok(Self {
            argon2,
            jobs,
            gate: Arc::new(Gate::new(workers.max(1))),
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

    /// A view of this pool's queue for the metrics, read at scrape time.
    pub fn load(&self) -> PoolLoad {
        PoolLoad { in_flight: self.in_flight.clone(), workers: self.workers, max_waiting: self.max_waiting }
    }

    async fn run<T: Send + 'static>(
        &self,
        class: Class,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let waiting = match class {
            Class::First => self.max_waiting,
            Class::Rest => self.max_waiting - self.max_waiting / 2,
        };
        let slot = InFlight::claim(&self.in_flight, self.workers + waiting)?;
        let permit = self.gate.enter(class).await?;
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |memory: &mut Vec<Block>| {
                // A panic loses this answer (the caller sees an error), not the worker.
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(memory)));
                drop(permit);
                drop(slot);
                if let Ok(out) = out {
                    let _ = tx.send(out);
                }
            }))
            .map_err(|_| HashError::Failed("hash pool closed".into()))?;
        rx.await.map_err(|_| HashError::Failed("a hash worker failed".into()))
    }
}

/// A hash to run on a worker, with the worker's memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Starts `workers` threads that run jobs until the pool (the sender) is dropped. A
/// thread's memory grows at its first verification to what the parameters need, and stays.
fn spawn_workers(workers: usize) -> Result<std::sync::mpsc::Sender<Job>, HashError> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                let mut memory = Vec::new();
                loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| HashError::Failed(format!("cannot start a hash worker: {e}")))?;
    }
    Ok(tx)
}

/// The queue of an [`Argon2Pool`], as the metrics show it.
pub struct PoolLoad {
    in_flight: Arc<AtomicUsize>,
    workers: usize,
    max_waiting: usize,
}

impl crate::metrics::HashPoolLoad for PoolLoad {
    fn queued(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed).saturating_sub(self.workers)
    }

    fn queue_capacity(&self) -> usize {
        self.max_waiting
    }

    fn running(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed).min(self.workers)
    }

    fn workers(&self) -> usize {
        self.workers
    }
}

/// The workers' turns, handed to the first class before the rest; FIFO within a class.
struct Gate {
    state: Mutex<GateState>,
}

struct GateState {
    free: usize,
    first: VecDeque<oneshot::Sender<()>>,
    rest: VecDeque<oneshot::Sender<()>>,
}

impl Gate {
    fn new(workers: usize) -> Self {
        Self { state: Mutex::new(GateState { free: workers, first: VecDeque::new(), rest: VecDeque::new() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a worker's turn; the turn is given back when the [`Turn`] drops.
    async fn enter(self: &Arc<Self>, class: Class) -> Result<Turn, HashError> {
        let rx = {
            let mut s = self.lock();
            if s.free > 0 {
                s.free -= 1;
                return Ok(Turn(self.clone()));
            }
            let (tx, rx) = oneshot::channel();
            match class {
                Class::First => s.first.push_back(tx),
                Class::Rest => s.rest.push_back(tx),
            }
            rx
        };
        let mut waiting = Waiting { rx, gate: self.clone(), done: false };
        let handed = (&mut waiting.rx).await;
        waiting.done = true;
        handed.map(|()| Turn(self.clone())).map_err(|_| HashError::Failed("hash pool closed".into()))
    }

    /// Hands a finished turn to the next waiter, first class first, or frees it.
    fn leave(&self) {
        loop {
            let next = {
                let mut s = self.lock();
                match s.first.pop_front().or_else(|| s.rest.pop_front()) {
                    Some(tx) => tx,
                    None => {
                        s.free += 1;
                        return;
                    }
                }
            };
            // A waiter that gave up (its request was cancelled) is skipped.
            if next.send(()).is_ok() {
                return;
            }
        }
    }
}

/// A worker's turn.
struct Turn(Arc<Gate>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A place in a waiting line; a turn handed to a waiter that was cancelled meanwhile is
/// passed on rather than lost.
struct Waiting {
    rx: oneshot::Receiver<()>,
    gate: Arc<Gate>,
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            self.rx.close();
            if self.rx.try_recv().is_ok() {
                self.gate.leave();
            }
        }
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
        let a = self.argon2.clone();
        self.run(Class::First, move |_| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            a.hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    async fn hash_issued(&self, passwords: Vec<Password>) -> Result<Vec<String>, HashError> {
        let argon2 = ISSUED_PARAMS.argon2()?;
        let chunk = passwords.len().div_ceil(self.workers).max(1);
        let mut jobs = Vec::new();
        let mut rest = passwords;
        while !rest.is_empty() {
            let tail = rest.split_off(chunk.min(rest.len()));
            let part = std::mem::replace(&mut rest, tail);
            let argon2 = argon2.clone();
            jobs.push(tokio::task::spawn_blocking(move || {
                part.iter()
                    .map(|p| {
                        let salt = SaltString::generate(&mut rand::rngs::OsRng);
                        argon2
                            .hash_password(p.expose().as_bytes(), &salt)
                            .map(|h| h.to_string())
                            .map_err(|e| HashError::Failed(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()
            }));
        }
        let mut out = Vec::new();
        for job in jobs {
            out.extend(job.await.map_err(|e| HashError::Failed(e.to_string()))??);
        }
        Ok(out)
    }

    async fn verify(&self, hash: String, password: Password) -> Result<bool, HashError> {
        let dummy = self.dummy.clone();
        self.run(Class::Rest, move |memory| verify_in_full_time(memory, &hash, &dummy, &password)).await
    }

    async fn verify_known(&self, hash: String, password: Password) -> Result<bool, HashError> {
        let dummy = self.dummy.clone();
        self.run(Class::First, move |memory| verify_in_full_time(memory, &hash, &dummy, &password)).await
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

/// [`verify_with`], taking at least the time of a hash with the configured parameters
/// (those of `dummy`): an issued password is hashed lightly (`ISSUED_PARAMS`), and a
/// wrong password for such an account must not answer sooner than one for an unknown
/// login (which verifies `dummy`), or the timing would tell which accounts exist.
fn verify_in_full_time(memory: &mut Vec<Block>, hash: &str, dummy: &str, password: &Password) -> bool {
    let ok = verify_with(memory, hash, password);
    if cost(hash) < cost(dummy) {
        verify_with(memory, dummy, password);
    }
    ok
}

/// Blocks times passes: what a verification of `hash` costs, 0 when it cannot be read.
fn cost(hash: &str) -> u64 {
    PasswordHash::new(hash)
        .ok()
        .and_then(|h| Params::try_from(&h).ok())
        .map_or(0, |p| p.block_count() as u64 * u64::from(p.t_cost()))
}

/// Does `password` match the PHC string `hash`? Computed in `memory` (grown when the
/// hash's parameters need more), with the constant-time comparison of [`Output`].
fn verify_with(memory: &mut Vec<Block>, hash: &str, password: &Password) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    Argon2::new(algorithm, version.unwrap_or_default(), params)
        .hash_password_into_with_memory(password.expose().as_bytes(), salt, out, &mut memory[..])
        .is_ok()
        && Output::new(out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier as _;

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

    /// The reused memory gives argon2's own answer for every parameter set, in any order
    /// (a larger hash before a smaller one and back), and a changed hash byte fails.
    #[test]
    fn verification_in_reused_memory_agrees_with_argon2() {
        let mut memory = Vec::new();
        let sets = [(64, 1, 1), (256, 2, 2), (19_456, 2, 1), (64, 3, 1), (1_024, 1, 4)];
        for (m, t, p) in sets.into_iter().chain(sets.into_iter().rev()) {
            let a = HashParams { memory_kib: m, iterations: t, parallelism: p }.argon2().expect("params");
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let phc = a.hash_password("Пароль-в-памяти".as_bytes(), &salt).expect("hash").to_string();
            let parsed = PasswordHash::new(&phc).expect("phc");
            for (password, right) in [("Пароль-в-памяти", true), ("пароль-в-памяти", false), ("", false)]
            {
                let own = a.verify_password(password.as_bytes(), &parsed).is_ok();
                assert_eq!(own, right);
                assert_eq!(verify_with(&mut memory, &phc, &Password::new(password)), right, "m={m} t={t} p={p}");
            }
            // A character well inside the hash's base64, so that the string stays canonical.
            let (head, tail) = phc.split_at(phc.len() - 10);
            let swapped = if tail.starts_with('A') { "B" } else { "A" };
            let tampered = format!("{head}{swapped}{}", &tail[1..]);
            assert!(PasswordHash::new(&tampered).is_ok());
            assert!(!verify_with(&mut memory, &tampered, &Password::new("Пароль-в-памяти")));
        }
        assert_eq!(memory.len(), 19_456, "the memory grew to the largest set and stayed");
    }

    /// A lightly hashed issued password costs a full verification as well: its cost is
    /// counted in blocks times passes, and only a lighter hash is padded.
    #[test]
    fn a_light_hash_is_verified_in_the_time_of_a_full_one() {
        let full = HashParams { memory_kib: 1_024, iterations: 2, parallelism: 1 };
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy = full.argon2().expect("params").hash_password(b"dummy", &salt).expect("hash").to_string();
        let light = ISSUED_PARAMS.argon2().expect("params").hash_password(b"issued", &salt).expect("hash").to_string();
        assert_eq!(cost(&dummy), 1_024 * 2);
        assert_eq!(cost(&light), 64);
        assert_eq!(cost("not a hash"), 0);
        let mut memory = Vec::new();
        assert!(verify_in_full_time(&mut memory, &light, &dummy, &Password::new("issued")));
        assert!(!verify_in_full_time(&mut memory, &light, &dummy, &Password::new("wrong")));
        assert_eq!(memory.len(), 1_024, "the full verification ran beside the light one");
        let mut memory = Vec::new();
        assert!(verify_in_full_time(&mut memory, &dummy, &dummy, &Password::new("dummy")));
        assert_eq!(memory.len(), 1_024);
        let mut memory = Vec::new();
        assert!(verify_in_full_time(&mut memory, &light, &light, &Password::new("issued")));
        assert_eq!(memory.len(), 64, "no padding when the configured hash is as light");
    }

    #[tokio::test]
    async fn issued_passwords_are_hashed_in_bulk_and_verify_like_any_other() {
        let pool = Argon2Pool::new(HashParams::default(), 2, 8).expect("pool");
        let passwords: Vec<Password> = (0..9).map(|i| Password::new(format!("issued-{i}-abcd"))).collect();
        let hashes = pool.hash_issued(passwords.clone()).await.expect("hash");
        assert_eq!(hashes.len(), 9, "one hash per password, in order");
        for (p, h) in passwords.iter().zip(&hashes) {
            assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
            assert!(pool.verify(h.clone(), p.clone()).await.expect("verify"));
        }
        assert!(!pool.verify(hashes[0].clone(), passwords[1].clone()).await.expect("verify"));
        assert!(pool.hash_issued(Vec::new()).await.expect("none").is_empty());
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

    /// Slow enough that a hash outlasts the few milliseconds a test needs to queue others.
    fn slow() -> HashParams {
        HashParams { memory_kib: 65_536, iterations: 3, parallelism: 1 }
    }

    #[tokio::test]
    async fn known_devices_go_first_and_keep_room_in_the_queue() {
        let pool = Arc::new(Argon2Pool::new(slow(), 1, 4).expect("pool"));
        let h = pool.hash(Password::new("a-long-password")).await.expect("hash");
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn = |known: bool, tag: &'static str| {
            let (p, h, order) = (pool.clone(), h.clone(), order.clone());
            tokio::spawn(async move {
                let pw = Password::new("a-long-password");
                let r = if known { p.verify_known(h, pw).await } else { p.verify(h, pw).await };
                if r.is_ok() {
                    order.lock().expect("order").push(tag);
                }
                r.map(|_| ())
            })
        };
        // One running and two strangers waiting fill the strangers' half of the queue.
        let mut strangers = vec![spawn(false, "s1")];
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        strangers.push(spawn(false, "s2"));
        strangers.push(spawn(false, "s3"));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let refused = spawn(false, "s4").await.expect("join");
        assert!(matches!(refused, Err(HashError::Busy)), "strangers may use half the queue");
        let owner = spawn(true, "owner");
        owner.await.expect("join").expect("the owner finds room");
        for s in strangers {
            s.await.expect("join").expect("served");
        }
        let order = order.lock().expect("order").clone();
        assert_eq!(order, ["s1", "owner", "s2", "s3"], "the owner went before the waiting strangers");
        assert_eq!(pool.queued(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_passes_its_turn_on() {
        let pool = Arc::new(Argon2Pool::new(slow(), 1, 8).expect("pool"));
        let h = pool.hash(Password::new("a-long-password")).await.expect("hash");
        let running = {
            let (p, h) = (pool.clone(), h.clone());
            tokio::spawn(async move { p.verify(h, Password::new("x")).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let cancelled = {
            let (p, h) = (pool.clone(), h.clone());
            tokio::spawn(async move { p.verify_known(h, Password::new("x")).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        cancelled.abort();
        running.await.expect("join").expect("ran");
        let after = tokio::time::timeout(std::time::Duration::from_secs(10), pool.verify(h, Password::new("x"))).await;
        assert!(after.expect("the turn was not lost").is_ok());
        assert_eq!(pool.queued(), 0);
    }
}
