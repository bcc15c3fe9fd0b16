//! The nodes of a rush: the release binary started on a seeded store, and what `/proc`
//! tells about its CPU time and memory.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use argon2::PasswordHasher as _;
use propusk::domain::account::{Account, AccountStatus, Role, Roles};
use propusk::domain::ids::{AccountId, Login, SessionToken};
use propusk::domain::session::SessionTimes;
use propusk::domain::time::Timestamp;
use propusk::ports::rules::{Acceptance, RuleVersion, RulesChange};
use propusk::ports::{Change, SessionRecord, Store};

/// Everyone's password: one argon2id hash with the default parameters, stored for every
/// account, so that each verification costs what a real one does.
pub const PASSWORD: &str = "Утро-Понедельника-2026";
pub const GROUP_SIZE: usize = 25;

/// A propusk node; killed when dropped.
pub struct Node {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Node {
    /// Starts `propusk serve` in `dir` with `env`, on the CPUs of `pin` if given.
    pub fn start(bin: &Path, dir: &Path, env: &[(String, String)], pin: Option<&str>) -> anyhow::Result<Self> {
        let mut cmd = match pin {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let log = dir.join(format!("node-{}.log", std::process::id() ^ rand::random::<u32>()));
        cmd.arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?);
        let mut child = cmd.spawn().context("cannot start propusk serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading, so that the node never writes into a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("propusk: listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => Ok(Self { child, base, log }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("propusk did not start within 120 s:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system, every thread) the node has used so far.
    pub fn cpu(&self) -> f64 {
        process_cpu(&format!("/proc/{}/stat", self.pid()))
    }

    /// Peak and current resident memory in MB (`VmHWM`, `VmRSS`).
    pub fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds of the process whose `stat` file is `path` (Linux counts 100 ticks a second).
pub fn process_cpu(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    [11, 12].iter().filter_map(|&i| f.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
}

/// Busy CPU seconds of the whole machine so far.
pub fn machine_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<&str> = stat.lines().next().unwrap_or("").split_whitespace().collect();
    [1, 2, 3, 6, 7, 8].iter().filter_map(|&i| cpu.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
}

/// CPU seconds of every PostgreSQL server process on the machine.
pub fn postgres_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| process_cpu(&e.path().join("stat").display().to_string()))
        .sum()
}

/// One person of the seeded college.
pub fn account(i: usize, now: Timestamp) -> Account {
    let (role, group, department) = match i % 50 {
        0..=44 => (Role::Student, Some(group_of(i)), None),
        // Staff do not use Moodle (the `learning` audience); everyone here does.
        _ => (Role::Teacher, None, Some("Кафедра информатики".to_owned())),
    };
    Account {
        id: AccountId::generate(now.as_millis() + i as i64, &mut rand::rngs::OsRng),
        login: Login::parse(&login_of(i)).expect("a login"),
        full_name: format!("Утренний Человек {i}"),
        email: Some(format!("{}@college.example", login_of(i))),
        roles: Roles::new([role]),
        study_group: group,
        department,
        external_id: Some(format!("R{i:07}")),
        status: AccountStatus::Active,
        password_must_change: false,
        password_expires_at: None,
        created_at: now,
        updated_at: now,
    }
}

pub fn login_of(i: usize) -> String {
    format!("utro.{i:06}")
}

pub fn group_of(i: usize) -> String {
    format!("ГР-{:04}", i / GROUP_SIZE)
}

/// Seeds `people` accounts with the one password, rules version 1 that everyone has
/// accepted (R-7: they did so on an earlier day). Returns the accounts' ids in order.
pub async fn seed(store: &Arc<dyn Store>, people: usize) -> anyhow::Result<Vec<AccountId>> {
    let salt = argon2::password_hash::SaltString::generate(&mut rand::rngs::OsRng);
    let argon2 = propusk::hash::HashParams::default().argon2()?;
    let hash = argon2.hash_password(PASSWORD.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string();
    let now = Timestamp::from_millis(now_ms());
    let text = "Правила пользования ЭИОС колледжа.".to_owned();
    store
        .commit(vec![Change::Rules(RulesChange::Publish(RuleVersion {
            number: 1,
            digest: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
            text_ru: text,
            text_en: None,
            published_at: now,
            published_by: "bench".into(),
        }))])
        .await?;
    let mut ids = Vec::with_capacity(people);
    for start in (0..people).step_by(1_000) {
        let accounts: Vec<Account> = (start..(start + 1_000).min(people)).map(|i| account(i, now)).collect();
        let mut changes = Vec::with_capacity(accounts.len() * 2);
        for a in &accounts {
            ids.push(a.id.clone());
            changes.push(Change::InsertAccount { account: a.clone(), password_hash: hash.clone() });
        }
        for a in accounts {
            changes.push(Change::Rules(RulesChange::Accept(Acceptance {
                account: a.id,
                version: 1,
                at: now,
                ip: None,
            })));
        }
        store.commit(changes).await?;
    }
    Ok(ids)
}

/// Live sessions for `ids`, as if those people had signed in earlier in the morning; the
/// tokens are their cookies' values.
pub async fn add_sessions(store: &Arc<dyn Store>, ids: &[AccountId]) -> anyhow::Result<Vec<String>> {
    let now = Timestamp::from_millis(now_ms());
    let mut tokens = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1_000) {
        let mut changes = Vec::with_capacity(chunk.len());
        for id in chunk {
            let token = SessionToken::generate(&mut rand::rngs::OsRng);
            changes.push(Change::InsertSession(SessionRecord {
                hash: token.hash(),
                account_id: id.clone(),
                times: SessionTimes {
                    created_at: now,
                    last_seen_at: now,
                    idle_timeout: Duration::from_secs(3_600),
                    expires_at: now.saturating_add(Duration::from_secs(12 * 3_600)),
                },
                ip: Some("10.200.0.1".into()),
                user_agent: Some("rush".into()),
                ended_at: None,
                second_factor_at: None,
            }));
            tokens.push(token.expose().to_owned());
        }
        store.commit(changes).await?;
    }
    Ok(tokens)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Runs the CLI with the nodes' environment; its JSON answer.
pub fn cli(bin: &Path, dir: &Path, env: &[(String, String)], args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("USER", "bench")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()?;
    ensure!(out.status.success(), "propusk {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}
