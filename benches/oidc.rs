//! Throughput and latency of the OpenID Connect provider, written to `BENCHMARKS.md`.
//!
//! Starts, on loopback, the release `propusk serve` twice (plain HTTP with
//! `tls.mode = "off"`, and HTTPS with the development certificate) and the npm package
//! `oidc-provider` configured alike (`bench/oidc-provider/`), each in its own process.
//! Then, one server at a time, 64 keep-alive clients (a lean HTTP/1.1 client on plain
//! HTTP, reqwest over TLS) call each endpoint as fast as it
//! answers: discovery, JWKS, authorization (informational), code exchange, refresh with
//! rotation, client_credentials, UserInfo and introspection. Throughput, p50/p99 latency,
//! errors and the server process's CPU time are recorded per phase; the ratios propusk /
//! oidc-provider are computed on plain HTTP. Each measurement waits for a quiet machine
//! and is repeated when other processes took much CPU during it. Run with
//! `cargo bench --bench oidc`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

#[path = "lean/http1.rs"]
mod http1;

/// Concurrent keep-alive clients of every phase.
const CLIENTS: usize = 64;
/// Length of a timed phase; the code exchange ends earlier if its codes run out.
const RUN: Duration = Duration::from_secs(8);
/// Untimed load before each timed phase (connections, caches, the JavaScript JIT).
const WARM_UP: Duration = Duration::from_secs(2);
/// Codes made and exchanged untimed before the timed code exchange, to size it.
const PILOT_CODES: usize = 1024;
/// The longest the codes of one timed exchange may take to make: they live 60 s.
const MAKE_CODES_WITHIN: Duration = Duration::from_secs(35);
/// Before each measurement, the longest wait for the machine to be nearly idle (below
/// `QUIET` of its cores busy over a second), so that other work disturbs it less.
const QUIET_WAIT: Duration = Duration::from_secs(120);
const QUIET: f64 = 0.10;
/// A measurement during which other processes took more than this share of the cores
/// is made again, up to `ATTEMPTS` times in all; the least disturbed one is kept.
const DISTURBED: f64 = 0.15;
const ATTEMPTS: usize = 3;
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";
/// The ID tokens' algorithm on both servers, `ES256` unless `BENCH_ID_TOKEN_ALG` says
/// `RS256`.
fn id_token_alg() -> String {
    match std::env::var("BENCH_ID_TOKEN_ALG").as_deref() {
        Ok("RS256") => "RS256".to_owned(),
        _ => "ES256".to_owned(),
    }
}
const SCOPE: &str = "openid profile";
const SERVICE_SCOPE: &str = "roles groups";
/// The PKCE verifier of every code (RFC 7636 §4.1: 43 to 128 characters).
const VERIFIER: &str = "propusk-bench-pkce-verifier-0123456789-abcdefghijklmnop";
const LOGIN: &str = "bench.user";
const NEW_PASSWORD: &str = "Облако-над-рекой-7";
const BEGIN: &str = "<!-- oidc:begin -->";
const END: &str = "<!-- oidc:end -->";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Endpoint {
    Discovery,
    Jwks,
    Authorize,
    CodeExchange,
    Refresh,
    ClientCredentials,
    Userinfo,
    Introspection,
}

impl Endpoint {
    const ALL: [Endpoint; 8] = [
        Endpoint::Discovery,
        Endpoint::Jwks,
        Endpoint::Authorize,
        Endpoint::CodeExchange,
        Endpoint::Refresh,
        Endpoint::ClientCredentials,
        Endpoint::Userinfo,
        Endpoint::Introspection,
    ];

    fn label(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery `GET /.well-known/openid-configuration`",
            Endpoint::Jwks => "JWKS `GET /jwks`",
            Endpoint::Authorize => "authorization with a session `GET /authorize` (303 with a code)",
            Endpoint::CodeExchange => "code exchange `POST /token` authorization_code + PKCE",
            Endpoint::Refresh => "refresh with rotation `POST /token` refresh_token",
            Endpoint::ClientCredentials => "`POST /token` client_credentials",
            Endpoint::Userinfo => "UserInfo `GET /userinfo`",
            Endpoint::Introspection => "introspection `POST /introspect`",
        }
    }

    /// The issue's target for propusk / oidc-provider, if there is one.
    fn target(self) -> Option<f64> {
        match self {
            Endpoint::Discovery | Endpoint::Jwks | Endpoint::Userinfo | Endpoint::Introspection => Some(3.0),
            Endpoint::CodeExchange | Endpoint::Refresh | Endpoint::ClientCredentials => Some(2.0),
            Endpoint::Authorize => None,
        }
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs benchmarks without `--bench`: nothing to do then.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .thread_name("oidc-load")
        .build()?;
    let body = rt.block_on(run(cores))?;
    println!("{body}");
    write_section(&body)
}

