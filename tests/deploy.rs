//! The deployment files in `deploy/` tried for real (D-12, R-15, R-16).
//!
//! `deploy/nginx/cluster.conf` runs in a real nginx (the Debian package), only its
//! ports, node addresses, certificate paths and the app hosts' network substituted, in
//! front of two real propusk nodes on one PostgreSQL database with `tls.mode = "off"`:
//! a person signs in through nginx, the requests reach both nodes, the client address
//! the nodes record is the one nginx saw (a forged `X-Forwarded-For` changes nothing),
//! forward-auth is open to the app hosts only, and with one node killed every request
//! still succeeds. `deploy/propusk.service` is checked with `systemd-analyze verify`
//! and its exposure score with `systemd-analyze security` where systemd is installed.

mod common;
#[path = "common/store_db.rs"]
mod store_db;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{BIN, Server, add_user, input_value, location, stderr};
use reqwest::StatusCode;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `text` with `from` replaced by `to`, which must occur in it: a substitution that no
/// longer finds its target would test some other file than the one shipped.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "deploy/nginx/cluster.conf no longer contains {from:?}");
    text.replace(from, to)
}

/// nginx with `cluster.conf` (substituted) included in a minimal main configuration.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(cluster_conf: &str, https_port: u16) -> Nginx {
        let nginx = tool("nginx").expect("nginx is required (Debian package nginx; scripts/test installs it)");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.path().join("tmp").join(t)).expect("mkdir");
        }
        std::fs::write(dir.path().join("cluster.conf"), cluster_conf).expect("write cluster.conf");
        let root = Command::new("id").arg("-u").output().map(|o| common::stdout(&o).trim() == "0").unwrap_or(false);
        let main = format!(
            "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\ndaemon off;\n\
             events {{ worker_connections 128; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  \
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  \
             include {d}/cluster.conf;\n}}\n",
            user = if root { "user root;" } else { "" },
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, main).expect("write nginx.conf");
        let check = Command::new(&nginx).args(["-t", "-p", &d, "-c"]).arg(&path).output().expect("nginx -t");
        assert!(check.status.success(), "nginx -t: {}", stderr(&check));
        let mut child = Command::new(&nginx)
            .args(["-p", &d, "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", https_port)).is_ok() {
                return Nginx { child, dir };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nginx did not listen: {}", std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default());
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// How many requests for `route` a node's metrics listener has counted (all statuses).
async fn requests_for(node: &Server, route: &str) -> u64 {
    let at = node
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("propusk: metrics on "))
        .expect("the node prints its metrics address")
        .to_owned();
    let text = reqwest::get(&at).await.expect("metrics").text().await.expect("body");
    let label = format!("propusk_http_requests_total{{route=\"{route}\",");
    text.lines()
        .filter(|l| l.starts_with(&label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

#[tokio::test]
async fn cluster_conf_spreads_requests_over_two_nodes_and_survives_one_killed() {
    let db = store_db::Db::postgres().await;
    let shared = tempfile::tempdir().expect("tempdir");
    let key = shared.path().join("master.key").display().to_string();
    // nginx's certificate: a CA and a certificate for 127.0.0.1 (the college's, in life).
    let tls = propusk::tls::ensure_dev_cert(&shared.path().join("tls")).expect("certificate");
    let (https_port, http_port) = (free_port(), free_port());
    let public = format!("https://127.0.0.1:{https_port}");
    let url = db.url();
    let env = [
        ("PROPUSK_STORE_URL", url.as_str()),
        ("PROPUSK_KEYS_MASTER_KEY_FILE", key.as_str()),
        ("PROPUSK_TLS_MODE", "off"),
        ("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1"),
        ("PROPUSK_SERVER_PUBLIC_URL", public.as_str()),
        ("PROPUSK_METRICS_LISTEN", "127.0.0.1:0"),
    ];
    let a = Server::start(&env);
    let b = Server::start(&env);
    for node in [&a, &b] {
        assert!(node.base.starts_with("http://"), "a node behind nginx speaks plain HTTP: {}", node.base);
    }

    let mut conf = std::fs::read_to_string(deploy("nginx/cluster.conf")).expect("cluster.conf");
    for (from, to) in [
        ("10.0.1.11:8080", a.base.trim_start_matches("http://").to_owned()),
        ("10.0.1.12:8080", b.base.trim_start_matches("http://").to_owned()),
        ("listen 443 ssl http2;", format!("listen 127.0.0.1:{https_port} ssl http2;")),
        ("listen [::]:443 ssl http2;", String::new()),
        ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
        ("listen [::]:80;", String::new()),
        ("/etc/ssl/certs/sso.college.example.pem", tls.cert.display().to_string()),
        ("/etc/ssl/private/sso.college.example.key", tls.key.display().to_string()),
        // The app hosts' network: here the balancer's own address, while the browser
        // below comes from 127.0.0.2.
        ("allow 10.0.2.0/24;", "allow 127.0.0.1;".to_owned()),
    ] {
        conf = substitute(&conf, from, &to);
    }
    let _nginx = Nginx::start(&conf, https_port);

    // The browser: another loopback address than nginx's, trusting nginx's CA only.
    let pem = std::fs::read(&tls.ca).expect("CA");
    let browser = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .https_only(true)
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    };
    let at = |path: &str| format!("{public}{path}");

    // Plain HTTP only redirects to HTTPS.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{http_port}/account"))
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert!(location(&r).starts_with("https://127.0.0.1"), "{}", location(&r));

    // Requests are spread: ten health checks through nginx reach both nodes.
    let c = browser();
    for _ in 0..10 {
        let r = c.get(at("/healthz")).send().await.expect("healthz through nginx");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let (ha, hb) = (requests_for(&a, "/healthz").await, requests_for(&b, "/healthz").await);
    assert_eq!(ha + hb, 10, "every health check reached a node once");
    assert!(ha >= 3 && hb >= 3, "both nodes answer (round robin): {ha} and {hb}");

    // A sign-in through nginx: the form from one node, the POST at the other, the
    // password change at either; the session works wherever nginx sends the request.
    let issued = add_user(&a, "balansirov.b", "Балансиров Борис", "student");
    let page = c.get(at("/sign-in")).send().await.expect("form").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = c
        .post(at("/sign-in"))
        .header("X-Forwarded-For", "203.0.113.9")
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "balansirov.b"),
            ("password", issued.as_str()),
            ("next", "/account"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in through nginx");
    assert_eq!(location(&r), "/account/password", "an issued password is changed first");
    let page = c.get(at("/account/password")).send().await.expect("form").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("the session holds on the next request");
    let new = "Балансир-два-узла-2026";
    let r = c
        .post(at("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", issued.as_str()), ("new", new), ("confirm", new)])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password changed through nginx");
    let before = (requests_for(&a, "/account").await, requests_for(&b, "/account").await);
    for _ in 0..6 {
        assert_eq!(c.get(at("/account")).send().await.expect("account").status(), StatusCode::OK);
    }
    let after = (requests_for(&a, "/account").await, requests_for(&b, "/account").await);
    assert!(after.0 > before.0 && after.1 > before.1, "the session is good at both nodes: {before:?} → {after:?}");

    // The address recorded is the browser's as nginx saw it, not the forged one.
    let shown = a.cli(&["user", "show", "balansirov.b", "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    let ips: Vec<&str> =
        shown["sign_ins"].as_array().expect("sign-ins").iter().filter_map(|s| s["ip"].as_str()).collect();
    assert_eq!(ips, ["127.0.0.2"], "{shown}");

    // Forward-auth through the balancer: refused to a browser, which could otherwise
    // name any original request; answered for an app host (here 127.0.0.1).
    let timetable = "https://timetable.college.example/edit/week";
    let r = c.get(at("/auth/verify")).header("X-Original-URL", timetable).send().await.expect("verify");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "nginx refuses forward-auth from a browser");
    let app_host = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .local_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()
        .expect("client");
    let r = app_host.get(at("/auth/verify")).header("X-Original-URL", timetable).send().await.expect("verify");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "propusk answers the app host: nobody signed in");
    assert!(location(&r).starts_with(&format!("{public}/sign-in?next=")), "{}", location(&r));

    // One node killed: nginx sends everything to the other, sign-ins included.
    let kill = Command::new("kill").args(["-9", &a.pid().to_string()]).status().expect("kill");
    assert!(kill.success());
    let b_before = requests_for(&b, "/account").await;
    for _ in 0..6 {
        assert_eq!(c.get(at("/account")).send().await.expect("account").status(), StatusCode::OK);
    }
    assert_eq!(requests_for(&b, "/account").await, b_before + 6, "the surviving node answered them all");
    let issued = add_user(&b, "ostavshiysya.o", "Оставшийся Олег", "student");
    for _ in 0..3 {
        let c = browser();
        let page = c.get(at("/sign-in")).send().await.expect("form").text().await.expect("body");
        let csrf = input_value(&page, "csrf").expect("csrf");
        let r = c
            .post(at("/sign-in"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("login", "ostavshiysya.o"),
                ("password", issued.as_str()),
                ("next", "/account"),
            ])
            .send()
            .await
            .expect("sign in with a node down");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "a sign-in with one node down");
    }
    drop(a);
    drop(b);
    db.finish().await;
}

/// The unit as shipped, with `ExecStart` pointing at the binary just built (verify
/// checks that the command exists).
fn unit_with_built_binary(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(deploy("propusk.service")).expect("propusk.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/propusk serve --config /etc/propusk/propusk.toml"));
    let path = dir.join("propusk.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/propusk", BIN)).expect("write unit");
    path
}

