//! This node's operational metrics and their Prometheus text exposition
//! (format 0.0.4), written by hand.
//!
//! Everything counted on a request's path is a relaxed atomic in the process-wide
//! [`METRICS`]: no lock and no allocation per request (a route's counters are allocated
//! once, the first time the route answers). Counters of what the use cases did (sign-in
//! outcomes, locks, compromise reports, failed deliveries) are taken from the changes a
//! store commits ([`Tally`]), so they count what was recorded, on every path, without the
//! use cases knowing about metrics. Values that live in the store (sessions, deprovisioning
//! cases) are read at scrape time ([`crate::ports::metrics::StoreGauges`]).
//!
//! Must not: carry a login, an address, a token or a raw path in a label. Labels are
//! route templates, status classes and fixed names only. Metrics are per node by design;
//! Prometheus adds the nodes up.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::domain::session::SignInOutcome;
use crate::ports::lifecycle::LifecycleChange;
use crate::ports::metrics::StoreGauges;
use crate::ports::{Change, DirectoryChange, OidcChange, ProtectionChange};

/// This process's metrics.
pub static METRICS: Metrics = Metrics::new();

/// The upper bounds of the latency buckets, in seconds.
pub const BUCKETS_SECONDS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const BUCKETS_MICROS: [u64; 12] =
    [1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000];
const BUCKET_SLOTS: usize = BUCKETS_MICROS.len() + 1;

/// A latency histogram: one count per bucket (the last is above every bound) and the sum.
pub struct Histogram {
    counts: [AtomicU64; BUCKET_SLOTS],
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub const fn new() -> Self {
        Self { counts: [const { AtomicU64::new(0) }; BUCKET_SLOTS], sum_micros: AtomicU64::new(0) }
    }

    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        // A bucket counts observations less than or equal to its bound.
        let i = BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (the last one is `+Inf`, which is also the count).
    fn cumulative(&self) -> [u64; BUCKET_SLOTS] {
        let mut out = [0; BUCKET_SLOTS];
        let mut total = 0u64;
        for (o, c) in out.iter_mut().zip(&self.counts) {
            total = total.saturating_add(c.load(Ordering::Relaxed));
            *o = total;
        }
        out
    }
}

/// Requests of one route: by status class (1xx to 5xx) and their latency.
pub struct RouteStats {
    route: Box<str>,
    by_class: [AtomicU64; 5],
    latency: Histogram,
}

impl RouteStats {
    fn new(route: &str) -> Self {
        Self { route: route.into(), by_class: [const { AtomicU64::new(0) }; 5], latency: Histogram::new() }
    }
}

/// More than the router has routes; a route beyond it is counted as `other`.
const ROUTE_SLOTS: usize = 256;
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Requests by route template: an open-addressing table whose slots are filled once.
pub struct HttpMetrics {
    slots: [OnceLock<RouteStats>; ROUTE_SLOTS],
    overflow: OnceLock<RouteStats>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetrics {
    pub const fn new() -> Self {
        Self { slots: [const { OnceLock::new() }; ROUTE_SLOTS], overflow: OnceLock::new() }
    }

    /// Counts one answered request. `route` is the matched route's template (never the
    /// raw path), or `unmatched`.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let stats = self.stats(route);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        stats.by_class[class].fetch_add(1, Ordering::Relaxed);
        stats.latency.observe(elapsed);
    }

    fn stats(&self, route: &str) -> &RouteStats {
        // FNV-1a: the start of the probe.
        let hash =
            route.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let start = usize::try_from(hash % ROUTE_SLOTS as u64).unwrap_or(0);
        for k in 0..ROUTE_SLOTS {
            let s = self.slots[(start + k) % ROUTE_SLOTS].get_or_init(|| RouteStats::new(route));
            if &*s.route == route {
                return s;
            }
        }
        self.overflow.get_or_init(|| RouteStats::new("other"))
    }

    fn routes(&self) -> impl Iterator<Item = &RouteStats> {
        let mut all: Vec<&RouteStats> = self.slots.iter().chain([&self.overflow]).filter_map(OnceLock::get).collect();
        all.sort_by(|a, b| a.route.cmp(&b.route));
        all.into_iter()
    }
}

/// Which store operation a latency belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// `Store::commit`: every write, with the wait for SQLite's single writer.
    Commit,
    /// The reads on every request and every sign-in.
    FindSession,
    FindAccount,
    FindAccountSecret,
}

impl StoreOp {
    const ALL: [StoreOp; 4] = [StoreOp::Commit, StoreOp::FindSession, StoreOp::FindAccount, StoreOp::FindAccountSecret];

    fn as_str(self) -> &'static str {
        match self {
            StoreOp::Commit => "commit",
            StoreOp::FindSession => "find_session",
            StoreOp::FindAccount => "find_account",
            StoreOp::FindAccountSecret => "find_account_secret",
        }
    }
}

