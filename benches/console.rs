//! The administrators' console over 100,000 accounts, written to `BENCHMARKS.md`.
//!
//! On SQLite and on the machine's PostgreSQL: a store seeded with 100,000 people
//! (students in 2,500 groups of 40, teachers, staff), then each console listing's use
//! case (what the page and the JSON API call) run `ROUNDS` times one after another:
//! the first page, a name search, a group, a role and status, the last page, one
//! person's page, the reports and one library system's entitled list. Reported: p50
//! and p95 latency. Then a 2,000-person intake registered from register rows (the
//! console's "register a group"), issued passwords hashed, in wall time.
//! Run with `cargo bench --bench console` (PostgreSQL at `PROPUSK_TEST_PG`).

#[path = "../tests/common/lifecycle_kit.rs"]
mod kit;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use propusk::app::Actor;
use propusk::app::console::ConsoleUser;
use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::console::Permissions;
use propusk::domain::ids::{AccountId, Login};
use propusk::domain::roster::{RosterRow, RosterStatus, RowError};
use propusk::domain::time::Timestamp;
use propusk::ports::{AccountFilter, Change, Store};

const PEOPLE: usize = 100_000;
const INTAKE: usize = 2_000;
const ROUNDS: usize = 40;
const BEGIN: &str = "<!-- console:begin -->";
const END: &str = "<!-- console:end -->";

const SURNAMES: [&str; 12] = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
];

