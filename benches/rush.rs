//! The morning rush (R-15, D-12), written to `BENCHMARKS.md`: half of a college's people
//! sign in within a few minutes and use their resources, against one node on SQLite,
//! one node on PostgreSQL and two nodes on one PostgreSQL database.
//!
//! Each person arrives on a fixed schedule (open loop: a slow answer does not slow the
//! arrivals), opens the sign-in form, signs in with the default argon2 parameters, reaches
//! Moodle and mail through OpenID Connect (authorization with the session, code exchange
//! and userinfo by the service's server), opens five pages of the timetable behind
//! forward-auth two seconds apart, and refreshes Moodle's token. Then, on the live
//! sessions (topped up to half of the accounts), a steady load without hashing for
//! `STEADY`, and a saturating stream of sign-ins beside the bare argon2 rate.
//!
//! `cargo bench --bench rush -- [--people 10000,100000] [--layouts sqlite,pg,pg2] [--minutes 10] [--report]`
//! Results of every layout and size run on this machine are kept in `target/rush/` and
//! the section is written from all of them.

#[path = "rush/load.rs"]
mod load;
#[path = "rush/node.rs"]
mod node;
#[path = "rush/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use load::{Record, Target};
use node::Node;
use rand::Rng as _;
use report::{Outcome, Phase};

const STEADY: Duration = Duration::from_secs(20);
const STEADY_CLIENTS: usize = 64;
const CAPACITY: Duration = Duration::from_secs(15);

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, default: &str| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.into())
    };
    let people: Vec<usize> = opt("--people", "10000").split(',').map(str::parse).collect::<Result<_, _>>()?;
    let layouts: Vec<String> = opt("--layouts", "sqlite,pg,pg2").split(',').map(str::to_owned).collect();
    let minutes: f64 = opt("--minutes", "10").parse()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let results = root.join("target/rush");
    std::fs::create_dir_all(&results)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // `--report`: only write the section again from the results kept.
    let people = if args.iter().any(|a| a == "--report") { Vec::new() } else { people };
    for &n in &people {
        for layout in &layouts {
            eprintln!("rush: {layout}, {n} accounts, {minutes} min");
            let outcome = runtime.block_on(run(layout, n, minutes))?;
            std::fs::write(results.join(format!("{layout}-{n}.json")), serde_json::to_vec_pretty(&outcome)?)?;
            print!("{}", report::section(&results)?);
        }
    }
    report::write_section(&root.join("BENCHMARKS.md"), &report::section(&results)?)
}

async fn run(layout: &str, people: usize, minutes: f64) -> anyhow::Result<Outcome> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_propusk"));
    ensure!(bin.exists(), "build the release binary first: cargo build --release");
    let dir = tempfile::tempdir()?;
    let pg_base = std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let pg_name = format!("propusk_rush_{}", std::process::id());
    let (url, nodes_wanted) = match layout {
        "sqlite" => {
            std::fs::create_dir_all(dir.path().join("data"))?;
            (format!("sqlite:{}", dir.path().join("data/propusk.db").display()), 1)
        }
        "pg" | "pg2" => {
            psql(&pg_base, &format!("CREATE DATABASE {pg_name}"))?;
            (format!("{pg_base}/{pg_name}"), if layout == "pg2" { 2 } else { 1 })
        }
        other => anyhow::bail!("unknown layout {other:?}: sqlite, pg or pg2"),
    };
    let result = rush(&bin, dir.path(), &url, layout, nodes_wanted, people, minutes).await;
    if layout != "sqlite" {
        psql(&pg_base, &format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))?;
    }
    result
}

