//! A PostgreSQL cluster of the test's own, for tests that stop, restart or break the
//! database (the machine's shared cluster on 5432 is never touched): `initdb` into a
//! temporary directory owned by the `postgres` OS user (PostgreSQL refuses to run as
//! root), a free loopback port, trust authentication, its socket in that directory.
//! `initdb` and `pg_ctl` are found on `PATH` or under `/usr/lib/postgresql/*/bin`. The
//! cluster is stopped when the value is dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct PrivatePg {
    /// The directory holding `data/`, the socket and `postgres.log`.
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PrivatePg {
    /// Creates and starts a cluster; panics with the reason when it cannot.
    pub fn start() -> PrivatePg {
        let bin = pg_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).output().expect("chown");
        assert!(
            chown.status.success(),
            "a private PostgreSQL needs root and the postgres OS user: {}",
            String::from_utf8_lossy(&chown.stderr)
        );
        let port = free_port();
        let pg = PrivatePg { dir, bin, port };
        let data = pg.data().display().to_string();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
        );
        pg.start_again();
        pg
    }

    /// `postgres://…/DB` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_db(&self, name: &str) -> String {
        use sqlx::Connection as _;
        let mut admin =
            sqlx::PgConnection::connect(&self.url("postgres")).await.expect("connect to the private cluster");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
        self.url(name)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("postgres.log").display().to_string();
        let opts = self.server_options();
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &opts, "start"]);
    }

    /// `pg_ctl stop -m fast`: open sessions are ended and the server shuts down cleanly.
    pub fn stop(&self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-w", "-t", "60", "-m", "fast", "stop"]);
    }

    /// `pg_ctl restart -m fast`.
    pub fn restart(&self) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("postgres.log").display().to_string();
        let opts = self.server_options();
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-m", "fast", "-o", &opts, "restart"]);
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// Loopback only, the socket in the test's directory; `fsync=off` because a test's
    /// data need not survive the machine, only the server's restarts.
    fn server_options(&self) -> String {
        format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=60",
            self.port,
            self.dir.path().display()
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.command(tool, args).output().unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool)).args(args).current_dir(self.dir.path());
        c
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self.command("pg_ctl", &["-D", &data, "-w", "-t", "30", "-m", "immediate", "stop"]).output();
    }
}

/// The directory of `initdb` and `pg_ctl`: on `PATH`, else the newest under
/// `/usr/lib/postgresql`.
fn pg_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| Path::new(bin).join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).expect("initdb and pg_ctl not found (install postgresql)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