#[test]
fn systemd_unit_verifies_and_stays_hardened() {
    let Some(analyze) = tool("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed (Debian package systemd): the unit is not checked");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path());
    let out = Command::new(&analyze).arg("verify").arg(&unit).output().expect("systemd-analyze verify");
    // Unknown keys and bad values are only warnings to systemd: any output is a failure.
    assert!(out.status.success() && stderr(&out).trim().is_empty(), "systemd-analyze verify: {}", stderr(&out));

    // Exposure score (0 safest, 10 worst) at most 2.0; the shipped unit scores 1.6 with
    // systemd 252, the rest being the network itself and binding port 443.
    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze security");
    assert!(out.status.success(), "the unit's exposure grew past 2.0:\n{}{}", common::stdout(&out), stderr(&out));

    // The check itself fails on a unit with a misspelt key.
    let bad = dir.path().join("propusk-bad.service");
    let text = std::fs::read_to_string(&unit).expect("unit").replace("ProtectHome=yes", "ProtectHomes=yes");
    std::fs::write(&bad, text).expect("write");
    let out = Command::new(&analyze).arg("verify").arg(&bad).output().expect("systemd-analyze verify");
    assert!(stderr(&out).contains("ProtectHomes"), "a misspelt key is reported: {}", stderr(&out));
}