/// Store latency by operation.
pub struct StoreMetrics {
    latency: [Histogram; 4],
    commit_failures: AtomicU64,
}

impl StoreMetrics {
    const fn new() -> Self {
        Self { latency: [const { Histogram::new() }; 4], commit_failures: AtomicU64::new(0) }
    }

    /// Times `op` until the returned guard drops.
    pub fn time(&'static self, op: StoreOp) -> StoreTimer {
        StoreTimer { histogram: &self.latency[op as usize], started: Instant::now() }
    }
}

/// Records a store operation's latency when dropped.
pub struct StoreTimer {
    histogram: &'static Histogram,
    started: Instant,
}

impl Drop for StoreTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed());
    }
}

/// The kinds of outbound delivery whose failures are counted.
const DELIVERIES: [&str; 4] = ["backchannel_logout", "connector", "mail", "directory"];

/// What one committed change did, counted before it is handed to the store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    sign_ins: [u32; SignInOutcome::ALL.len()],
    lockouts: u32,
    compromise_reports: u32,
    /// Indexed like [`DELIVERIES`].
    delivery_failures: [u32; 4],
}

impl Tally {
    pub fn of(changes: &[Change]) -> Self {
        let mut t = Tally::default();
        t.add(changes);
        t
    }

    /// Counts `changes` too (a change committed in parts).
    pub fn add(&mut self, changes: &[Change]) {
        let t = self;
        for change in changes {
            match change {
                Change::InsertSignIn(r) => {
                    if let Some(i) = SignInOutcome::ALL.iter().position(|o| *o == r.outcome) {
                        t.sign_ins[i] += 1;
                    }
                }
                Change::Protection(ProtectionChange::PutLock { .. }) => t.lockouts += 1,
                Change::Protection(ProtectionChange::InsertSecurityEvent(e)) if e.kind == "compromise" => {
                    t.compromise_reports += 1;
                }
                Change::Oidc(OidcChange::DeliveryFailed { .. }) => t.delivery_failures[0] += 1,
                // A deprovisioning step that failed is a call out: the directory's, or a
                // service's webhook or SCIM API.
                Change::Lifecycle(LifecycleChange::FailStep { step, .. }) if step == "directory" => {
                    t.delivery_failures[3] += 1;
                }
                Change::Lifecycle(LifecycleChange::FailStep { .. }) => t.delivery_failures[1] += 1,
                Change::Protection(ProtectionChange::MailFailed { .. }) => t.delivery_failures[2] += 1,
                Change::Directory(DirectoryChange::WriteFailed { .. }) => t.delivery_failures[3] += 1,
                _ => {}
            }
        }
    }

    fn is_empty(&self) -> bool {
        *self == Tally::default()
    }
}

/// The size of the password-hashing pool, read at scrape time (`hash.rs`).
pub trait HashPoolLoad: Send + Sync + 'static {
    /// Hashes waiting for a worker.
    fn queued(&self) -> usize;
    /// Hashes allowed to wait before sign-ins are answered "busy".
    fn queue_capacity(&self) -> usize;
    /// Hashes being computed.
    fn running(&self) -> usize;
    fn workers(&self) -> usize;
}

/// Every metric of this node.
pub struct Metrics {
    pub http: HttpMetrics,
    pub store: StoreMetrics,
    sign_ins: [AtomicU64; SignInOutcome::ALL.len()],
    lockouts: AtomicU64,
    compromise_reports: AtomicU64,
    delivery_failures: [AtomicU64; 4],
    hash_pool: OnceLock<Box<dyn HashPoolLoad>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub const fn new() -> Self {
        Self {
            http: HttpMetrics::new(),
            store: StoreMetrics::new(),
            sign_ins: [const { AtomicU64::new(0) }; SignInOutcome::ALL.len()],
            lockouts: AtomicU64::new(0),
            compromise_reports: AtomicU64::new(0),
            delivery_failures: [const { AtomicU64::new(0) }; 4],
            hash_pool: OnceLock::new(),
        }
    }

