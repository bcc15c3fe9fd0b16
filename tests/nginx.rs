//! A real nginx (the Debian package) in front of a small upstream, asking the real
//! propusk through `deploy/nginx/`'s snippets (forward-auth, R-3, R-4, R-14): an
//! allowed person reaches the app with propusk's identity headers, a refused one and an
//! anonymous one do not reach it at all, and identity headers a client forges never
//! reach it. Across hosts, the session is handed over through the app host's
//! `/.propusk/callback` with a one-time code; a replayed or foreign code is refused and
//! signing out at propusk ends the app host's cookie. Everything listens on loopback
//! ports chosen at run time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HOST: &str = "timetable.college.example";

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is required for this test (Debian package nginx; scripts/test installs it)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The app behind nginx: answers every request with the identity headers it received,
/// one `name: value` line each, and counts the requests that reached it.
async fn upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buf).into_owned();
                let body: String = head
                    .lines()
                    .filter(|l| l.to_ascii_lowercase().starts_with("remote"))
                    .map(|l| format!("{}\n", l.to_ascii_lowercase()))
                    .collect();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    fn start(propusk: &Server, upstream_port: u16) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.path().join("tmp").join(t)).expect("mkdir");
        }
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx");
        let propusk_addr = propusk.base.trim_start_matches("https://");
        let root = Command::new("id").arg("-u").output().map(|o| stdout(&o).trim() == "0").unwrap_or(false);
        let port = free_port();
        let conf = format!(
            r#"{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    upstream propusk {{ server {propusk_addr}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name {HOST};
        include {deploy}/propusk-verify.conf;
        location / {{
            include {deploy}/propusk-protect.conf;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
    }}
}}
"#,
            user = if root { "user root;" } else { "" },
            deploy = deploy.display(),
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let test = Command::new(nginx_binary()).args(["-t", "-p", &d, "-c"]).arg(&path).output().expect("nginx -t");
        assert!(test.status.success(), "nginx -t: {}", stderr(&test));
        let mut child = Command::new(nginx_binary())
            .args(["-p", &d, "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Nginx { child, dir, port };
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
        // SIGQUIT: graceful stop of the master and its worker.
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

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-propusk="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Signs `login` in directly at propusk (password changed) and returns the cookie value.
async fn session_of(server: &Server, login: &str, role: &str) -> String {
    signed_in(server, login, role).await.1
}

/// Signs `login` in directly at propusk (password changed): the client and the cookie.
async fn signed_in(server: &Server, login: &str, role: &str) -> (reqwest::Client, String) {
    let issued = add_user(server, login, "Проверкин Пётр", role);
    let c = server.client();
    let r = sign_in(server, &c, login, &issued).await;
    let mut cookie = session_cookie(&r).expect("session cookie");
    let csrf = csrf_of(server, &c, "/account/password").await;
    let new = "Северное-сияние-2026";
    let r = c
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", issued.as_str()), ("new", new), ("confirm", new)])
        .send()
        .await
        .expect("change password");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    if let Some(c) = session_cookie(&r) {
        cookie = c;
    }
    (c, cookie)
}

#[tokio::test]
async fn nginx_auth_request_allows_refuses_redirects_and_strips_forged_identity() {
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let staff = session_of(&server, "staff.s", "staff").await;
    let student = session_of(&server, "student.s", "student").await;
    let (upstream_port, hits) = upstream().await;
    let nginx = Nginx::start(&server, upstream_port);
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let get = |path: &str, cookie: Option<&str>, forged: &[(&str, &str)]| {
        let mut rb = browser.get(format!("http://127.0.0.1:{}{path}", nginx.port)).header("Host", HOST);
        if let Some(c) = cookie {
            rb = rb.header("Cookie", format!("other=1; __Host-propusk={c}"));
        }
        for (k, v) in forged {
            rb = rb.header(*k, *v);
        }
        rb.send()
    };
    let forged = [("Remote-User", "admin"), ("Remote-Groups", "eios_admin"), ("Remote-Name", "Подделка")];

    // Allowed: the app gets propusk's identity, and only what this resource may see.
    let r = get("/edit/week", Some(&staff), &forged).await.expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.expect("body");
    assert!(body.contains("remote-user: staff.s\n") && body.contains("remote-groups: staff\n"), "{body}");
    assert!(!body.contains("admin") && !body.contains("Подделка"), "forged identity reached the app: {body}");
    assert_eq!(body.matches("remote-user").count(), 1, "{body}");

    // The public timetable is told the login only; forged extras are dropped, not passed.
    let r = get("/group/IS-21", Some(&student), &forged).await.expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "remote-user: student.s\n");
    let reached = hits.load(Ordering::SeqCst);
    assert_eq!(reached, 2);

    // Refused by the role policy: 403, the app never sees the request.
    let r = get("/edit/week", Some(&student), &forged).await.expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Not signed in (or a forged cookie): to propusk's sign-in, and back here afterwards,
    // the whole address kept.
    for cookie in [None, Some("not-a-session")] {
        let r = get("/edit/week?day=mon&hour=2", cookie, &forged).await.expect("get");
        assert_eq!(r.status(), StatusCode::FOUND, "{cookie:?}");
        assert_eq!(location(&r), sign_in_url(&server, &format!("http://{HOST}/edit/week?day=mon&hour=2")));
    }

    // Restricted (R-4): refused at once, without blocking the account.
    let out = server.cli(&["user", "restrict", "staff.s", "timetable-editor", "--reason", "проверка"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(get("/edit/week", Some(&staff), &[]).await.expect("get").status(), StatusCode::FORBIDDEN);
    assert_eq!(get("/group/IS-21", Some(&staff), &[]).await.expect("get").status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), reached + 1, "only the allowed request reached the app");
}

/// propusk's sign-in page, going on to `/auth/continue` for `url` afterwards.
fn sign_in_url(server: &Server, url: &str) -> String {
    let continue_to = format!("/auth/continue?{}", serde_urlencoded::to_string([("rd", url)]).expect("query"));
    format!("{}/sign-in?{}", server.base, serde_urlencoded::to_string([("next", continue_to)]).expect("query"))
}

/// The value and attributes of the host session cookie a response sets.
fn host_cookie(r: &reqwest::Response) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-propusk-host="))
        .and_then(|v| v.split_once(';'))
        .map(|(value, attrs)| (value.to_owned(), attrs.to_owned()))
}

#[tokio::test]
async fn nginx_hands_the_session_over_to_the_app_host_once() {
    let server = Server::start(&[("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let (staff, _) = signed_in(&server, "staff.s", "staff").await;
    let (upstream_port, hits) = upstream().await;
    let nginx = Nginx::start(&server, upstream_port);
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    // The browser at the app's host: propusk's own cookie never reaches it.
    let at_app = |host: &str, path: &str, host_session: Option<&str>| {
        let mut rb = browser.get(format!("http://127.0.0.1:{}{path}", nginx.port)).header("Host", host);
        if let Some(t) = host_session {
            rb = rb.header("Cookie", format!("__Host-propusk-host={t}"));
        }
        rb.send()
    };
    let original = format!("http://{HOST}/edit/week?day=mon");
    let r = at_app(HOST, "/edit/week?day=mon", None).await.expect("get");
    assert_eq!(r.status(), StatusCode::FOUND, "not signed in at the app's host");
    assert_eq!(location(&r), sign_in_url(&server, &original));

    // Signed in at propusk: /auth/continue sends the browser to the app host's callback.
    let handoff = || async {
        let q = serde_urlencoded::to_string([("rd", original.as_str())]).expect("query");
        let r = staff.get(server.url(&format!("/auth/continue?{q}"))).send().await.expect("continue");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = location(&r);
        let path = to.strip_prefix(&format!("http://{HOST}")).unwrap_or_else(|| panic!("{to}")).to_owned();
        assert!(path.starts_with("/.propusk/callback?code="), "{path}");
        path
    };
    let callback = handoff().await;
    let r = at_app(HOST, &callback, None).await.expect("callback");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    assert_eq!(location(&r), original, "back to the address first asked for");
    let (token, attrs) = host_cookie(&r).expect("a cookie of the app's host");
    let attrs = attrs.to_ascii_lowercase();
    for a in ["path=/", "secure", "httponly", "samesite=lax"] {
        assert!(attrs.contains(a), "{a} in {attrs}");
    }
    assert!(!attrs.contains("domain"), "host-only: {attrs}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the callback never reaches the app");

    let r = at_app(HOST, "/edit/week?day=mon", Some(&token)).await.expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("body").contains("remote-user: staff.s\n"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The host cookie is this host's only.
    assert_eq!(
        at_app("other.college.example", "/edit/week", Some(&token)).await.expect("get").status(),
        StatusCode::FORBIDDEN
    );

    // A replayed code is refused, and ends the host session it opened.
    let r = at_app(HOST, &callback, None).await.expect("replay");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(host_cookie(&r).is_none());
    assert_eq!(at_app(HOST, "/edit/week", Some(&token)).await.expect("get").status(), StatusCode::FOUND, "revoked");

    // A code shown at another host is refused and burnt.
    let stolen = handoff().await;
    let r = at_app("evil.college.example", &stolen, None).await.expect("foreign");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(host_cookie(&r).is_none());
    assert_eq!(at_app(HOST, &stolen, None).await.expect("callback").status(), StatusCode::BAD_REQUEST, "burnt");

    // Signing out at propusk ends the app host's cookie too.
    let r = at_app(HOST, &handoff().await, None).await.expect("callback");
    let (token, _) = host_cookie(&r).expect("cookie");
    assert_eq!(at_app(HOST, "/edit/week", Some(&token)).await.expect("get").status(), StatusCode::OK);
    let csrf = csrf_of(&server, &staff, "/account").await;
    let r = staff.post(server.url("/sign-out")).form(&[("csrf", csrf.as_str())]).send().await.expect("sign out");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(at_app(HOST, "/edit/week", Some(&token)).await.expect("get").status(), StatusCode::FOUND);
    assert_eq!(hits.load(Ordering::SeqCst), 2, "only the allowed requests reached the app");
}
