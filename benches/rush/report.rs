//! The rush's figures: a phase's requests and CPU, the bare argon2 rate, and the section
//! of `BENCHMARKS.md` written from every result kept in `target/rush/`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::ensure;
use argon2::PasswordHasher as _;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde::{Deserialize, Serialize};

use super::load::{self, KindFigures, Record, Target};
use super::node::{self, Node};

const BEGIN: &str = "<!-- rush:begin -->";
const END: &str = "<!-- rush:end -->";

#[derive(Serialize, Deserialize)]
pub struct Outcome {
    pub layout: String,
    pub people: usize,
    pub minutes: f64,
    pub arrivals: usize,
    pub signed_in: usize,
    pub live_sessions: usize,
    pub rush: Figures,
    pub steady: Figures,
    pub capacity: Figures,
    /// Bare argon2id verifications per second on every core, just before `capacity`.
    pub argon2_rate: f64,
    /// Per node: peak and final resident memory, MB.
    pub memory: Vec<(f64, f64)>,
    pub date: String,
    pub commit: String,
    pub cores: usize,
}

#[derive(Serialize, Deserialize)]
pub struct Figures {
    pub seconds: f64,
    pub requests: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub kinds: Vec<KindFigures>,
    /// CPU of each node, of the load generator and of PostgreSQL, in cores (CPU-s per s).
    pub node_cpu: Vec<f64>,
    pub load_cpu: f64,
    pub postgres_cpu: f64,
    /// Busy share of the whole machine.
    pub machine_busy: f64,
}

/// CPU counters at the start of a phase.
pub struct Phase {
    nodes: Vec<f64>,
    load: f64,
    postgres: f64,
    machine: f64,
}

impl Phase {
    pub fn begin(nodes: &[Node]) -> Self {
        Self {
            nodes: nodes.iter().map(Node::cpu).collect(),
            load: node::process_cpu("/proc/self/stat"),
            postgres: node::postgres_cpu(),
            machine: node::machine_cpu(),
        }
    }

    pub fn end(self, nodes: &[Node], rec: &Record, took: Duration) -> Figures {
        let s = took.as_secs_f64();
        let (ms, errors) = rec.all();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        Figures {
            seconds: s,
            requests: ms.len() + errors,
            errors,
            per_second: ms.len() as f64 / s,
            p50: load::pct(&ms, 0.50),
            p95: load::pct(&ms, 0.95),
            p99: load::pct(&ms, 0.99),
            kinds: rec.figures(),
            node_cpu: nodes.iter().zip(&self.nodes).map(|(n, b)| (n.cpu() - b) / s).collect(),
            load_cpu: (node::process_cpu("/proc/self/stat") - self.load) / s,
            postgres_cpu: (node::postgres_cpu() - self.postgres) / s,
            machine_busy: (node::machine_cpu() - self.machine) / s / cores,
        }
    }
}