async fn run(cores: usize) -> anyhow::Result<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let provider_dir = root.join("bench/oidc-provider");
    ensure_node_modules(&provider_dir)?;
    let bin = propusk_binary(root)?;
    let mut facts = Facts::gather(root, &provider_dir, cores);

    eprintln!("oidc: starting propusk (HTTP and HTTPS) and oidc-provider…");
    let plain = Propusk::start(&bin, false)?;
    let tls = Propusk::start(&bin, true)?;
    // The same client secret on both sides.
    let node = start_oidc_provider(&provider_dir, &plain.secret)?;

    let targets = [
        Arc::new(Target::propusk("propusk", &plain).await?),
        Arc::new(Target::oidc_provider(&node, &plain.secret).await?),
        Arc::new(Target::propusk("propusk HTTPS", &tls).await?),
    ];
    let processes = [&plain.process, &node, &tls.process];
    let mut results: Vec<BTreeMap<Endpoint, Phase>> = vec![BTreeMap::new(); targets.len()];
    // Endpoint by endpoint, each server in turn: drift on the machine hits all alike.
    for endpoint in Endpoint::ALL {
        if endpoint == Endpoint::CodeExchange {
            continue; // measured together with Authorize: it needs that phase's codes
        }
        for (t, target) in targets.iter().enumerate() {
            let mut best: Option<(f64, Vec<(Endpoint, Phase)>)> = None;
            for attempt in 1..=ATTEMPTS {
                eprintln!("oidc: {} — {endpoint:?} (attempt {attempt})", target.label);
                facts.attempts += 1;
                if !wait_for_quiet(cores).await {
                    facts.busy_starts += 1;
                }
                let measured = measure(target, endpoint).await.with_context(|| {
                    let tail = processes[t].stderr_tail();
                    format!("{} {endpoint:?}; the server's stderr ends with:\n{tail}", target.label)
                })?;
                let other = measured.iter().map(|(_, p)| p.other_share(cores)).fold(0.0, f64::max);
                if best.as_ref().is_none_or(|(least, _)| other < *least) {
                    best = Some((other, measured));
                }
                if other <= DISTURBED {
                    break;
                }
            }
            for (e, phase) in best.map(|(_, m)| m).unwrap_or_default() {
                results[t].insert(e, phase);
            }
        }
    }
    Ok(report(&facts, &targets, &results))
}

/// Installs oidc-provider from the lock file when it is not installed yet.
fn ensure_node_modules(dir: &Path) -> anyhow::Result<()> {
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return Ok(());
    }
    eprintln!("oidc: npm ci --prefix {}", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .status()
        .context("cannot run npm (Node.js 20 or later and npm are needed)")?;
    ensure!(status.success(), "npm ci --prefix {} failed: {status}", dir.display());
    Ok(())
}

/// The release binary cargo built for this benchmark (built here if it is missing).
fn propusk_binary(root: &Path) -> anyhow::Result<PathBuf> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_propusk"));
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--bin", "propusk"])
            .current_dir(root)
            .status()
            .context("cannot run cargo build")?;
        ensure!(status.success(), "cargo build --release failed: {status}");
    }
    Ok(bin)
}

/// A server process of the benchmark; killed when dropped.
struct Process {
    child: Child,
    base: String,
    log: PathBuf,
    /// A directory removed with the process (after it is killed).
    scratch: Option<tempfile::TempDir>,
}