async fn rush(
    bin: &Path,
    dir: &Path,
    url: &str,
    layout: &str,
    nodes_wanted: usize,
    people: usize,
    minutes: f64,
) -> anyhow::Result<Outcome> {
    let store = propusk::store::open(url).await.context("open the store")?;
    let seeding = Instant::now();
    let ids = node::seed(&store, people).await?;
    eprintln!("rush: seeded {people} accounts in {:.1} s", seeding.elapsed().as_secs_f64());
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let env: Vec<(String, String)> = [
        ("PROPUSK_STORE_URL", url.to_owned()),
        ("PROPUSK_SERVER_LISTEN", "127.0.0.1:0".to_owned()),
        ("PROPUSK_POLICIES_DIR", policies.display().to_string()),
        ("PROPUSK_KEYS_MASTER_KEY_FILE", dir.join("master.key").display().to_string()),
        ("PROPUSK_TLS_DEV_CERT_DIR", dir.join("certs").display().to_string()),
        // nginx in front passes each person's address.
        ("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let scopes = "openid profile email roles groups offline_access";
    let add = |id: &str, name: &str, redirect: &str| -> anyhow::Result<String> {
        let out = node::cli(
            bin,
            dir,
            &env,
            &["client", "add", id, "--name", name, "--redirect-uri", redirect, "--scopes", scopes, "--json"],
        )?;
        Ok(out["client_secret"].as_str().context("no client_secret")?.to_owned())
    };
    let moodle = add("moodle", "Moodle", load::MOODLE_REDIRECT)?;
    let mail = add("vk-workspace", "VK WorkSpace", load::MAIL_REDIRECT)?;
    let mut nodes = Vec::new();
    for _ in 0..nodes_wanted {
        nodes.push(Node::start(bin, dir, &env, None)?);
    }
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("certs/dev-ca.pem"))?)?;
    let target = Arc::new(Target::new(nodes.iter().map(|n| n.base.clone()).collect(), ca, &moodle, &mail)?);

    // The rush.
    let arrivals = people / 2;
    let window = Duration::from_secs_f64(minutes * 60.0);
    let rec = Arc::new(Record::default());
    let before = Phase::begin(&nodes);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..arrivals {
        tokio::time::sleep_until(start + window.mul_f64(i as f64 / arrivals as f64)).await;
        let (t, rec) = (target.clone(), rec.clone());
        tasks.spawn(async move { load::morning(&t, &rec, i).await.ok() });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let rush = before.end(&nodes, &rec, start.elapsed());
    eprintln!("rush: {} requests, {} errors", rush.requests, rush.errors);
    let signed_in = rush.kinds.iter().find(|k| k.kind == load::KINDS[1]).map_or(0, |k| k.count - k.errors);

    // Live sessions topped up to half of the accounts (the rush's sessions are theirs).
    let missing = arrivals - signed_in.min(arrivals);
    let mut sessions = cookies(node::add_sessions(&store, &ids[arrivals..arrivals + missing]).await?);
    if sessions.len() < 1_000 {
        // Everyone signed in: fresh sessions for some of them (only a browser knows its cookie).
        sessions.extend(cookies(node::add_sessions(&store, &ids[..1_000.min(ids.len())]).await?));
    }
    let steady = steady(&target, &nodes, Arc::new(sessions.clone())).await?;
    let (argon2_rate, capacity) = capacity(&target, &nodes, people).await?;
    let signed_in_later = capacity.kinds.iter().map(|k| k.count - k.errors).sum::<usize>();
    let live = signed_in + sessions.len() + signed_in_later;
    let memory = nodes.iter().map(Node::memory).collect();
    for n in &nodes {
        if rush.errors + steady.errors > 0 {
            eprintln!("node log tail:\n{}", n.stderr_tail());
        }
    }
    Ok(Outcome {
        layout: layout.to_owned(),
        people,
        minutes,
        arrivals,
        signed_in,
        live_sessions: live,
        rush,
        steady,
        capacity,
        argon2_rate,
        memory,
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        commit: git_head(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    })
}

fn cookies(tokens: Vec<String>) -> Vec<String> {
    tokens.into_iter().map(|t| format!("{}={t}", load::SESSION_COOKIE)).collect()
}

/// `STEADY_CLIENTS` closed loops over random live sessions: three forward-auth checks,
/// then an authorization, its code exchange and a userinfo call; no password hashing.
async fn steady(target: &Arc<Target>, nodes: &[Node], sessions: Arc<Vec<String>>) -> anyhow::Result<report::Figures> {
    let rec = Arc::new(Record::default());
    let before = Phase::begin(nodes);
    let start = tokio::time::Instant::now();
    let until = start + STEADY;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..STEADY_CLIENTS {
        let (t, rec, sessions) = (target.clone(), rec.clone(), sessions.clone());
        tasks.spawn(async move {
            let browser = t.browser()?;
            let ip = load::address(200_000 + c);
            while tokio::time::Instant::now() < until {
                let s = &sessions[rand::thread_rng().gen_range(0..sessions.len())];
                for _ in 0..3 {
                    let _ = load::forward_auth(&t, &rec, s, &ip, "/", "").await;
                }
                let client = ("moodle", load::MOODLE_REDIRECT, t.moodle_basic.as_str());
                let _ = load::services(&t, &rec, &browser, &ip, s, client).await;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(before.end(nodes, &rec, start.elapsed()))
}

/// Sign-ins as fast as the nodes take them (2 × cores + 2 clients, people who have not
/// signed in yet), beside the bare argon2 rate on every core just before.
async fn capacity(target: &Arc<Target>, nodes: &[Node], people: usize) -> anyhow::Result<(f64, report::Figures)> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let argon2_rate = tokio::task::spawn_blocking(move || report::bare_argon2(cores, Duration::from_secs(5))).await??;
    let rec = Arc::new(Record::default());
    let before = Phase::begin(nodes);
    let start = tokio::time::Instant::now();
    let until = start + CAPACITY;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(people / 2 + people / 4));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 * cores + 2 {
        let (t, rec, next) = (target.clone(), rec.clone(), next.clone());
        tasks.spawn(async move {
            while tokio::time::Instant::now() < until {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % people;
                let _ = report::sign_in_only(&t, &rec, i).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok((argon2_rate, before.end(nodes, &rec, start.elapsed())))
}

fn psql(base: &str, sql: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("psql").args([base, "-v", "ON_ERROR_STOP=1", "-qc", sql]).output()?;
    ensure!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

fn git_head() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