/// argon2id verifications per second with the default parameters on `threads` threads.
pub fn bare_argon2(threads: usize, run: Duration) -> anyhow::Result<f64> {
    let argon2 = propusk::hash::HashParams::default().argon2()?;
    let salt = argon2::password_hash::SaltString::generate(&mut rand::rngs::OsRng);
    let phc = argon2.hash_password(b"bare", &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string();
    let start = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let parsed = argon2::PasswordHash::new(&phc).expect("a PHC string");
                    let mut n = 0;
                    while start.elapsed() < run {
                        argon2::PasswordVerifier::verify_password(&argon2, b"bare", &parsed).expect("verifies");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    Ok(counts.iter().sum::<usize>() as f64 / start.elapsed().as_secs_f64())
}

/// The sign-in form and a sign-in, nothing more.
pub async fn sign_in_only(t: &Target, rec: &Record, i: usize) -> anyhow::Result<()> {
    let browser = t.browser()?;
    let ip = load::address(300_000 + i);
    let page = browser.get(t.url("/sign-in")).header("x-forwarded-for", &ip).send().await?;
    let mut jar = load::Jar::default();
    jar.absorb(&page);
    let html = page.text().await?;
    let needle = "name=\"csrf\" value=\"";
    let from = html.find(needle).map(|p| p + needle.len()).unwrap_or(0);
    let csrf = html[from..].split('"').next().unwrap_or("").to_owned();
    let login = node::login_of(i);
    rec.time("sign-in (argon2)", async {
        let r = browser
            .post(t.url("/sign-in"))
            .header("x-forwarded-for", &ip)
            .header(COOKIE, jar.header())
            .form(&[("csrf", csrf.as_str()), ("login", login.as_str()), ("password", node::PASSWORD), ("next", "/")])
            .send()
            .await?;
        ensure!(r.status() == StatusCode::SEE_OTHER, "answered {}", r.status());
        Ok(())
    })
    .await
}

fn label(layout: &str) -> &'static str {
    match layout {
        "sqlite" => "1 node, SQLite",
        "pg" => "1 node, PostgreSQL",
        "pg2" => "2 nodes, one PostgreSQL",
        _ => "?",
    }
}

fn cpu(f: &Figures) -> String {
    let nodes: Vec<String> = f.node_cpu.iter().map(|c| format!("{c:.2}")).collect();
    format!("{} / {:.2} / {:.2} ({:.0} %)", nodes.join(" + "), f.postgres_cpu, f.load_cpu, f.machine_busy * 100.0)
}

/// The section, from every `*.json` result in `dir`.
pub fn section(dir: &Path) -> anyhow::Result<String> {
    let mut outcomes: Vec<Outcome> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            outcomes.push(serde_json::from_slice(&std::fs::read(&path)?)?);
        }
    }
    let order = |l: &str| ["sqlite", "pg", "pg2"].iter().position(|x| *x == l).unwrap_or(9);
    outcomes.sort_by_key(|o| (o.people, order(&o.layout)));
    let mut s = String::from(
        "## Morning rush (`benches/rush.rs`)\n\n\
         Half of a college's people sign in within the window and use their resources, against the \
         release binary over HTTPS (its development certificate), nginx's part played by the load \
         generator (`X-Forwarded-For` with each person's own address, `server.trusted_proxies = \
         127.0.0.1`). Each person, on a fixed schedule spread evenly over the window (open loop: slow \
         answers do not slow the arrivals), with a browser of their own (own connection and TLS \
         handshake): the sign-in form; a sign-in with the default argon2id (m=19456 KiB, t=2, p=1); \
         Moodle and mail through OpenID Connect (an authorization with the session, its code \
         exchanged with PKCE and a userinfo call by the service's server, over the services' \
         keep-alive connections); five timetable pages behind forward-auth (`/auth/verify` as nginx's \
         `auth_request` asks, two seconds apart); a refresh of Moodle's token with rotation. The \
         accounts are seeded into the store (90 % students in groups of 25, 10 % teachers; one \
         password hashed once with the default parameters; the rules accepted earlier). With two \
         nodes every request goes to the next node in turn (no affinity), so every step of a \
         person's morning crosses nodes. CPU is in cores (CPU-seconds per second): nodes / \
         PostgreSQL / load generator, and in brackets how busy the whole machine was.\n\n\
         ### The rush\n\n\
         | layout | accounts | window | people signed in | requests | req/s | p50 / p95 / p99 ms | errors | CPU | peak memory per node | target (SQLite, 10,000 accounts: p99 < 250 ms, no errors) |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---|---|---|\n",
    );
    for o in &outcomes {
        let f = &o.rush;
        let target =
            if o.people == 10_000 { if f.p99 < 250.0 && f.errors == 0 { "met" } else { "**not met**" } } else { "" };
        let mem: Vec<String> = o.memory.iter().map(|(peak, _)| format!("{peak:.0} MB")).collect();
        s.push_str(&format!(
            "| {} | {} | {} min | {} of {} | {} | {:.1} | {:.1} / {:.1} / {:.1} | {} | {} | {} | {target} |\n",
            label(&o.layout),
            o.people,
            o.minutes,
            o.signed_in,
            o.arrivals,
            f.requests,
            f.per_second,
            f.p50,
            f.p95,
            f.p99,
            f.errors,
            cpu(f),
            mem.join(" + "),
        ));
    }
    s.push_str(
        "\n### The rush by request\n\n| layout | accounts | request | count | p50 / p95 / p99 / max ms | errors |\n\
         |---|---:|---|---:|---|---|\n",
    );
    for o in &outcomes {
        for k in &o.rush.kinds {
            let sample =
                k.error_sample.as_deref().map(|e| format!(" (first: {})", e.replace('|', "/"))).unwrap_or_default();
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} / {:.1} / {:.1} / {:.1} | {}{sample} |\n",
                label(&o.layout),
                o.people,
                k.kind,
                k.count,
                k.p50,
                k.p95,
                k.p99,
                k.max,
                k.errors
            ));
        }
    }
    s.push_str(&format!(
        "\n### Steady load without hashing, then sign-ins at saturation\n\n\
         After the rush the live sessions are topped up to half of the accounts (sessions written \
         into the store for the people who did not sign in, as if they had earlier), then {} clients \
         loop for {} s over random sessions: three forward-auth checks, an authorization, its code \
         exchange and a userinfo call. Then 2 × cores + 2 clients sign people in as fast as the nodes \
         answer for {} s, beside the bare argon2id rate on every core measured just before in the \
         benchmark's process. Memory is read after both.\n\n\
         | layout | accounts | live sessions | steady req/s | p50 / p99 ms | errors | CPU | vs 1 node on PostgreSQL | sign-ins/s | bare argon2/s | ratio | memory per node, peak / at end |\n\
         |---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---|\n",
        super::STEADY_CLIENTS,
        super::STEADY.as_secs(),
        super::CAPACITY.as_secs()
    ));
    for o in &outcomes {
        let one = outcomes.iter().find(|x| x.layout == "pg" && x.people == o.people);
        let vs = match (o.layout.as_str(), one) {
            ("pg2", Some(one)) => format!("{:.2}×", o.steady.per_second / one.steady.per_second),
            _ => String::new(),
        };
        let mem: Vec<String> = o.memory.iter().map(|(peak, now)| format!("{peak:.0} / {now:.0} MB")).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.1} / {:.1} | {} | {} | {vs} | {:.1} | {:.1} | {:.0} % | {} |\n",
            label(&o.layout),
            o.people,
            o.live_sessions,
            o.steady.per_second,
            o.steady.p50,
            o.steady.p99,
            o.steady.errors,
            cpu(&o.steady),
            o.capacity.per_second,
            o.argon2_rate,
            o.capacity.per_second / o.argon2_rate * 100.0,
            mem.join(" + "),
        ));
    }
    let runs: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{} {} ({}, commit {}, {} cores)", o.layout, o.people, o.date, o.commit, o.cores))
        .collect();
    s.push_str(&format!(
        "\nRuns: {}. Command: `cargo build --release && cargo bench --bench rush -- --people N --layouts L --minutes M` \
         (PostgreSQL at `PROPUSK_TEST_PG`, default the machine's).\n",
        runs.join("; ")
    ));
    Ok(s)
}

pub fn write_section(path: &Path, body: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{body}{END}");
    let new = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{block}{}", &text[..b], &text[e + END.len()..]),
        _ => format!("{}\n{block}\n", text.trim_end()),
    };
    std::fs::write(path, new)?;
    Ok(())
}