fn account(i: usize, now: Timestamp) -> Account {
    let (role, group) = match i % 50 {
        0..=44 => (Role::Student, Some(format!("ГР-{:04}", i / 40 % 2_500))),
        45..=48 => (Role::Teacher, None),
        _ => (Role::Staff, None),
    };
    Account {
        id: AccountId::generate(now.as_millis() + i as i64, &mut rand::rngs::OsRng),
        login: Login::parse(&format!("user{i:06}")).expect("login"),
        full_name: format!("{} Иван {}", SURNAMES[i % SURNAMES.len()], i),
        email: None,
        roles: Roles::new([role]),
        study_group: group,
        department: (role != Role::Student).then(|| "Кафедра".to_owned()),
        external_id: Some(format!("x{i:07}")),
        status: if i % 97 == 0 { AccountStatus::Suspended } else { AccountStatus::Active },
        password_must_change: false,
        password_expires_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let pg_base = std::env::var("PROPUSK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let pg_name = format!("propusk_bench_console_{}", std::process::id());
    psql(&pg_base, &format!("CREATE DATABASE {pg_name}"))?;
    let stores = [
        ("SQLite", format!("sqlite:{}", dir.path().join("data/propusk.db").display())),
        ("PostgreSQL", format!("{pg_base}/{pg_name}")),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = String::new();
    for (name, url) in &stores {
        let policies = dir.path().join(format!("policies-{name}"));
        copy_policies(&policies)?;
        rows.push_str(&runtime.block_on(measure(name, url, &policies))?);
    }
    psql(&pg_base, &format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let body = format!(
        "## Administrators' console over 100,000 accounts\n\n\
         `cargo bench --bench console`: this machine ({cores} cores), one run; {PEOPLE} accounts; each \
         use case {ROUNDS} times in a row (what a console page or an API list endpoint calls, without \
         the HTML). The library list decides every account with the Cedar policies (cached by roles, \
         group and department) and is an export, not a page.\n\n\
         | store | what | p50 | p95 | target |\n|---|---|---|---|---|\n{rows}\n"
    );
    print!("{body}");
    write_section(&body)
}

async fn measure(name: &str, url: &str, policies: &Path) -> anyhow::Result<String> {
    let store: Arc<dyn Store> = propusk::store::open(url).await.context("open the store")?;
    let clock = Arc::new(kit::TestClock(AtomicI64::new(0)));
    clock.set("2026-09-01T09:00:00Z");
    let now = Timestamp::from_millis(1_788_253_200_000);
    let seed = Instant::now();
    for chunk in (0..PEOPLE).collect::<Vec<_>>().chunks(1_000) {
        let changes = chunk
            .iter()
            .map(|&i| Change::InsertAccount { account: account(i, now), password_hash: "x".into() })
            .collect();
        store.commit(changes).await?;
    }
    eprintln!("{name}: seeded {PEOPLE} in {:.1} s", seed.elapsed().as_secs_f64());
    let app = kit::app(store.clone(), clock.clone(), policies, "bench").await;
    let admin = app
        .add_user(
            &Actor::system(),
            propusk::domain::account::NewAccount {
                login: "chief.admin".into(),
                full_name: "Главный Администратор".into(),
                roles: vec![Role::EiosAdmin],
                ..Default::default()
            },
            propusk::domain::journal::Channel::Cli,
        )
        .await?;
    let who = ConsoleUser {
        actor: Actor { name: "chief.admin".into(), ip: None },
        perms: Permissions::of(&admin.account.roles),
        account: admin.account.clone(),
    };
    let filter = |f: AccountFilter| AccountFilter { limit: propusk::app::console::PAGE, ..f };
    let mut out = String::new();
    let mut row = |what: &str, d: &mut Vec<Duration>, target: &str| {
        d.sort();
        let p =
            |q: f64| d[((d.len() as f64 * q).ceil() as usize).saturating_sub(1).min(d.len() - 1)].as_secs_f64() * 1e3;
        out.push_str(&format!("| {name} | {what} | {:.1} ms | {:.1} ms | {target} |\n", p(0.5), p(0.95)));
    };
    let cases: Vec<(&str, AccountFilter)> = vec![
        ("users: first page", filter(AccountFilter::default())),
        (
            "users: name search \"смирнов\"",
            filter(AccountFilter { text: Some("смирнов".into()), ..Default::default() }),
        ),
        ("users: one group", filter(AccountFilter { study_group: Some("ГР-1234".into()), ..Default::default() })),
        (
            "users: role and status",
            filter(AccountFilter {
                role: Some(Role::Teacher),
                status: Some(AccountStatus::Active),
                ..Default::default()
            }),
        ),
        ("users: last page", filter(AccountFilter { offset: (PEOPLE as u32 / 50 - 1) * 50, ..Default::default() })),
    ];
    for (what, f) in cases {
        let mut d = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let page = app.console_users(&who, f.clone()).await?;
            d.push(t.elapsed());
            std::hint::black_box(page);
        }
        row(what, &mut d, "p95 < 100 ms");
    }
    let mut d = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(app.console_user(&who, &format!("user{:06}", i * 2_111)).await?);
        d.push(t.elapsed());
    }
    row("one person's page", &mut d, "p95 < 100 ms");
    let mut d = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(app.reports(&who, 30).await?);
        d.push(t.elapsed());
    }
    row("reports (30 days)", &mut d, "p95 < 100 ms");
    let mut d = Vec::with_capacity(3);
    for _ in 0..3 {
        let t = Instant::now();
        let n = app.library_list(&who, "iprsmart").await?.len();
        d.push(t.elapsed());
        std::hint::black_box(n);
    }
    row("library list: everyone entitled to one system (export)", &mut d, "");
    let t = Instant::now();
    let report = app.bulk_register(&who, intake(), Some("ГР-НОВ".into()), false, "intake.csv").await?;
    let took = t.elapsed();
    if !report.applied || report.issued.len() != INTAKE {
        bail!("the intake was not registered: {:?}", report.errors.first());
    }
    out.push_str(&format!(
        "| {name} | register a {INTAKE}-person intake (passwords hashed, slips issued) | {:.2} s | | < 60 s |\n",
        took.as_secs_f64()
    ));
    Ok(out)
}

fn intake() -> Vec<Result<RosterRow, RowError>> {
    (0..INTAKE)
        .map(|i| {
            Ok(RosterRow {
                line: i + 2,
                external_id: format!("n{i:06}"),
                full_name: format!("{} Пётр {}", SURNAMES[i % SURNAMES.len()], ["Ильич", "Олегович"][i % 2]),
                role: Role::Student,
                unit: None,
                email: None,
                status: RosterStatus::Studying,
                effective: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
                order: None,
            })
        })
        .collect()
}

fn copy_policies(to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
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
