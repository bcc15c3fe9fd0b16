//! Sign-in throughput and footprint of the gateway, written to `BENCHMARKS.md`.
//!
//! Measures the bare argon2id verification rate (one thread, one per core); password
//! sign-ins per second and their latency through the real HTTPS server, with the default
//! argon2 parameters and with the cheapest ones (the gateway's own cost: TLS, HTTP, CSRF,
//! store writes, session); the ratio of the first to bare argon2; and the resident memory
//! of an idle `propusk serve`. The load generator shares the process and the cores; its
//! CPU share is reported. Run with `cargo bench --bench signin`.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use propusk::app::Actor;
use propusk::config::{Config, RawConfig};
use propusk::domain::journal::Channel;
use propusk::domain::{NewAccount, Role};
use propusk::hash::HashParams;

/// The allocator of the `propusk` binary, so that the server in this process runs as it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACCOUNTS: usize = 200;
const HASH_RUN: Duration = Duration::from_secs(5);
const LOAD_RUN: Duration = Duration::from_secs(10);
const BEGIN: &str = "<!-- signin:begin -->";
const END: &str = "<!-- signin:end -->";
const LOAD_THREAD: &str = "signin-load";
/// Sign-in rate limits high enough never to refuse the one load-generator address and
/// its accounts (the limiter still runs): throughput is measured here, not the brake.
const UNTHROTTLED: u32 = 1_000_000;
const CHEAPEST: HashParams = HashParams { memory_kib: 8, iterations: 1, parallelism: 1 };
/// Clients signing in at once with the cheapest parameters.
const CHEAP_CLIENTS: usize = 32;

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs benchmarks without `--bench`: nothing to do then.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let default = HashParams::default();

    eprintln!("signin: measuring argon2, two servers under load and an idle server…");
    let bare_1 = bare_argon2(default, 1)?;
    // Measured on both sides of the sign-ins it is compared with, as it drifts over time.
    let bare_before = bare_argon2(default, cores)?;
    let full = sign_in_load(default)?;
    let bare_after = bare_argon2(default, cores)?;
    let cheap = sign_in_load(CHEAPEST)?;
    let rss_kib = idle_rss_kib()?;

    let body = report(cores, [bare_1, bare_before, bare_after], &full, &cheap, rss_kib);
    println!("{body}");
    write_section(&body)
}

/// Verifications per second of one precomputed hash, on `threads` threads at once; and
/// the share of the machine that other processes took meanwhile.
fn bare_argon2(params: HashParams, threads: usize) -> anyhow::Result<(f64, f64)> {
    const PASSWORD: &[u8] = b"Kx7-ponedelnik-vtornik";
    let argon2 = params.argon2()?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon2.hash_password(PASSWORD, &salt).map_err(|e| anyhow!("{e}"))?.to_string();
    let before = cpu_seconds();
    let start = Instant::now();
    let deadline = start + HASH_RUN;
    let parsed = PasswordHash::new(&hash).map_err(|e| anyhow!("{e}"))?;
    let verify = || {
        let mut n = 0u64;
        while Instant::now() < deadline {
            let ok = argon2.verify_password(PASSWORD, &parsed).is_ok();
            assert!(ok, "the right password must verify");
            n += 1;
        }
        n
    };
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads).map(|_| s.spawn(verify)).collect();
        workers.into_iter().map(|w| w.join().expect("verifier")).sum()
    });
    let secs = start.elapsed().as_secs_f64();
    Ok((total as f64 / secs, others_share(before, cpu_seconds(), secs)))
}

/// What one run of sign-ins against a server measured (or one client's part of it).
#[derive(Default)]
struct Load {
    clients: usize,
    /// The HTTP version the clients and the server agreed on.
    protocol: String,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    secs: f64,
    /// Latencies of the successful sign-ins, sorted once the run is over.
    latencies: Vec<Duration>,
    /// CPU seconds used during the run by the whole process and by the load generator.
    cpu_total: f64,
    cpu_load: f64,
    /// The share of the machine's CPU that other processes took during the run.
    others: f64,
}

impl Load {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        let i = (self.latencies.len().saturating_sub(1) as f64 * q).round() as usize;
        self.latencies.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    }

    fn absorb(&mut self, part: Load) {
        self.ok += part.ok;
        self.errors += part.errors;
        self.first_error = self.first_error.take().or(part.first_error);
        self.latencies.extend(part.latencies);
    }
}

