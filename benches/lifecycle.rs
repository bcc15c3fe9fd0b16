//! Register imports and the deprovisioning scheduler at scale, written to `BENCHMARKS.md`.
//!
//! Runs the release `propusk` binary as an administrator would, on SQLite and on the
//! machine's PostgreSQL: a 50,000-row 1C export (CSV, the example mapping) into an empty
//! store (every row a new person, issued credentials included), the same file with
//! every group changed, then 5,000 graduations today and one `propusk lifecycle run`
//! that blocks them all. Reported: wall time and the process's peak resident memory.
//! Run with `cargo bench --bench lifecycle` (PostgreSQL at `PROPUSK_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

const ROWS: usize = 50_000;
const DUE: usize = 5_000;
const BEGIN: &str = "<!-- lifecycle:begin -->";
const END: &str = "<!-- lifecycle:end -->";

struct Run {
    took: Duration,
    peak_mb: f64,
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let today = (chrono::Utc::now() + chrono::Duration::hours(3)).format("%d.%m.%Y").to_string();
    write_csv(&dir.path().join("register.csv"), "ИС", "обучается", "01.09.2026", None)?;
    write_csv(&dir.path().join("changed.csv"), "ПР", "обучается", "01.09.2026", None)?;
    write_csv(&dir.path().join("graduation.csv"), "ПР", "выпущен", &today, Some(DUE))?;
    let pg_base = std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let pg_name = format!("propusk_bench_{}", std::process::id());
    psql(&pg_base, &format!("CREATE DATABASE {pg_name}"))?;
    let stores = [
        ("SQLite", format!("sqlite:{}", dir.path().join("data/propusk.db").display())),
        ("PostgreSQL", format!("{pg_base}/{pg_name}")),
    ];
    let mut rows = String::new();
    for (name, url) in &stores {
        let new = run(dir.path(), url, &["roster", "import", "register.csv", "--slips", &slips(dir.path(), name, 1)])?;
        let changed =
            run(dir.path(), url, &["roster", "import", "changed.csv", "--slips", &slips(dir.path(), name, 2)])?;
        let grads = run(dir.path(), url, &["roster", "import", "graduation.csv"])?;
        let sched = run(dir.path(), url, &["lifecycle", "run"])?;
        let ok = |r: &Run, target: f64| if r.took.as_secs_f64() < target && r.peak_mb < 200.0 { "yes" } else { "no" };
        rows.push_str(&format!(
            "| {name} | import of {ROWS} new people (credentials issued) | {:.2} s | {:.0} MB | < 10 s, < 200 MB | {} |\n\
             | {name} | import of the same {ROWS} people, every group changed | {:.2} s | {:.0} MB | < 10 s, < 200 MB | {} |\n\
             | {name} | import of {DUE} graduations (cases opened) | {:.2} s | {:.0} MB | | |\n\
             | {name} | scheduler run over {DUE} due cases (block step) | {:.2} s | {:.0} MB | < 5 s, < 200 MB | {} |\n",
            new.took.as_secs_f64(),
            new.peak_mb,
            ok(&new, 10.0),
            changed.took.as_secs_f64(),
            changed.peak_mb,
            ok(&changed, 10.0),
            grads.took.as_secs_f64(),
            grads.peak_mb,
            sched.took.as_secs_f64(),
            sched.peak_mb,
            ok(&sched, 5.0),
        ));
    }
    psql(&pg_base, &format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let body = format!(
        "## Register imports and deprovisioning\n\n\
         `cargo bench --bench lifecycle`: the release binary on this machine ({cores} cores), one run. \
         Each figure is one command's wall time and its peak resident memory. The register is a \
         {ROWS}-row 1C export: CSV, `;`, the example mapping. The graduations' cases have the block \
         step due, plus the shipped manual tasks, which wait for an administrator.\n\n\
         | store | what | time | peak memory | target | met? |\n|---|---|---|---|---|---|\n{rows}\n"
    );
    print!("{body}");
    write_section(&body)
}

fn slips(dir: &Path, store: &str, n: u32) -> String {
    dir.join(format!("slips-{store}-{n}.csv")).display().to_string()
}

/// A 1C export: `count` rows (all when `None`) of `ROWS` people.
fn write_csv(path: &Path, group: &str, status: &str, date: &str, count: Option<usize>) -> anyhow::Result<()> {
    let mut s = String::from("Номер студенческого билета;ФИО;Группа;Email;Статус;Дата;Номер приказа;Дата приказа\n");
    for i in 0..count.unwrap_or(ROWS) {
        s.push_str(&format!(
            "С-{i:06};Студентова{i} Анна Петровна;{group}-{:02};s{i}@college.example;{status};{date};{}-к;01.08.2026\n",
            i % 40,
            i % 97 + 1
        ));
    }
    std::fs::write(path, s).context("write the register")
}

/// Runs `propusk ARGS` on `store` and samples its peak resident memory.
fn run(dir: &Path, store: &str, args: &[&str]) -> anyhow::Result<Run> {
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/roster-mapping.example.toml");
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_propusk"))
        .args(args)
        .current_dir(dir)
        .env("PROPUSK_STORE_URL", store)
        .env("PROPUSK_LIFECYCLE_ROSTER_MAPPING_FILE", &mapping)
        .env("PROPUSK_POLICIES_DIR", &policies)
        .env("PROPUSK_KEYS_MASTER_KEY_FILE", dir.join("master.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn propusk")?;
    // Read while the command runs: a full pipe would stop it.
    let mut stderr = child.stderr.take().context("stderr")?;
    let errors = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        err
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
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
    let err = errors.join().unwrap_or_default();
    if !status.success() {
        bail!("propusk {} failed: {err}", args.join(" "));
    }
    Ok(Run { took, peak_mb: peak_kib as f64 * 1024.0 / 1e6 })
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
