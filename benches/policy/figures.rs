//! The policy benchmark's measurements and its section of `BENCHMARKS.md`: what a run
//! measured, CPU time from `/proc`, waiting for a quiet machine, and the report.

use super::*;

/// What one timed run measured.
#[derive(Default)]
pub(super) struct Measured {
    pub(super) ok: u64,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
    pub(super) secs: f64,
    pub(super) latencies: Vec<Duration>,
    pub(super) threads: usize,
    /// CPU seconds: the server process (forward-auth), this process, the machine.
    pub(super) server_cpu: f64,
    pub(super) own_cpu: f64,
    pub(super) machine_cpu: f64,
    pub(super) allowed: u64,
}

impl Measured {
    pub(super) fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    pub(super) fn percentile_us(&self, q: f64) -> f64 {
        let i = (self.latencies.len().saturating_sub(1) as f64 * q).round() as usize;
        self.latencies.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    }

    /// The share of all cores that other processes used.
    pub(super) fn other_share(&self, cores: usize) -> f64 {
        (self.machine_cpu - self.server_cpu - self.own_cpu).max(0.0) / (self.secs * cores as f64)
    }

    pub(super) fn share(&self, cpu: f64, cores: usize) -> f64 {
        cpu / (self.secs * cores as f64)
    }
}

/// Waits until the machine has been nearly idle for a second, at most `QUIET_WAIT`.
pub(super) async fn wait_for_quiet(cores: usize) {
    let until = Instant::now() + QUIET_WAIT;
    loop {
        let before = Cpu::machine();
        tokio::time::sleep(Duration::from_secs(1)).await;
        if Cpu::machine() - before < QUIET * cores as f64 || Instant::now() >= until {
            return;
        }
    }
}

/// CPU seconds used so far by the server, by this process and by the whole machine.
pub(super) struct Cpu {
    pub(super) server: f64,
    pub(super) own: f64,
    pub(super) machine: f64,
}