/// Starts a server in a temporary directory with these argon2 parameters, gives it
/// `ACCOUNTS` accounts, and signs in against it for `LOAD_RUN`.
fn sign_in_load(params: HashParams) -> anyhow::Result<Load> {
    let dir = tempfile::tempdir()?;
    let config = config_for(dir.path(), params)?;
    // With the real parameters the hash workers are the limit and a few waiting sign-ins
    // keep them busy; with the cheapest, the rest of the server is, and the clients must
    // be enough to keep every core busy rather than wait on each other's disk syncs.
    let clients = if params == CHEAPEST { CHEAP_CLIENTS } else { 2 * config.hash_workers + 2 };
    let server_rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("propusk-server").build()?;
    let creds = Arc::new(server_rt.block_on(create_accounts(&config))?);

    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(propusk::server::serve(
        config,
        move |addr, _| {
            let _ = addr_tx.send(addr);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(60)) else {
        server_rt.block_on(server)??;
        anyhow::bail!("the server stopped before listening");
    };
    let ca = std::fs::read(dir.path().join("certs/dev-ca.pem")).context("dev-ca.pem")?;
    let ca = reqwest::Certificate::from_pem(&ca)?;

    let load_rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name(LOAD_THREAD).build()?;
    let load = load_rt.block_on(drive(addr, ca, creds, clients));
    drop(load_rt);
    let _ = stop_tx.send(());
    server_rt.block_on(server)??;
    load
}

fn config_for(dir: &Path, p: HashParams) -> anyhow::Result<Config> {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\
         [tls]\ndev_cert_dir = {certs:?}\n\
         [store]\nurl = {store:?}\n\
         [keys]\nmaster_key_file = {master:?}\n\
         [policies]\ndir = {policies:?}\n\
         [protection]\naddress_per_minute = {UNTHROTTLED}\nlogin_per_minute = {UNTHROTTLED}\n\
         [passwords]\nargon2_memory_kib = {}\nargon2_iterations = {}\nargon2_parallelism = {}\n",
        p.memory_kib,
        p.iterations,
        p.parallelism,
        certs = dir.join("certs").display().to_string(),
        store = format!("sqlite:{}", dir.join("propusk.db").display()),
        master = dir.join("master.key").display().to_string(),
        policies = policies_dir().display().to_string(),
    );
    Ok(RawConfig::parse(&text, Vec::new())?.validate()?)
}

/// Creates the accounts (each with an issued password) and returns their credentials.
async fn create_accounts(config: &Config) -> anyhow::Result<Vec<(String, String)>> {
    let (app, _keys) = propusk::server::build_app(config, "https://127.0.0.1".into()).await?;
    // Made here so that the server has no first-start banner to print.
    app.bootstrap_admin().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ACCOUNTS {
        let app = app.clone();
        tasks.spawn(async move {
            let new = NewAccount {
                login: format!("student.{i:03}"),
                full_name: format!("Студент Номер {i}"),
                roles: vec![Role::Student],
                ..NewAccount::default()
            };
            let issued = app.add_user(&Actor::system(), new, Channel::Cli).await?;
            let password = issued.password.expose().to_owned();
            anyhow::Ok((issued.account.login.as_str().to_owned(), password))
        });
    }
    let mut creds = Vec::with_capacity(ACCOUNTS);
    while let Some(done) = tasks.join_next().await {
        creds.push(done??);
    }
    Ok(creds)
}

/// Runs `clients` keep-alive clients, each signing in again and again until the deadline.
async fn drive(
    addr: SocketAddr,
    ca: reqwest::Certificate,
    creds: Arc<Vec<(String, String)>>,
    clients: usize,
) -> anyhow::Result<Load> {
    let url = format!("https://{addr}/sign-in");
    let (mut ready, mut protocol) = (Vec::with_capacity(clients), String::new());
    for _ in 0..clients {
        let http = reqwest::Client::builder()
            .add_root_certificate(ca.clone())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let resp = http.get(&url).send().await?.error_for_status()?;
        protocol = format!("{:?}", resp.version());
        let page = resp.text().await?;
        let csrf = page
            .split_once("name=\"csrf\" value=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(token, _)| token.to_owned())
            .context("no csrf field on the sign-in page")?;
        ready.push((http, csrf));
    }

    let before = cpu_seconds();
    let start = Instant::now();
    let deadline = start + LOAD_RUN;
    let tasks: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(i, (http, csrf))| {
            let (url, creds) = (url.clone(), creds.clone());
            tokio::spawn(async move {
                let mut part = Load::default();
                // Client i takes accounts i, i + clients, …: no account is shared.
                for (login, password) in creds.iter().skip(i).step_by(clients).cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let began = Instant::now();
                    let form = [
                        ("csrf", csrf.as_str()),
                        ("login", login.as_str()),
                        ("password", password.as_str()),
                        ("next", "/"),
                    ];
                    match sign_in(&http, &url, &form).await {
                        Ok(()) => {
                            part.ok += 1;
                            part.latencies.push(began.elapsed());
                        }
                        Err(e) => {
                            part.errors += 1;
                            part.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                part
            })
        })
        .collect();
    let mut load = Load::default();
    for task in tasks {
        load.absorb(task.await?);
    }
    load.secs = start.elapsed().as_secs_f64();
    let after = cpu_seconds();
    load.latencies.sort_unstable();
    load.clients = clients;
    load.protocol = protocol;
    load.cpu_total = after.1 - before.1;
    load.cpu_load = after.2 - before.2;
    load.others = others_share(before, after, load.secs);
    Ok(load)
}

/// One sign-in: it succeeds with 303 and a session cookie.
async fn sign_in(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> anyhow::Result<()> {
    let resp = http.post(url).form(form).send().await?;
    let status = resp.status();
    let session = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"__Host-propusk="));
    resp.bytes().await?;
    anyhow::ensure!(status == reqwest::StatusCode::SEE_OTHER && session, "answered {status}");
    Ok(())
}

/// CPU seconds used so far by the whole machine (busy, not idle), by this process, and
/// by the load generator's threads.
fn cpu_seconds() -> (f64, f64, f64) {
    // `/proc` counts in USER_HZ ticks, which Linux fixes at 100 per second.
    let sum = |fields: &[&str], pick: &[usize]| {
        pick.iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
    };
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    // After the command name, field 3 comes first: utime and stime are 14 and 15.
    let task = |stat: &str| {
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        sum(&rest.split_whitespace().collect::<Vec<_>>(), &[11, 12])
    };
    let machine = read("/proc/stat");
    let cpu: Vec<&str> = machine.lines().next().unwrap_or("").split_whitespace().collect();
    // cpu user nice system idle iowait irq softirq steal
    let busy = sum(&cpu, &[1, 2, 3, 6, 7, 8]);
    let load = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .map(|t| read(&t.path().join("stat").to_string_lossy()))
        .filter(|s| s.contains(&format!("({LOAD_THREAD})")))
        .map(|s| task(&s))
        .sum();
    (busy, task(&read("/proc/self/stat")), load)
}

/// The share of all cores that other processes used between two `cpu_seconds` readings.
fn others_share(before: (f64, f64, f64), after: (f64, f64, f64), secs: f64) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (((after.0 - before.0) - (after.1 - before.1)) / (secs * cores)).max(0.0)
}

/// The repository's role policies, which the server needs to start.
fn policies_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// VmRSS of the release binary, 2 s after it reports listening, in kB.
fn idle_rss_kib() -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_propusk"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PROPUSK_SERVER_LISTEN", "127.0.0.1:0")
        .env("PROPUSK_POLICIES_DIR", policies_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr.log"))?);
    let mut child = cmd.spawn().context("cannot start propusk serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps reading, so that the server never writes into a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("propusk: listening on https://") {
                let _ = tx.send(());
            }
        }
    });
    let rss = rx.recv_timeout(Duration::from_secs(60)).map(|()| {
        std::thread::sleep(Duration::from_secs(2));
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
    });
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait()?;
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    let status = rss.map_err(|_| anyhow!("propusk serve did not report listening:\n{log}"))??;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