impl Process {
    /// Spawns `cmd` (stdout piped, stderr to `log`) and waits for its line
    /// `PREFIX: listening on URL`.
    fn spawn(mut cmd: Command, prefix: &str, log: PathBuf) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(File::create(&log)?);
        let mut child = cmd.spawn().with_context(|| format!("cannot start {prefix}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let wanted = format!("{prefix}: listening on ");
        // Keeps reading, so that the server never writes into a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix(&wanted) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Ok(Self { child, base, log, scratch: None }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("{prefix} did not report listening within 60 s; its stderr:\n{err}")
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of the server's standard error, for a failure's message.
    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `propusk serve` in a fresh directory, with the benchmark's client and person.
struct Propusk {
    process: Process,
    tls: bool,
    dir: tempfile::TempDir,
    secret: String,
    issued_password: String,
}

impl Propusk {
    fn start(bin: &Path, tls: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // The shipped role policies; the client `bench` is not in their catalogue.
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").display().to_string();
        let mut env = vec![("PROPUSK_SERVER_LISTEN", "127.0.0.1:0"), ("PROPUSK_POLICIES_DIR", policies.as_str())];
        if !tls {
            env.push(("PROPUSK_TLS_MODE", "off"));
        }
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied());
        let process = Process::spawn(cmd, "propusk", dir.path().join("stderr.log"))?;
        let cli = |args: &[&str]| -> anyhow::Result<serde_json::Value> {
            let out = Command::new(bin)
                .args(args)
                .current_dir(dir.path())
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("USER", "bench")
                .envs(env.iter().copied())
                .output()?;
            ensure!(out.status.success(), "propusk {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            Ok(serde_json::from_slice(&out.stdout)?)
        };
        let client = cli(&[
            "client",
            "add",
            "bench",
            "--name",
            "Bench",
            "--redirect-uri",
            REDIRECT_URI,
            "--scopes",
            "openid profile email roles groups offline_access",
            "--id-token-alg",
            &id_token_alg(),
            "--json",
        ])?;
        let user = cli(&[
            "user",
            "add",
            LOGIN,
            "--name",
            "Студент Нагрузочный",
            "--role",
            "student",
            "--group",
            "ИС-21",
            "--json",
        ])?;
        let secret = client["client_secret"].as_str().context("no client_secret")?.to_owned();
        let issued_password = user["password"].as_str().context("no password")?.to_owned();
        Ok(Self { process, tls, dir, secret, issued_password })
    }
}

fn start_oidc_provider(dir: &Path, secret: &str) -> anyhow::Result<Process> {
    let mut cmd = Command::new("node");
    cmd.arg("server.mjs")
        .current_dir(dir)
        .env("NODE_ENV", "production")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("CLIENT_SECRET", secret)
        .env("ID_TOKEN_ALG", id_token_alg());
    let scratch = tempfile::tempdir()?;
    let mut process = Process::spawn(cmd, "oidc-provider", scratch.path().join("stderr.log"))?;
    process.scratch = Some(scratch);
    Ok(process)
}

/// One server as the load generator sees it.
struct Target {
    label: &'static str,
    base: String,
    pid: u32,
    http: reqwest::Client,
    /// `Authorization: Basic …` of the client `bench`.
    basic: String,
    /// The `Cookie` header of a signed-in browser session.
    session: String,
    authorize_url: String,
    /// The address of a server on plain HTTP, which the timed phases load with the lean
    /// client (`lean/http1.rs`); over TLS they use reqwest.
    plain: Option<std::net::SocketAddr>,
}

/// One answer, whichever client fetched it.
struct Reply {
    status: u16,
    body: Vec<u8>,
    location: String,
}

impl Target {
    fn new(
        label: &'static str,
        base: &str,
        pid: u32,
        secret: &str,
        ca: Option<reqwest::Certificate>,
    ) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(CLIENTS * 2)
            .timeout(Duration::from_secs(30));
        if let Some(ca) = ca {
            b = b.add_root_certificate(ca);
        }
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
        let authorize_url = format!(
            "{base}/authorize?client_id=bench&redirect_uri={}&response_type=code&scope={}\
             &code_challenge={challenge}&code_challenge_method=S256&state=x",
            urlencode(REDIRECT_URI),
            urlencode(SCOPE),
        );
        Ok(Self {
            label,
            base: base.to_owned(),
            pid,
            http: b.build()?,
            basic: format!("Basic {}", STANDARD.encode(format!("bench:{secret}"))),
            session: String::new(),
            authorize_url,
            plain: base.strip_prefix("http://").and_then(|a| a.trim_end_matches('/').parse().ok()),
        })
    }

    /// A connection of the lean client, when this server is on plain HTTP.
    async fn lean(&self) -> anyhow::Result<Option<http1::Conn>> {
        match self.plain {
            Some(addr) => Ok(Some(http1::Conn::connect(addr).await?)),
            None => Ok(None),
        }
    }

    /// `method` `path` (or an absolute URL of this server) with `headers` and an
    /// optional form, on `conn` when there is one, else through reqwest.
    async fn call(
        &self,
        conn: &mut Option<http1::Conn>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> anyhow::Result<Reply> {
        let path = path.strip_prefix(self.base.as_str()).unwrap_or(path);
        let body = match form {
            Some(f) => serde_urlencoded::to_string(f)?,
            None => String::new(),
        };
        let mut headers = headers.to_vec();
        if form.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        if let Some(c) = conn {
            let host = self.base.trim_start_matches("http://");
            let a = c.send(&http1::request(method, host, path, &headers, body.as_bytes())).await?;
            let location = a.header("location").unwrap_or("").to_owned();
            return Ok(Reply { status: a.status, location, body: a.body.to_vec() });
        }
        let url = self.url(path);
        let mut rb = if method == "POST" { self.http.post(url).body(body) } else { self.http.get(url) };
        for (n, v) in headers {
            rb = rb.header(n, v);
        }
        let r = rb.send().await?;
        let (status, location) = (r.status().as_u16(), location(&r));
        Ok(Reply { status, location, body: r.bytes().await?.to_vec() })
    }

    /// Signs in through the HTML forms, changes the issued password, and checks that
    /// `/authorize` then answers with a code.
    async fn propusk(label: &'static str, p: &Propusk) -> anyhow::Result<Self> {
        let ca = if p.tls {
            let pem = std::fs::read(p.dir.path().join("certs/dev-ca.pem")).context("dev-ca.pem")?;
            Some(reqwest::Certificate::from_pem(&pem)?)
        } else {
            None
        };
        let mut t = Target::new(label, &p.process.base, p.process.pid(), &p.secret, ca)?;
        let mut jar = Jar::default();
        // The cookies are `Secure` and `__Host-`; over plain HTTP a client keeps and
        // sends them itself, as a TLS-terminating proxy's browser would.
        let page = t.http.get(t.url("/sign-in")).send().await?;
        jar.absorb(&page);
        let csrf = input_value(&page.text().await?, "csrf").context("no csrf on /sign-in")?;
        let r = t
            .http
            .post(t.url("/sign-in"))
            .header(COOKIE, jar.header())
            .form(&[("csrf", csrf.as_str()), ("login", LOGIN), ("password", &p.issued_password), ("next", "/")])
            .send()
            .await?;
        ensure!(r.status() == StatusCode::SEE_OTHER, "sign-in answered {}", r.status());
        jar.absorb(&r);
        let change = t.http.get(t.url(&location(&r))).header(COOKIE, jar.header()).send().await?;
        jar.absorb(&change);
        let page = change.text().await?;
        ensure!(page.contains("name=\"new\""), "no password change form after signing in with the issued password");
        let csrf = input_value(&page, "csrf").context("no csrf on the password form")?;
        let r = t
            .http
            .post(t.url("/account/password"))
            .header(COOKIE, jar.header())
            .form(&[
                ("csrf", csrf.as_str()),
                ("current", &p.issued_password),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await?;
        ensure!(r.status() == StatusCode::SEE_OTHER, "password change answered {}", r.status());
        jar.absorb(&r);
        // R-7: the rules of the environment are accepted before any service is reached.
        let page = t.http.get(t.url("/rules")).header(COOKIE, jar.header()).send().await?.text().await?;
        let csrf = input_value(&page, "csrf").context("no csrf on the rules page")?;
        let version = input_value(&page, "version").context("no rules to accept")?;
        let form = [("csrf", csrf.as_str()), ("version", version.as_str()), ("answer", "accept"), ("next", "/")];
        let r = t.http.post(t.url("/rules")).header(COOKIE, jar.header()).form(&form).send().await?;
        ensure!(r.status() == StatusCode::SEE_OTHER, "accepting the rules answered {}", r.status());
        t.session = jar.header();
        t.authorize(&mut None).await.context("the first authorization after signing in")?;
        Ok(t)
    }

    /// Follows the interaction that `server.mjs` completes by itself (sign-in of its
    /// fixed account, consent to every scope), keeping the session cookies.
    async fn oidc_provider(p: &Process, secret: &str) -> anyhow::Result<Self> {
        let mut t = Target::new("oidc-provider", &p.base, p.pid(), secret, None)?;
        let mut jar = Jar::default();
        let mut next = t.authorize_url.clone();
        for _ in 0..10 {
            let r = t.http.get(&next).header(COOKIE, jar.header()).send().await?;
            ensure!(r.status().is_redirection(), "{next} answered {}: {}", r.status(), r.text().await?);
            jar.absorb(&r);
            let to = location(&r);
            if to.starts_with(REDIRECT_URI) {
                t.session = jar.header();
                t.authorize(&mut None).await.context("an authorization with the session")?;
                return Ok(t);
            }
            next = if to.starts_with('/') { t.url(&to) } else { to };
        }
        bail!("oidc-provider gave no code after 10 redirects")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One authorization request of the signed-in session: its code.
    async fn authorize(&self, conn: &mut Option<http1::Conn>) -> anyhow::Result<String> {
        let r = self.call(conn, "GET", &self.authorize_url, &[("Cookie", &self.session)], None).await?;
        let to = r.location;
        ensure!(r.status == 303 && to.starts_with(REDIRECT_URI), "answered {} to {to:?}", r.status);
        let url = reqwest::Url::parse(&to)?;
        let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
        code.with_context(|| format!("no code in {to}"))
    }

    async fn token(&self, conn: &mut Option<http1::Conn>, form: &[(&str, &str)]) -> anyhow::Result<Tokens> {
        let r = self.call(conn, "POST", "/token", &[("Authorization", &self.basic)], Some(form)).await?;
        ensure!(r.status == 200, "answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        Ok(serde_json::from_slice(&r.body)?)
    }

    async fn exchange(&self, conn: &mut Option<http1::Conn>, code: &str) -> anyhow::Result<Tokens> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ];
        let t = self.token(conn, &form).await?;
        ensure!(t.id_token.is_some() && t.refresh_token.is_some(), "no ID or refresh token");
        Ok(t)
    }

    /// `n` fresh token sets (codes made and exchanged concurrently).
    async fn fresh_tokens(self: &Arc<Self>, n: usize) -> anyhow::Result<Vec<Tokens>> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let t = self.clone();
            tasks.spawn(async move {
                let code = t.authorize(&mut None).await?;
                t.exchange(&mut None, &code).await
            });
        }
        let mut out = Vec::with_capacity(n);
        while let Some(done) = tasks.join_next().await {
            out.push(done??);
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// A minimal cookie jar that ignores paths, attributes and `Secure`.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn absorb(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let lower = v.to_ascii_lowercase();
            let Some((name, value)) = v.split(';').next().and_then(|p| p.split_once('=')) else { continue };
            if value.is_empty() || lower.contains("max-age=0") || lower.contains("expires=thu, 01 jan 1970") {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// The value of `<input … name="NAME" value="VALUE">` in a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&quot;", "\"").replace("&amp;", "&"))
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).map(|e| e[2..].replace('+', "%20")).unwrap_or_default()
}

/// What one timed phase against one server measured.
#[derive(Clone, Default)]
struct Phase {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    secs: f64,
    /// Latencies of the successful requests, sorted once the phase is over.
    latencies: Vec<Duration>,
    /// CPU seconds during the phase: the server process, this process (the load
    /// generator), the whole machine.
    server_cpu: f64,
    load_cpu: f64,
    machine_cpu: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    /// The share of all cores that other processes used during the phase.
    fn other_share(&self, cores: usize) -> f64 {
        (self.machine_cpu - self.server_cpu - self.load_cpu).max(0.0) / (self.secs * cores as f64)
    }

    fn per_cpu_second(&self) -> f64 {
        self.ok as f64 / self.server_cpu
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        let i = (self.latencies.len().saturating_sub(1) as f64 * q).round() as usize;
        self.latencies.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    }
}

/// What a phase's clients do, with the material they need.
#[derive(Clone)]
struct Work {
    target: Arc<Target>,
    op: Endpoint,
    /// Codes to exchange (the `i`-th request takes the `i`-th).
    codes: Arc<Vec<String>>,
    /// Access tokens for UserInfo and introspection (taken round-robin).
    tokens: Arc<Vec<String>>,
    /// One refresh token chain per client, rotated by each refresh.
    chains: Arc<Vec<Mutex<String>>>,
}

impl Work {
    fn new(target: &Arc<Target>, op: Endpoint) -> Self {
        Self { target: target.clone(), op, codes: Arc::default(), tokens: Arc::default(), chains: Arc::default() }
    }

    /// Request `i` of client `client` on its connection; a code when authorizing.
    async fn one(&self, conn: &mut Option<http1::Conn>, client: usize, i: usize) -> anyhow::Result<Option<String>> {
        let t = &self.target;
        match self.op {
            Endpoint::Discovery | Endpoint::Jwks => {
                let path = if self.op == Endpoint::Jwks { "/jwks" } else { "/.well-known/openid-configuration" };
                let r = t.call(conn, "GET", path, &[], None).await?;
                ensure!(r.status == 200 && !r.body.is_empty(), "answered {}", r.status);
            }
            Endpoint::Authorize => return Ok(Some(t.authorize(conn).await?)),
            Endpoint::CodeExchange => {
                let code = self.codes.get(i).context("no code left")?;
                t.exchange(conn, code).await?;
            }
            Endpoint::Refresh => {
                let chain = self.chains.get(client).context("no chain")?;
                let old = chain.lock().map_err(|_| anyhow!("poisoned"))?.clone();
                let new = t.token(conn, &[("grant_type", "refresh_token"), ("refresh_token", &old)]).await?;
                let rotated = new.refresh_token.context("no refresh token")?;
                ensure!(rotated != old, "the refresh token was not rotated");
                *chain.lock().map_err(|_| anyhow!("poisoned"))? = rotated;
            }
            Endpoint::ClientCredentials => {
                t.token(conn, &[("grant_type", "client_credentials"), ("scope", SERVICE_SCOPE)]).await?;
            }
            Endpoint::Userinfo => {
                let token = &self.tokens[i % self.tokens.len()];
                let bearer = format!("Bearer {token}");
                let r = t.call(conn, "GET", "/userinfo", &[("Authorization", &bearer)], None).await?;
                ensure!(r.status == 200, "answered {}", r.status);
                let v: serde_json::Value = serde_json::from_slice(&r.body)?;
                ensure!(v["sub"].is_string(), "no sub");
            }
            Endpoint::Introspection => {
                let token = &self.tokens[i % self.tokens.len()];
                let form = [("token", token.as_str())];
                let r = t.call(conn, "POST", "/introspect", &[("Authorization", &t.basic)], Some(&form)).await?;
                ensure!(r.status == 200, "answered {}", r.status);
                let v: serde_json::Value = serde_json::from_slice(&r.body)?;
                ensure!(v["active"] == true, "not active: {v}");
            }
        }
        Ok(None)
    }
}

/// Runs `CLIENTS` clients until `run` has passed or `limit` requests were started;
/// returns the measurements and the codes made (when authorizing).
async fn phase(work: &Work, run: Duration, limit: usize) -> anyhow::Result<(Phase, Vec<String>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let before = Cpu::now(work.target.pid);
    let start = Instant::now();
    let deadline = start + run;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (work, next) = (work.clone(), next.clone());
            tokio::spawn(async move {
                let mut part = Phase::default();
                let mut codes = Vec::new();
                let mut conn = None;
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limit {
                        break;
                    }
                    // A new connection at the start and after a failed request (whose
                    // connection may be in any state).
                    if conn.is_none() {
                        match work.target.lean().await {
                            Ok(c) => conn = c,
                            Err(e) => {
                                part.errors += 1;
                                part.first_error.get_or_insert_with(|| format!("{e:#}"));
                                continue;
                            }
                        }
                    }
                    let began = Instant::now();
                    let outcome = work.one(&mut conn, client, i).await;
                    if outcome.is_err() {
                        conn = None;
                    }
                    match outcome {
                        Ok(code) => {
                            part.ok += 1;
                            part.latencies.push(began.elapsed());
                            codes.extend(code);
                        }
                        Err(e) => {
                            part.errors += 1;
                            part.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                (part, codes)
            })
        })
        .collect();
    let mut total = Phase::default();
    let mut codes = Vec::new();
    for task in tasks {
        let (part, c) = task.await?;
        total.ok += part.ok;
        total.errors += part.errors;
        total.first_error = total.first_error.take().or(part.first_error);
        total.latencies.extend(part.latencies);
        codes.extend(c);
    }
    total.secs = start.elapsed().as_secs_f64();
    let after = Cpu::now(work.target.pid);
    total.server_cpu = after.server - before.server;
    total.load_cpu = after.load - before.load;
    total.machine_cpu = after.machine - before.machine;
    total.latencies.sort_unstable();
    Ok((total, codes))
}

/// Warms up, then measures one endpoint of one server. Authorization and code exchange
/// are measured together: the exchange consumes the codes the timed authorization made.
async fn measure(target: &Arc<Target>, endpoint: Endpoint) -> anyhow::Result<Vec<(Endpoint, Phase)>> {
    let mut work = Work::new(target, endpoint);
    match endpoint {
        Endpoint::Authorize | Endpoint::CodeExchange => {
            // Untimed pilot: warms both endpoints and sizes the timed exchange so that it
            // lasts about `RUN` and its codes are made well within their 60 s.
            let (made, codes) = phase(&work, Duration::from_secs(60), PILOT_CODES).await?;
            ensure!(made.errors == 0, "pilot authorization: {:?}", made.first_error);
            let mut exchange = Work::new(target, Endpoint::CodeExchange);
            exchange.codes = Arc::new(codes);
            let (used, _) = phase(&exchange, Duration::from_secs(60), PILOT_CODES).await?;
            ensure!(used.errors == 0, "pilot exchange: {:?}", used.first_error);
            let wanted = (used.rate() * RUN.as_secs_f64() * 1.2) as usize;
            let n = wanted.min((made.rate() * MAKE_CODES_WITHIN.as_secs_f64()) as usize).max(CLIENTS);
            let (authorize, codes) = phase(&work, MAKE_CODES_WITHIN + Duration::from_secs(5), n).await?;
            exchange.codes = Arc::new(codes);
            let (exchanged, _) = phase(&exchange, RUN, exchange.codes.len()).await?;
            return Ok(vec![(Endpoint::Authorize, authorize), (Endpoint::CodeExchange, exchanged)]);
        }
        Endpoint::Refresh => {
            let sets = target.fresh_tokens(CLIENTS).await?;
            let chains = sets.into_iter().map(|t| Mutex::new(t.refresh_token.unwrap_or_default()));
            work.chains = Arc::new(chains.collect());
        }
        Endpoint::Userinfo | Endpoint::Introspection => {
            let sets = target.fresh_tokens(CLIENTS).await?;
            work.tokens = Arc::new(sets.into_iter().map(|t| t.access_token).collect());
        }
        Endpoint::Discovery | Endpoint::Jwks | Endpoint::ClientCredentials => {}
    }
    let (warm, _) = phase(&work, WARM_UP, usize::MAX).await?;
    ensure!(warm.errors == 0 || warm.ok > 0, "warm-up failed: {:?}", warm.first_error);
    let (timed, _) = phase(&work, RUN, usize::MAX).await?;
    Ok(vec![(endpoint, timed)])
}

/// Waits until the machine has been nearly idle for a second, at most `QUIET_WAIT`;
/// whether it was.
async fn wait_for_quiet(cores: usize) -> bool {
    let until = Instant::now() + QUIET_WAIT;
    loop {
        let before = Cpu::machine();
        tokio::time::sleep(Duration::from_secs(1)).await;
        if Cpu::machine() - before < QUIET * cores as f64 {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
    }
}

/// CPU seconds used so far by a server process, by this process and by the machine.
struct Cpu {
    server: f64,
    load: f64,
    machine: f64,
}

impl Cpu {
    fn now(pid: u32) -> Self {
        // `/proc` counts in USER_HZ ticks, which Linux fixes at 100 per second.
        let sum = |fields: &[&str], pick: &[usize]| {
            pick.iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
        };
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        // After the command name, field 3 comes first: utime and stime are 14 and 15.
        let process = |stat: String| {
            let rest = stat.rsplit_once(')').map_or(String::new(), |(_, r)| r.to_owned());
            sum(&rest.split_whitespace().collect::<Vec<_>>(), &[11, 12])
        };
        Self {
            server: process(read(&format!("/proc/{pid}/stat"))),
            load: process(read("/proc/self/stat")),
            machine: Self::machine(),
        }
    }

    /// Busy CPU seconds of the whole machine so far.
    fn machine() -> f64 {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // cpu user nice system idle iowait irq softirq steal
        let cpu: Vec<&str> = stat.lines().next().unwrap_or("").split_whitespace().collect();
        [1, 2, 3, 6, 7, 8].iter().filter_map(|&i| cpu.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
    }
}

/// What the report says about the run's setting.
struct Facts {
    cores: usize,
    model: String,
    node: String,
    oidc_provider: String,
    commit: String,
    /// Measurements made, and those that began on a busy machine after `QUIET_WAIT`.
    attempts: usize,
    busy_starts: usize,
}

impl Facts {
    fn gather(root: &Path, provider_dir: &Path, cores: usize) -> Self {
        let out = |cmd: &mut Command| {
            cmd.output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map_or("unknown", |v| v.trim_start_matches([' ', '\t', ':']))
            .to_owned();
        let package = std::fs::read_to_string(provider_dir.join("node_modules/oidc-provider/package.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
        let oidc_provider = package.and_then(|p| p["version"].as_str().map(str::to_owned)).unwrap_or_default();
        let git = |args: &[&str]| out(Command::new("git").args(args).current_dir(root));
        let head = git(&["rev-parse", "--short", "HEAD"]);
        let dirty = !git(&["status", "--porcelain", "--", "src", "migrations", "Cargo.lock"]).is_empty();
        let commit = if dirty { format!("{head} with uncommitted changes to the server") } else { head };
        let node = out(Command::new("node").arg("--version"));
        Self { cores, model, node, oidc_provider, commit, attempts: 0, busy_starts: 0 }
    }
}

fn report(f: &Facts, targets: &[Arc<Target>], results: &[BTreeMap<Endpoint, Phase>]) -> String {
    let n = f.cores as f64;
    let get = |t: usize, e: Endpoint| results.get(t).and_then(|r| r.get(&e));
    let yes = |ok: bool| if ok { "yes" } else { "**no**" };
    let rate = |p: &Phase| format!("{:.0} ({:.0}/core)", p.rate(), p.rate() / n);
    let lat = |p: &Phase| format!("{:.1} / {:.1}", p.percentile_ms(0.5), p.percentile_ms(0.99));
    let mut out = format!(
        "## OpenID Connect provider (`benches/oidc.rs`)\n\n\
         Measured {date} with `cargo bench --bench oidc` (release profile) on {cores} cores ({model}): \
         propusk at commit {commit}; oidc-provider {op} on Node.js {node}; {alg} ID tokens on both. {CLIENTS} concurrent \
         HTTP/1.1 keep-alive clients, {run} s per timed phase after a {warm} s warm-up, one server \
         at a time. On plain HTTP both servers are loaded by the same lean client over TCP \
         (`benches/lean/http1.rs`: each request written as bytes, the answer's status, head and body \
         read, nothing more), so that the load takes little of the cores the servers need; over HTTPS \
         by reqwest. Other work shares this machine: each measurement began once the machine had been \
         less than {quiet:.0} % busy for a second (waiting at most {wait} s), and was made again, up to \
         {ATTEMPTS} times in all, while other processes took more than {disturbed:.0} % of the cores during \
         it, and the least disturbed one is reported: {attempts} measurements were made for the {count} \
         reported, {busy} of them begun on a busier machine; the last table shows what other processes \
         took.\n\n\
         ### propusk / oidc-provider, plain HTTP\n\n\
         | Endpoint | propusk req/s | oidc-provider req/s | ratio | propusk req per server CPU-s | \
         oidc-provider req per server CPU-s | ratio | target | met (CPU-s / req/s) | \
         p50 / p99 ms propusk | p50 / p99 ms oidc-provider | p99 < 20 ms | errors |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cores = f.cores,
        model = f.model,
        commit = f.commit,
        op = f.oidc_provider,
        node = f.node,
        alg = id_token_alg(),
        run = RUN.as_secs(),
        warm = WARM_UP.as_secs(),
        quiet = QUIET * 100.0,
        wait = QUIET_WAIT.as_secs(),
        disturbed = DISTURBED * 100.0,
        attempts = f.attempts,
        busy = f.busy_starts,
        count = (Endpoint::ALL.len() - 1) * targets.len(),
    );
    for e in Endpoint::ALL {
        let (Some(p), Some(o)) = (get(0, e), get(1, e)) else { continue };
        let (ratio_rate, ratio_cpu) = (p.rate() / o.rate(), p.per_cpu_second() / o.per_cpu_second());
        let (target, met) = match e.target() {
            Some(x) => (format!("≥ {x:.0}×"), format!("{} / {}", yes(ratio_cpu >= x), yes(ratio_rate >= x))),
            None => ("(informational)".to_owned(), String::new()),
        };
        out.push_str(&format!(
            "| {label} | {pr} | {or} | {ratio_rate:.2}× | {pc:.0} | {oc:.0} | {ratio_cpu:.2}× | {target} | {met} | \
             {pl} | {ol} | {p99} | {pe} / {oe} |\n",
            label = e.label(),
            pr = rate(p),
            or = rate(o),
            pc = p.per_cpu_second(),
            oc = o.per_cpu_second(),
            pl = lat(p),
            ol = lat(o),
            p99 = yes(p.percentile_ms(0.99) < 20.0),
            pe = p.errors,
            oe = o.errors,
        ));
    }
    out.push_str(
        "\n### propusk over HTTPS (for the record)\n\n\
         | Endpoint | req/s | req per server CPU-s | p50 / p99 ms | p99 < 20 ms | errors | req/s vs plain HTTP |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for e in Endpoint::ALL {
        let (Some(s), Some(p)) = (get(2, e), get(0, e)) else { continue };
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {:.0} % |\n",
            e.label(),
            rate(s),
            s.per_cpu_second(),
            lat(s),
            yes(s.percentile_ms(0.99) < 20.0),
            s.errors,
            s.rate() / p.rate() * 100.0,
        ));
    }
    out.push_str(&format!(
        "\n### Where the CPU went (% of all {} cores during each timed phase: server / load generator / other)\n\n\
         | Endpoint |",
        f.cores
    ));
    for t in targets {
        out.push_str(&format!(" {} |", t.label));
    }
    out.push_str(&format!("\n|---|{}\n", "---|".repeat(targets.len())));
    for e in Endpoint::ALL {
        out.push_str(&format!("| {} |", e.label()));
        for t in 0..targets.len() {
            match get(t, e) {
                Some(p) => {
                    let pct = |x: f64| x / (p.secs * n) * 100.0;
                    let other = p.other_share(f.cores) * 100.0;
                    out.push_str(&format!(" {:.0} / {:.0} / {other:.0} |", pct(p.server_cpu), pct(p.load_cpu)));
                }
                None => out.push_str(" |"),
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\n**How the figures are computed.** req/s counts requests answered as expected (checked, \
         see below) divided by the phase's wall time; \"/core\" divides that by all {cores} cores. \
         \"req per server CPU-s\" divides the same count by the CPU time (user + system, all threads) \
         of the server's process over the phase, read from `/proc/PID/stat`: the servers, the load \
         generator and the machine's other work share the {cores} cores, and oidc-provider runs its \
         JavaScript on one thread (with helpers for garbage collection and I/O) while propusk's runtime \
         uses every core, so this is the fairer figure. Each \
         \"ratio\" is propusk's figure divided by oidc-provider's for the same endpoint in the same run; \
         \"met\" compares the target first with the CPU-second ratio, then with the req/s ratio. \
         Latency is from sending a request to having read its whole answer, at {CLIENTS} clients; \
         errors are requests that failed or were answered otherwise than expected.\n\n\
         **What each request is.** Discovery and JWKS: 200 with a body. Authorization: a signed-in \
         session's `GET /authorize` (`response_type=code`, `scope={SCOPE}`, S256 `code_challenge`) \
         answered 303 to the redirect URI with a code. Code exchange: `authorization_code` with \
         `code_verifier`, client_secret_basic; the answer must hold an access, a refresh and an ID \
         token; each code is used once, all made by the timed authorization phase just before, so \
         this phase may end before {run} s when its codes run out. Refresh: each client keeps its own \
         chain (from a code exchange) and must get a new refresh token every time. client_credentials: \
         `scope={SERVICE_SCOPE}`. UserInfo: `Authorization: Bearer` with one of {CLIENTS} fresh access \
         tokens, 200 with `sub`. Introspection: client_secret_basic, one of {CLIENTS} fresh access tokens, \
         `\"active\": true`.\n\n\
         **The servers.** propusk: `target/release/propusk serve` in a fresh directory with \
         `PROPUSK_SERVER_LISTEN=127.0.0.1:0` and `PROPUSK_POLICIES_DIR` naming the shipped `policies/` \
         (the client `bench` is not in its catalogue, so an authorization consults the client's role \
         list only, not the Cedar policies), and `PROPUSK_TLS_MODE=off` for plain HTTP (the HTTPS one \
         uses the generated development certificate; with keep-alive, handshakes are rare); \
         everything else default: SQLite with WAL and `synchronous=FULL` on disk, so every code and \
         token is durable before it is answered; {alg} ID tokens ({alg_key}), opaque access tokens, \
         refresh rotation, PKCE. The client comes from `propusk client add bench --name Bench \
         --redirect-uri {REDIRECT_URI} --scopes \"openid profile email roles groups offline_access\" \
         --id-token-alg {alg} --json` (access tokens 600 s, refresh tokens 30 days), the person from `propusk user add`, \
         signed in once through the HTML form and with the issued password changed. oidc-provider: \
         `bench/oidc-provider/server.mjs` with `NODE_ENV=production` and `ID_TOKEN_ALG={alg}`, configured \
         alike ({alg} ID tokens, an RSA 2048-bit and an EC P-256 key published, opaque access tokens, resource indicators \
         off, refresh rotation on every use and a refresh token with every code exchange, PKCE S256 \
         required, code 60 s, access and ID token 600 s, refresh token 30 days, the same paths, the \
         profile claims in the ID token), its interaction signing in a fixed account and granting every \
         scope once so that later authorizations of the session answer at once; its codes, tokens, \
         sessions and grants live in memory (a `Map`), not on disk — in that it has less work to do \
         than propusk. See `bench/oidc-provider/README.md`.\n\n\
         Reproduce:\n\n\
         ```sh\n\
         npm ci --prefix bench/oidc-provider   # done by the benchmark when node_modules is missing\n\
         cargo bench --bench oidc                          # ES256 ID tokens on both servers\n\
         BENCH_ID_TOKEN_ALG=RS256 cargo bench --bench oidc # RS256 instead\n\
         ```\n",
        cores = f.cores,
        run = RUN.as_secs(),
        alg = id_token_alg(),
        alg_key = if id_token_alg() == "ES256" { "P-256 key" } else { "2048-bit key" },
    ));
    for (t, target) in targets.iter().enumerate() {
        for e in Endpoint::ALL {
            if let Some(err) = get(t, e).and_then(|p| p.first_error.as_ref()) {
                out.push_str(&format!("\nFirst error, {} {}: {err}\n", target.label, e.label()));
            }
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
