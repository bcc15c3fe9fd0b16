//! The cost of the hash-chained journals (R-22, D-10), written to `BENCHMARKS.md`.
//!
//! On SQLite and on the machine's PostgreSQL: audited changes per second from 32 tasks
//! at once (one change = one transaction with one chained audit entry, so every append
//! waits for the chain's head), the rate of a bulk fill (500 entries per transaction) up
//! to `PROPUSK_BENCH_AUDIT_ENTRIES` entries (default 1,000,000), then the release
//! `propusk audit verify` over all of them: entries per second and its peak resident
//! memory (it reads the chain page by page, so memory must not grow with the log).
//! Run with `cargo bench --bench audit` (PostgreSQL at `PROPUSK_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use propusk::domain::Timestamp;
use propusk::domain::journal::AuditEvent;
use propusk::ports::{Change, Store};

const TASKS: usize = 32;
const PER_TASK: usize = 250;
const FILL_BATCH: usize = 500;
const BEGIN: &str = "<!-- audit:begin -->";
const END: &str = "<!-- audit:end -->";

fn event(i: usize) -> AuditEvent {
    AuditEvent {
        at: Timestamp::from_millis(1_800_000_000_000 + i as i64),
        actor: "os:registrar".into(),
        action: "account.roles",
        subject: Some(format!("student{:06}", i % 50_000)),
        ip: Some("10.0.0.5".into()),
        outcome: "success",
        detail: format!("from=student to=student,librarian (student{:06})", i % 50_000),
    }
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let entries: usize =
        std::env::var("PROPUSK_BENCH_AUDIT_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let pg_base = std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let pg_name = format!("propusk_bench_audit_{}", std::process::id());
    psql(&pg_base, &format!("CREATE DATABASE {pg_name}"))?;
    let stores = [
        ("SQLite", format!("sqlite:{}", dir.path().join("data/propusk.db").display())),
        ("PostgreSQL", format!("{pg_base}/{pg_name}")),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = String::new();
    for (name, url) in &stores {
        let (concurrent, fill) = runtime.block_on(append(url, entries))?;
        let (took, peak_mb, checked) = verify(dir.path(), url)?;
        rows.push_str(&format!(
            "| {name} | audited changes, {TASKS} at once, one entry each | {:.0} /s | |\n\
             | {name} | bulk appends, {FILL_BATCH} entries per transaction | {:.0} /s | |\n\
             | {name} | `propusk audit verify` over {checked} entries | {:.0} entries/s ({:.1} s) | {peak_mb:.0} MB |\n",
            concurrent,
            fill,
            checked as f64 / took.as_secs_f64(),
            took.as_secs_f64(),
        ));
    }
    psql(&pg_base, &format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let body = format!(
        "## Hash-chained audit log\n\n\
         `cargo bench --bench audit`: this machine ({cores} cores), one run. Every append takes the \
         chain's head in its transaction (a row lock on PostgreSQL, the single writer on SQLite), \
         hashes the entry and its salted personal digests, and writes the entry and the head. \
         The check is the release binary reading the chain in pages; peak memory is its resident \
         high-water mark.\n\n\
         | store | what | rate | peak memory |\n|---|---|---|---|\n{rows}\n"
    );
    print!("{body}");
    write_section(&body)
}

/// Audited changes from many tasks at once, then a bulk fill up to `entries`.
async fn append(url: &str, entries: usize) -> anyhow::Result<(f64, f64)> {
    let store: Arc<dyn Store> = propusk::store::open(url).await.context("open the store")?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                store.commit(vec![Change::InsertAudit(event(t * PER_TASK + i))]).await?;
            }
            Ok::<(), propusk::ports::StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let concurrent = (TASKS * PER_TASK) as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut written = TASKS * PER_TASK;
    let filled_from = written;
    while written < entries {
        let n = FILL_BATCH.min(entries - written);
        store.commit((written..written + n).map(|i| Change::InsertAudit(event(i))).collect()).await?;
        written += n;
    }
    let fill = (written - filled_from) as f64 / start.elapsed().as_secs_f64().max(1e-9);
    Ok((concurrent, fill))
}

/// Runs `propusk audit verify --json` on `store`; its time, peak memory and entries checked.
fn verify(dir: &Path, store: &str) -> anyhow::Result<(Duration, f64, u64)> {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_propusk"))
        .args(["audit", "verify", "--json"])
        .current_dir(dir)
        .env("PROPUSK_STORE_URL", store)
        .env("PROPUSK_POLICIES_DIR", &policies)
        .env("PROPUSK_KEYS_MASTER_KEY_FILE", dir.join("master.key"))
        // Not a configuration key: propusk would refuse to start.
        .env_remove("PROPUSK_BENCH_AUDIT_ENTRIES")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn propusk")?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let mut out = String::new();
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(v) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                peak_kib = peak_kib.max(v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    out.push_str(&reader.join().map_err(|_| anyhow::anyhow!("reader"))??);
    if !status.success() {
        bail!("propusk audit verify failed ({status}): {out}");
    }
    let v: serde_json::Value = serde_json::from_str(&out).context("verify's JSON")?;
    let checked = v[0]["entries_checked"].as_u64().context("entries_checked")?;
    Ok((took, peak_kib as f64 * 1024.0 / 1e6, checked))
}

fn psql(base: &str, sql: &str) -> anyhow::Result<()> {
    let status = Command::new("psql").arg(format!("{base}/postgres")).args(["-q", "-c", sql]).status()?;
    if !status.success() {
        bail!("psql {sql} failed");
    }
    Ok(())
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
