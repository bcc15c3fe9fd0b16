//! The end-to-end harness: starts the real `propusk` binary on 127.0.0.1:0 in a private
//! directory, over TLS with its generated development CA, and drives it with a real HTTP
//! client and cookie jar.

#![allow(dead_code)]

pub mod second_factor;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_propusk");

/// Cheap hashing keeps the suite fast; the benchmark measures the real parameters.
pub const FAST_HASH: [(&str, &str); 3] = [
    ("PROPUSK_PASSWORDS_ARGON2_MEMORY_KIB", "256"),
    ("PROPUSK_PASSWORDS_ARGON2_ITERATIONS", "1"),
    // Tests sign in wrongly from one address many times a second; the budget for suspect
    // attempts is measured by the guessing benchmark and unit-tested in `hash.rs`.
    ("PROPUSK_PROTECTION_SUSPECT_HASHES_PER_SECOND", "1000"),
];

/// The repository's `policies/` directory, which every server of the suite starts with
/// unless a test points `PROPUSK_POLICIES_DIR` elsewhere.
pub fn shipped_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    /// The first administrator's one-time password, if this start printed one.
    pub bootstrap_password: Option<String>,
    pub stdout: Vec<String>,
}

impl Server {
    pub fn start(extra_env: &[(&str, &str)]) -> Server {
        Self::start_in_dir(tempfile::tempdir().expect("tempdir"), extra_env)
    }

    /// Like `start`, in a directory prepared beforehand (a restored store, say).
    pub fn start_in_dir(dir: tempfile::TempDir, extra_env: &[(&str, &str)]) -> Server {
        let mut env: Vec<(String, String)> = FAST_HASH.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("PROPUSK_SERVER_LISTEN".into(), "127.0.0.1:0".into()));
        env.push(("PROPUSK_POLICIES_DIR".into(), shipped_policies().display().to_string()));
        // The rules acknowledgement has its own tests (`tests/rules.rs`,
        // `tests/browser.rs`), which turn it on; elsewhere people go straight on.
        env.push(("PROPUSK_RULES_REQUIRED".into(), "false".into()));
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::start_in(dir, env)
    }

    /// Starts again in the same directory (same store and certificate).
    pub fn restart(mut self) -> Server {
        self.stop_gracefully();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let env = std::mem::take(&mut self.env);
        Self::start_in(dir, env)
    }

    fn start_in(dir: tempfile::TempDir, env: Vec<(String, String)>) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("server.log"))
                    .expect("log file"),
            ))
            .spawn()
            .expect("spawn propusk");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let base = loop {
            let line = rx.recv_timeout(Duration::from_secs(60)).expect("propusk did not start in 60 s");
            lines.push(line.clone());
            if let Some(url) = line.strip_prefix("propusk: listening on ") {
                break url.to_owned();
            }
        };
        let bootstrap_password =
            lines.iter().find_map(|l| l.trim().strip_prefix("password: ").map(|p| p.trim().to_owned()));
        Server { child: Some(child), base, dir, env, bootstrap_password, stdout: lines }
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("certs/dev-ca.pem")
    }

    /// A browser-like client: its own cookie jar, trusting only the development CA.
    pub fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if self.base.starts_with("https") {
            let pem = std::fs::read(self.ca()).expect("dev CA");
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA pem")).https_only(true);
        }
        b.build().expect("client")
    }

    /// Runs `propusk ARGS` against the same store.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_in(self.dir.path(), &self.env, args)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then waits for the process to exit by itself.
    pub fn stop_gracefully(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(ok.success());
        for _ in 0..200 {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("propusk did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn cli_in(dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("USER", "registrar")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run propusk")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of `<input … name="NAME" value="VALUE">` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')?;
    Some(unescape(&html[start..start + end]))
}

/// Undoes HTML attribute escaping.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

/// All values of `<input … name="NAME" value="VALUE">` in a page.
pub fn input_values(html: &str, name: &str) -> Vec<String> {
    let needle = format!("name=\"{name}\" value=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let start = i + needle.len();
            html[start..].find('"').map(|end| html[start..start + end].to_owned())
        })
        .collect()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Registers a person through the CLI and returns the issued password.
pub fn add_user(server: &Server, login: &str, name: &str, role: &str) -> String {
    let out = server.cli(&["user", "add", login, "--name", name, "--role", role, "--json"]);
    assert!(out.status.success(), "user add failed: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["password"].as_str().expect("password").to_owned()
}

/// GET /sign-in then POST the form; returns the POST's response.
pub async fn sign_in(server: &Server, client: &reqwest::Client, login: &str, password: &str) -> reqwest::Response {
    let page = client.get(server.url("/sign-in")).send().await.expect("get").text().await.expect("body");
    let csrf = input_value(&page, "csrf").unwrap_or_else(|| panic!("no csrf field in {page}"));
    client
        .post(server.url("/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password), ("next", "/account")])
        .send()
        .await
        .expect("post")
}

/// The anti-forgery token of a signed-in page.
pub async fn csrf_of(server: &Server, client: &reqwest::Client, path: &str) -> String {
    let page = client.get(server.url(path)).send().await.expect("get").text().await.expect("body");
    input_value(&page, "csrf").expect("csrf field")
}
pub mod slapd;
