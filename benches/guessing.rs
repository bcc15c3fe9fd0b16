//! Legitimate sign-ins under a password-guessing attack, written to `BENCHMARKS.md`.
//!
//! One in-process server (plain HTTP behind a "proxy" at 127.0.0.1, so that
//! `X-Forwarded-For` gives every request its own client address; default argon2 and
//! protection settings; SQLite). Phase 1: legitimate people sign in for 10 s. Phase 2:
//! the same, while an attacker sends 1,000 wrong attempts per second from many addresses
//! across 200 networks, against real and made-up logins. Reported: the legitimate rate
//! and latency in both phases, how the attempts were answered, how many password hashes
//! they cost (from the sign-in log), and the latency of a refused attempt.
//! Run with `cargo bench --bench guessing`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use propusk::app::Actor;
use propusk::config::RawConfig;
use propusk::domain::journal::Channel;
use propusk::domain::{NewAccount, Role};
use rand::Rng as _;

/// The allocator of the `propusk` binary, so that the server in this process runs as it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LEGIT: usize = 300;
const VICTIMS: usize = 200;
const RUN: Duration = Duration::from_secs(10);
const ATTACK_PER_SECOND: u64 = 1_000;
const BEGIN: &str = "<!-- guessing:begin -->";
const END: &str = "<!-- guessing:end -->";

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    other: AtomicU64,
    latencies: std::sync::Mutex<Vec<Duration>>,
}