    /// Adds what a change did, once the store has committed it (`ok`).
    pub fn committed(&self, tally: &Tally, ok: bool) {
        if !ok {
            self.store.commit_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if tally.is_empty() {
            return;
        }
        let add = |c: &AtomicU64, n: u32| {
            if n > 0 {
                c.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        };
        for (c, n) in self.sign_ins.iter().zip(tally.sign_ins) {
            add(c, n);
        }
        add(&self.lockouts, tally.lockouts);
        add(&self.compromise_reports, tally.compromise_reports);
        for (c, n) in self.delivery_failures.iter().zip(tally.delivery_failures) {
            add(c, n);
        }
    }

    /// The hashing pool whose queue is shown (the first one watched; a server has one).
    pub fn watch_hash_pool(&self, pool: Box<dyn HashPoolLoad>) {
        let _ = self.hash_pool.set(pool);
    }

    /// The whole exposition. `gauges` is `None` when the store could not be read.
    pub fn render(&self, gauges: Option<&StoreGauges>) -> String {
        let mut e = Exposition::default();
        e.family(
            "propusk_http_requests_total",
            "counter",
            "HTTP requests answered, by route template and status class.",
        );
        for r in self.http.routes() {
            for (class, c) in STATUS_CLASSES.iter().zip(&r.by_class) {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    e.sample("propusk_http_requests_total", &[("route", &r.route), ("status", class)], n);
                }
            }
        }
        e.family(
            "propusk_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its answer's headers, by route template.",
        );
        for r in self.http.routes() {
            e.histogram("propusk_http_request_duration_seconds", &[("route", &r.route)], &r.latency);
        }
        e.family("propusk_sign_ins_total", "counter", "Sign-in attempts recorded, by outcome.");
        for (o, c) in SignInOutcome::ALL.iter().zip(&self.sign_ins) {
            e.sample("propusk_sign_ins_total", &[("outcome", o.as_str())], c.load(Ordering::Relaxed));
        }
        e.family("propusk_lockouts_total", "counter", "Accounts locked after failed sign-ins.");
        e.sample("propusk_lockouts_total", &[], self.lockouts.load(Ordering::Relaxed));
        e.family("propusk_compromise_reports_total", "counter", "Reports that an account is compromised.");
        e.sample("propusk_compromise_reports_total", &[], self.compromise_reports.load(Ordering::Relaxed));
        e.family(
            "propusk_delivery_failures_total",
            "counter",
            "Failed outbound attempts: back-channel logout, service connector (webhook, SCIM), mail, directory write-back.",
        );
        for (kind, c) in DELIVERIES.iter().zip(&self.delivery_failures) {
            e.sample("propusk_delivery_failures_total", &[("kind", kind)], c.load(Ordering::Relaxed));
        }
        e.family(
            "propusk_store_duration_seconds",
            "histogram",
            "Store latency: commits (with the wait for the writer) and the reads of every request and sign-in.",
        );
        for (op, h) in StoreOp::ALL.iter().zip(&self.store.latency) {
            e.histogram("propusk_store_duration_seconds", &[("operation", op.as_str())], h);
        }
        e.family("propusk_store_commit_failures_total", "counter", "Commits the store refused or could not make.");
        e.sample("propusk_store_commit_failures_total", &[], self.store.commit_failures.load(Ordering::Relaxed));
        if let Some(pool) = self.hash_pool.get() {
            let gauges: [(&str, &str, usize); 4] = [
                ("propusk_hash_queue_length", "Password hashes waiting for a worker.", pool.queued()),
                (
                    "propusk_hash_queue_capacity",
                    "Password hashes allowed to wait before sign-ins are answered busy.",
                    pool.queue_capacity(),
                ),
                ("propusk_hash_workers_busy", "Password hashes being computed.", pool.running()),
                ("propusk_hash_workers", "Password hashes computed at once.", pool.workers()),
            ];
            for (name, help, v) in gauges {
                e.family(name, "gauge", help);
                e.sample(name, &[], v as u64);
            }
        }
        e.family("propusk_store_up", "gauge", "Whether the store answered this scrape's queries (1) or not (0).");
        e.sample("propusk_store_up", &[], u64::from(gauges.is_some()));
        if let Some(g) = gauges {
            e.family("propusk_sessions_active", "gauge", "Sessions neither ended nor expired (read from the store).");
            e.sample("propusk_sessions_active", &[], g.active_sessions);
            e.family("propusk_deprovisioning_cases", "gauge", "Deprovisioning cases by state (read from the store).");
            for (state, n) in [("open", g.cases_open), ("closed", g.cases_closed), ("withdrawn", g.cases_withdrawn)] {
                e.sample("propusk_deprovisioning_cases", &[("state", state)], n);
            }
            e.family(
                "propusk_deprovisioning_steps_overdue",
                "gauge",
                "Deprovisioning steps still open past their deadline (R-11, R-12).",
            );
            e.sample("propusk_deprovisioning_steps_overdue", &[], g.steps_overdue);
        }
        e.out
    }
}

/// The text format, version 0.0.4.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
        }
        self.out.push('}');
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let cumulative = h.cumulative();
        let bucket = format!("{name}_bucket");
        for (i, n) in cumulative.iter().enumerate() {
            let le = BUCKETS_SECONDS.get(i).map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            self.out.push_str(&bucket);
            self.labels(labels, Some(&le));
            let _ = writeln!(self.out, " {n}");
        }
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {sum}");
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", cumulative[BUCKET_SLOTS - 1]);
    }
}

/// `# HELP` text: backslash and line feed escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