fn report(
    cores: usize,
    [(bare_1, others_1), (before, others_before), (after, others_after)]: [(f64, f64); 3],
    full: &Load,
    cheap: &Load,
    rss: u64,
) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown", |v| v.trim_start_matches([' ', '\t', ':']));
    let (d, n) = (HashParams::default(), cores as f64);
    let met = |ok: bool| if ok { "yes" } else { "no" };
    let rate = |l: &Load| format!("{:.1}/s ({:.1}/s per core)", l.rate(), l.rate() / n);
    let per_cpu_s = |l: &Load| l.ok as f64 / (l.cpu_total - l.cpu_load);
    let latency = |l: &Load| format!("{:.1} / {:.1} ms", l.percentile_ms(0.5), l.percentile_ms(0.99));
    let busy = |l: &Load| l.cpu_total / (l.secs * n) * 100.0;
    let share = |l: &Load| l.cpu_load / l.cpu_total * 100.0;
    let bare_n = (before + after) / 2.0;
    let others = [others_1, others_before, full.others, others_after, cheap.others];
    let (ratio, rss_mb) = (full.rate() / bare_n * 100.0, rss as f64 * 1024.0 / 1e6);
    let mut out = format!(
        "## Sign-in (`benches/signin.rs`)\n\n\
         Measured {date} with `cargo bench --bench signin` (release profile) on {cores} cores \
         ({model}).\n\n\
         | Figure | Value | Target | Met? |\n|---|---|---|---|\n\
         | argon2id verifications, 1 thread (m={m} KiB, t={t}, p={p}) | {bare_1:.1}/s | | |\n\
         | argon2id verifications, {cores} threads | {bare_n:.1}/s ({bare_core:.1}/s per core; {before:.1} \
         before and {after:.1} after the default sign-ins) | | |\n\
         | Sign-ins over HTTPS, default argon2 | {full_rate} | | |\n\
         | Sign-ins per server CPU-second, default argon2 | {full_cpu:.1} | | |\n\
         | Sign-in latency p50 / p99, default argon2 | {full_latency} | | |\n\
         | Sign-ins over HTTPS, cheapest argon2 (m=8 KiB, t=1) | {cheap_rate} | ≥ 1500/s per core | {cheap_met} |\n\
         | Sign-ins per server CPU-second, cheapest argon2 | {cheap_cpu:.1} | ≥ 1500 | {cheap_cpu_met} |\n\
         | Sign-in latency p50 / p99, cheapest argon2 | {cheap_latency} | | |\n\
         | Failed sign-ins (default / cheapest argon2) | {full_errors} / {cheap_errors} | 0 | {errors_met} |\n\
         | End-to-end sign-ins / bare argon2 on {cores} threads | {ratio:.1} % | ≥ 90 % | {ratio_met} |\n\
         | Idle resident memory of `propusk serve` | {rss_mb:.1} MB ({rss} kB) | < 50 MB | {rss_met} |\n\
         | CPU taken by other processes (argon2 1 thread, {cores} threads, default sign-ins, \
         {cores} threads, cheapest sign-ins) \
         | {others} % | < 5 % each | {others_met} |\n\n\
         The server runs inside the benchmark's process (its own runtime, one hash worker per \
         core, SQLite with WAL and full sync in a temporary directory, the development TLS \
         certificate) with {ACCOUNTS} accounts holding issued passwords, and the sign-in rate limits \
         per address and per login raised to {UNTHROTTLED}/min (the limiter still runs). The load generator \
         shares the process and the cores: {clients} {protocol} keep-alive clients (2 × hash \
         workers + 2; {CHEAP_CLIENTS} with the cheapest argon2, where hashing no longer limits the rate) \
         each fetch the form once, then post sign-ins for {load_s} s; a sign-in \
         counts when answered 303 with a session cookie. The process kept {full_busy:.0} % \
         (default argon2) and {cheap_busy:.0} % (cheapest) of the cores busy, of which the \
         load generator took {full_share:.0} % and {cheap_share:.0} %. \"Per core\" divides \
         by all {cores} cores; \"per server CPU-second\" divides by the CPU time of the \
         server's threads only. Bare argon2 runs {hash_s} s at a time on plain threads; \
         its {cores}-thread rate, the ratio's denominator, is the mean of the runs just before \
         and just after the default-argon2 sign-ins. Idle memory is VmRSS of the release binary 2 s after it starts listening \
         on a fresh SQLite store. The last row tells how quiet the machine was: CPU time that \
         other processes took disturbs the figures of that run.\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        m = d.memory_kib,
        t = d.iterations,
        p = d.parallelism,
        bare_core = bare_n / n,
        full_rate = rate(full),
        full_cpu = per_cpu_s(full),
        full_latency = latency(full),
        cheap_rate = rate(cheap),
        cheap_met = met(cheap.rate() / n >= 1500.0),
        cheap_cpu = per_cpu_s(cheap),
        cheap_cpu_met = met(per_cpu_s(cheap) >= 1500.0),
        cheap_latency = latency(cheap),
        full_errors = full.errors,
        cheap_errors = cheap.errors,
        errors_met = met(full.errors + cheap.errors == 0),
        ratio_met = met(ratio >= 90.0),
        rss_met = met(rss_mb < 50.0),
        clients = full.clients,
        protocol = full.protocol,
        load_s = LOAD_RUN.as_secs(),
        full_busy = busy(full),
        cheap_busy = busy(cheap),
        full_share = share(full),
        cheap_share = share(cheap),
        hash_s = HASH_RUN.as_secs(),
        others = others.map(|o| format!("{:.0}", o * 100.0)).join(" / "),
        others_met = met(others.iter().all(|&o| o < 0.05)),
    );
    for (name, l) in [("default", full), ("cheapest", cheap)] {
        if let Some(e) = &l.first_error {
            out.push_str(&format!("\nFirst failed sign-in ({name} argon2): {e}\n"));
        }
    }
    out
}

/// Replaces this benchmark's section of BENCHMARKS.md, or appends it.
fn write_section(body: &str) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n\n\
            Figures measured by the benchmarks in `benches/`. Each benchmark rewrites only \
            its own section, between its `<!-- NAME:begin -->` and `<!-- NAME:end -->` \
            markers.\n"
            .to_owned(),
        Err(e) => return Err(e.into()),
    };
    let section = format!("{BEGIN}\n{body}{END}\n");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => {
            let rest = &old[e + END.len()..];
            format!("{}{section}{}", &old[..b], rest.strip_prefix('\n').unwrap_or(rest))
        }
        _ => format!("{}\n\n{section}", old.trim_end()),
    };
    std::fs::write(&path, new).with_context(|| format!("cannot write {}", path.display()))
}