impl Tally {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
        v.sort();
        v.get(((v.len() as f64 - 1.0) * p).round().max(0.0) as usize).copied().unwrap_or_default()
    }
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("propusk.db");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\n[tls]\nmode = \"off\"\n\
         [store]\nurl = {:?}\n[keys]\nmaster_key_file = {:?}\n",
        format!("sqlite:{}", db.display()),
        dir.path().join("master.key").display().to_string(),
    );
    let config = RawConfig::parse(&text, Vec::new())?.validate()?;
    let server_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let people = Arc::new(server_rt.block_on(async {
        let (app, _) = propusk::server::build_app(&config, "http://127.0.0.1".into()).await?;
        app.bootstrap_admin().await?;
        let mut out = Vec::new();
        for i in 0..LEGIT + VICTIMS {
            let new = NewAccount {
                login: format!("person.{i:03}"),
                full_name: format!("Человек Номер {i}"),
                roles: vec![Role::Student],
                ..NewAccount::default()
            };
            let issued = app.add_user(&Actor::system(), new, Channel::Cli).await?;
            out.push((issued.account.login.to_string(), issued.password.expose().to_owned()));
        }
        anyhow::Ok(out)
    })?);
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(propusk::server::serve(
        config,
        move |addr, _| {
            let _ = tx.send(addr);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = rx.recv_timeout(Duration::from_secs(60)).context("the server did not start")?;
    let load_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    eprintln!("guessing: everyone signs in once from their device…");
    let devices = Arc::new(load_rt.block_on(first_sign_ins(addr, &people))?);
    eprintln!("guessing: baseline…");
    let before = cpu_seconds();
    let calm = load_rt.block_on(legit(addr, people.clone(), devices.clone(), 0));
    let middle = cpu_seconds();
    let since = now_ms();
    eprintln!("guessing: under attack…");
    let (busy, attack) = load_rt.block_on(async {
        let a = tokio::spawn(attack(addr));
        let l = legit(addr, people.clone(), devices.clone(), LEGIT / 2).await;
        (l, a.await.unwrap_or_default())
    });
    let others = (others_share(before, middle), others_share(middle, cpu_seconds()));
    drop(load_rt);
    let _ = stop_tx.send(());
    server_rt.block_on(server)??;
    let (hashed, unhashed) = server_rt.block_on(hash_counts(&db, since))?;
    let body = report(&calm, &busy, &attack, hashed, unhashed, others);
    println!("{body}");
    write_section(&body)
}

/// The address person `i` always signs in from.
fn home_ip(i: usize) -> String {
    format!("10.{}.{}.{}", 100 + i / 250, i % 250, 1 + i % 200)
}

/// Each legitimate person signs in once from their own device, as real people have before
/// an attack begins; returns each one's known-device cookie.
async fn first_sign_ins(addr: SocketAddr, people: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let mut devices = Vec::new();
    for (i, (login, password)) in people.iter().take(LEGIT).enumerate() {
        let r = send(&http, addr, &home_ip(i), login, password, None).await.context("first sign-in")?;
        let device = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("__Host-propusk-device=").and_then(|v| v.split(';').next()))
            .map(str::to_owned)
            .with_context(|| format!("no known-device cookie for {login} (status {})", r.status()))?;
        devices.push(device);
    }
    Ok(devices)
}

/// Legitimate people: each request signs one person in from their own address, with the
/// known-device cookie their browser kept from an earlier sign-in.
async fn legit(
    addr: SocketAddr,
    people: Arc<Vec<(String, String)>>,
    devices: Arc<Vec<String>>,
    offset: usize,
) -> Tally {
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + RUN;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (tally, next, people, devices) = (tally.clone(), next.clone(), people.clone(), devices.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
            while Instant::now() < deadline {
                let i = (offset + next.fetch_add(1, Ordering::Relaxed) as usize) % LEGIT;
                let (login, password) = &people[i];
                let started = Instant::now();
                let sent = send(&http, addr, &home_ip(i), login, password, Some(&devices[i])).await;
                let ok = sent.is_ok_and(|r| r.status().as_u16() == 303);
                let counter = if ok { &tally.ok } else { &tally.other };
                counter.fetch_add(1, Ordering::Relaxed);
                tally.latencies.lock().unwrap_or_else(|e| e.into_inner()).push(started.elapsed());
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(tally).unwrap_or_default()
}

#[derive(Default)]
struct Attack {
    sent: u64,
    by_status: std::collections::BTreeMap<u16, u64>,
    refused_latency: Vec<Duration>,
}

/// 1,000 wrong attempts per second from addresses across 200 /24 networks.
async fn attack(addr: SocketAddr) -> Attack {
    let result = Arc::new(std::sync::Mutex::new(Attack::default()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / ATTACK_PER_SECOND));
    let deadline = Instant::now() + RUN;
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < deadline {
        tick.tick().await;
        let (http, result) = (http.clone(), result.clone());
        tasks.spawn(async move {
            let (ip, login) = {
                let mut r = rand::thread_rng();
                let ip = format!("172.{}.{}.{}", 16 + r.gen_range(0..4), r.gen_range(0..50), r.gen_range(1..255));
                let login = if r.gen_bool(0.5) {
                    format!("person.{:03}", LEGIT + r.gen_range(0..VICTIMS))
                } else {
                    format!("made.up{}", r.gen_range(0..100_000))
                };
                (ip, login)
            };
            let started = Instant::now();
            let status = attempt(&http, addr, &ip, &login, "Summer2026!").await.unwrap_or(0);
            let mut a = result.lock().unwrap_or_else(|e| e.into_inner());
            a.sent += 1;
            *a.by_status.entry(status).or_default() += 1;
            if status == 429 {
                a.refused_latency.push(started.elapsed());
            }
        });
        while tasks.len() > 2_000 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(result).map(|m| m.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// One sign-in from `ip` without a known-device cookie; the POST's status.
async fn attempt(http: &reqwest::Client, addr: SocketAddr, ip: &str, login: &str, password: &str) -> Option<u16> {
    send(http, addr, ip, login, password, None).await.ok().map(|r| r.status().as_u16())
}

/// Posts the sign-in form from `ip` (with an anti-forgery cookie, and the known-device
/// cookie when given).
async fn send(
    http: &reqwest::Client,
    addr: SocketAddr,
    ip: &str,
    login: &str,
    password: &str,
    device: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let token = "t".repeat(43);
    let device = device.map(|d| format!("; __Host-propusk-device={d}")).unwrap_or_default();
    http.post(format!("http://{addr}/sign-in"))
        .header("x-forwarded-for", ip)
        .header("cookie", format!("__Host-propusk-csrf={token}{device}"))
        .form(&[("csrf", token.as_str()), ("login", login), ("password", password), ("next", "/account")])
        .send()
        .await
}

/// Attempts recorded since `since` that cost a password hash, and those refused before it.
async fn hash_counts(db: &Path, since: i64) -> anyhow::Result<(i64, i64)> {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display())).await?;
    let q = |outcomes: &'static str| {
        format!(
            "SELECT COUNT(*) FROM sign_ins WHERE at >= {since} AND network LIKE '172.%' AND outcome IN ({outcomes})"
        )
    };
    let hashed: i64 = sqlx::query_scalar(&q("'bad_password', 'unknown_login'")).fetch_one(&mut c).await?;
    let unhashed: i64 = sqlx::query_scalar(&q("'locked'")).fetch_one(&mut c).await?;
    Ok((hashed, unhashed))
}

/// CPU seconds used so far by the whole machine (busy, not idle) and by this process
/// (`/proc` counts in USER_HZ ticks, which Linux fixes at 100 per second).
fn cpu_seconds() -> (f64, f64) {
    let sum = |fields: &[&str], pick: &[usize]| {
        pick.iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
    };
    let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<&str> = machine.lines().next().unwrap_or("").split_whitespace().collect();
    // cpu user nice system idle iowait irq softirq steal
    let busy = sum(&cpu, &[1, 2, 3, 6, 7, 8]);
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name, field 3 comes first: utime and stime are 14 and 15.
    let rest = own.rsplit_once(')').map_or("", |(_, r)| r);
    (busy, sum(&rest.split_whitespace().collect::<Vec<_>>(), &[11, 12]))
}

/// The share of all cores that other processes used between two `cpu_seconds` readings of
/// one phase.
fn others_share(before: (f64, f64), after: (f64, f64)) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (((after.0 - before.0) - (after.1 - before.1)) / (RUN.as_secs_f64() * cores)).max(0.0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn report(calm: &Tally, busy: &Tally, a: &Attack, hashed: i64, unhashed: i64, others: (f64, f64)) -> String {
    let secs = RUN.as_secs_f64();
    let rate = |t: &Tally| t.ok.load(Ordering::Relaxed) as f64 / secs;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let kept = rate(busy) / rate(calm).max(f64::MIN_POSITIVE) * 100.0;
    let mut refused = a.refused_latency.clone();
    refused.sort();
    let pct = |v: &[Duration], p: f64| v.get(((v.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default();
    let statuses: Vec<String> = a.by_status.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!(
        "## Sign-in under a guessing attack (`benches/guessing.rs`)\n\n\
         Measured with `cargo bench --bench guessing` (release) on {cores} cores ({cpu}); default argon2 \
         (m=19456 KiB, t=2, p=1) and default protection settings; server, attacker and legitimate clients \
         share the machine.\n\n\
         | Figure | Value | Target | Met? |\n|---|---|---|---|\n\
         | Legitimate sign-ins, no attack | {calm:.1}/s (p50 {c50:.1} ms, p99 {c99:.1} ms) | | |\n\
         | Legitimate sign-ins, under attack | {busy:.1}/s (p50 {b50:.1} ms, p99 {b99:.1} ms) | | |\n\
         | Kept under attack | {kept:.0} % | ≥ 80 % | {kept_ok} |\n\
         | Attempts sent in {run} s | {sent} | 1,000/s | |\n\
         | Attempts by answer | {statuses} | | |\n\
         | Attempts that cost a hash | {hashed} | | |\n\
         | Attempts refused by a lock, no hash | {unhashed} | | |\n\
         | Refused (429) attempt latency p50 / p99 | {r50:.2} / {r99:.2} ms | < 1 ms, no hash | {refused_ok} |\n\
         | CPU taken by other processes (baseline, under attack) | {o1:.0} % / {o2:.0} % of all cores | | |\n\n\
         Legitimate people (6 clients, each sign-in from its own address, 300 accounts) first sign in \
         once each from their own device, as real people did before an attack begins, and keep the \
         known-device cookie it sets (`protection.known_device_days`); then they run 10 s alone, \
         then 10 s beside the attacker: 1,000 attempts per second, each from a random address among 200 \
         /24 networks, half against 200 real logins and half against made-up ones, never with a known-device \
         cookie. Hash counts come from \
         the sign-in log (`bad_password`, `unknown_login` cost one argon2 verification; `locked` none; a \
         429 never reaches the use case). The 429 latency is measured by the client over loopback and \
         includes its own queueing while it sends 1,000 requests per second. A 503 is the answer \
         when the line of unknown-device verifications is full: like a 429 it costs no hash. Other work \
         on the machine (the last row) slows both phases alike; the kept share compares them.\n",
        cores = std::thread::available_parallelism().map_or(1, |n| n.get()),
        calm = rate(calm),
        c50 = ms(calm.percentile(0.5)),
        c99 = ms(calm.percentile(0.99)),
        busy = rate(busy),
        b50 = ms(busy.percentile(0.5)),
        b99 = ms(busy.percentile(0.99)),
        kept_ok = if kept >= 80.0 { "yes" } else { "no" },
        run = RUN.as_secs(),
        sent = a.sent,
        statuses = statuses.join(", "),
        r50 = ms(pct(&refused, 0.5)),
        r99 = ms(pct(&refused, 0.99)),
        refused_ok = if ms(pct(&refused, 0.5)) < 1.0 { "yes" } else { "no" },
        o1 = others.0 * 100.0,
        o2 = others.1 * 100.0,
    )
}

fn write_section(body: &str) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
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