impl Cpu {
    pub(super) fn now(server: Option<u32>) -> Self {
        // `/proc` counts in USER_HZ ticks, which Linux fixes at 100 per second; after the
        // command name, utime and stime are the 12th and 13th fields.
        let process = |path: String| {
            let stat = std::fs::read_to_string(path).unwrap_or_default();
            let rest = stat.rsplit_once(')').map_or(String::new(), |(_, r)| r.to_owned());
            let fields: Vec<&str> = rest.split_whitespace().collect();
            [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
        };
        Self {
            server: server.map_or(0.0, |pid| process(format!("/proc/{pid}/stat"))),
            own: process("/proc/self/stat".into()),
            machine: Self::machine(),
        }
    }

    pub(super) fn machine() -> f64 {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<&str> = stat.lines().next().unwrap_or("").split_whitespace().collect();
        [1, 2, 3, 6, 7, 8].iter().filter_map(|&i| cpu.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
    }
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

pub(super) fn report(
    cores: usize,
    commit: &str,
    decisions: &[Measured],
    stored: &Measured,
    forward: &[(CookieKind, Measured)],
) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown".into());
    let date = chrono::Utc::now().format("%Y-%m-%d");
    let mut out = format!(
        "## Role policies and forward-auth (`benches/policy.rs`)\n\n\
         Measured {date} with `cargo bench --bench policy` (release profile) at commit {commit} on {cores} \
         cores ({model}).\n\n\
         | Figure | Value | Target | Met? |\n|---|---|---|---|\n"
    );
    for d in decisions {
        let p99 = d.percentile_us(0.99);
        out.push_str(&format!(
            "| Policy decisions, {} thread{} | {:.0}/s | | |\n\
             | Decision latency p50 / p99 / max, {} thread{} | {:.1} / {:.1} / {:.1} µs | p99 < 50 µs | {} |\n",
            d.threads,
            if d.threads == 1 { "" } else { "s" },
            d.rate(),
            d.threads,
            if d.threads == 1 { "" } else { "s" },
            d.percentile_us(0.5),
            p99,
            d.percentile_us(1.0),
            yes(p99 < 50.0),
        ));
    }
    out.push_str(&format!(
        "| Decisions with the restrictions read from SQLite (`App::decide_access`), 1 task | {:.0}/s; p50 / p99 \
         {:.1} / {:.1} µs | | |\n",
        stored.rate(),
        stored.percentile_us(0.5),
        stored.percentile_us(0.99),
    ));
    for (kind, f) in forward {
        let label = match kind {
            CookieKind::Session => "session cookie",
            CookieKind::HostSession => "host session cookie (another host, after the handoff)",
        };
        let target = if *kind == CookieKind::Session { "≥ 20,000/s" } else { "" };
        let met = if *kind == CookieKind::Session { yes(f.rate() >= 20_000.0) } else { "" };
        out.push_str(&format!(
            "| Forward-auth `GET /auth/verify`, {label} | {:.0}/s ({:.0} per server CPU-second); p50 / p99 {:.2} / \
             {:.2} ms; errors {} | {target} | {met} |\n",
            f.rate(),
            f.ok as f64 / f.server_cpu.max(1e-9),
            f.percentile_us(0.5) / 1e3,
            f.percentile_us(0.99) / 1e3,
            f.errors,
        ));
    }
    let shares: Vec<String> = decisions
        .iter()
        .chain(std::iter::once(stored))
        .chain(forward.iter().map(|(_, f)| f))
        .map(|m| format!("{:.0}", m.other_share(cores) * 100.0))
        .collect();
    out.push_str(&format!(
        "| CPU taken by other processes (decisions 1 thread, {cores} threads, with the store; forward-auth session, \
         host session) | {} % | < 15 % each | {} |\n\n",
        shares.join(" / "),
        yes(decisions
            .iter()
            .chain(std::iter::once(stored))
            .chain(forward.iter().map(|(_, f)| f))
            .all(|m| m.other_share(cores) <= DISTURBED)),
    ));
    for (kind, f) in forward {
        out.push_str(&format!(
            "Forward-auth, {kind:?} cookie: the server took {:.0} % of the {cores} cores and the load generator {:.0} %.\n",
            f.share(f.server_cpu, cores) * 100.0,
            f.share(f.own_cpu, cores) * 100.0,
        ));
    }
    out.push_str(&format!(
        "\n**Decisions.** A catalogue of {RESOURCES} generated resources (a quarter each `oidc`, `forward_auth`, \
         `link`, `ldap`; audiences `everyone`, `library`, `learning`, `staff` in turn) with the shipped \
         `schema.cedarschema`, `guards.cedar` and `roles.cedar` and two more policies, one by study group and one \
         by department; {ACCOUNTS} accounts (75 % students with one of 6 groups, the rest teachers, staff, \
         librarians, administrators and security officers with one of 4 departments, some with two roles, 0.5 % \
         suspended) stored in SQLite, one in {RESTRICTED_EVERY} with a restriction of a random resource (half of \
         those lapsed). Each decision picks a random account and resource and is timed on its own: \
         `Subject::new` over the account's restrictions and `Policies::decide` (which builds the Cedar principal \
         and asks Cedar's authorizer), exactly what `App::decide_access` does after reading the restrictions. \
         {DECISIONS} decisions per thread; the row with {cores} threads runs {cores} such threads at once. The \
         store row goes through `App::decide_access` itself, {STORE_DECISIONS} decisions one after another on \
         the benchmark's runtime. Allowed: {} of {} (1 thread).\n\n\
         **Forward-auth.** `target/release/propusk serve` in a fresh directory (SQLite with WAL and \
         `synchronous=FULL`) with `PROPUSK_TLS_MODE=off`, `PROPUSK_SERVER_LISTEN=127.0.0.1:0`, \
         `PROPUSK_SERVER_TRUSTED_PROXIES=127.0.0.1` and `PROPUSK_POLICIES_DIR` naming the shipped `policies/`. \
         {SESSIONS} staff members signed in through the HTML form with their issued passwords changed; each was \
         also handed over to `timetable.college.example` (`/auth/continue`, then `/auth/callback` as the proxy \
         passes it) for a host session cookie. {CLIENTS} HTTP/1.1 keep-alive connections in the benchmark's process \
         (a lean client over plain TCP that writes each request prepared once as bytes and reads the status \
         line, the head and the body, so that the load takes little of the cores the server needs) \
         send `GET /auth/verify` with `X-Original-URL: {EDITOR}` (the `timetable-editor` resource, which \
         releases name, e-mail and groups) and one of the cookies, as nginx's `auth_request` does; a request \
         counts when answered 200 with `Remote-User`. {}s warm-up, then {}s measured. Every request reads the \
         session, the account and its restrictions from the store and asks Cedar; the session is touched at most \
         once a minute. Latency is from sending a request to having read its whole answer. \"Per server \
         CPU-second\" divides by the CPU time of the server process (from `/proc/PID/stat`).\n\n\
         **Quiet machine.** Each measurement began once the machine had been less than {:.0} % busy for a second \
         (waiting at most {}s) and was made again, up to {ATTEMPTS} times in all, while other processes took more \
         than {:.0} % of the cores during it; the least disturbed one is reported.\n",
        decisions.first().map_or(0, |d| d.allowed),
        decisions.first().map_or(0, |d| d.ok),
        WARM_UP.as_secs(),
        RUN.as_secs(),
        QUIET * 100.0,
        QUIET_WAIT.as_secs(),
        DISTURBED * 100.0,
    ));
    for (kind, f) in forward {
        if let Some(e) = &f.first_error {
            out.push_str(&format!("\nFirst error, forward-auth {kind:?}: {e}\n"));
        }
    }
    out
}

/// Replaces this benchmark's section of BENCHMARKS.md, or appends it.
pub(super) fn write_section(body: &str) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path)?;
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
