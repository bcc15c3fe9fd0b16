//! Faults through the real binary: PostgreSQL restarting and stopping under
//! load, and the disk under a SQLite store filling up. Every request is answered (none
//! hangs), what fails during the fault fails with a clear short answer (a 503 page in
//! Russian, an RFC 6749 `temporarily_unavailable`, forward-auth's plain 503), nothing is
//! half-written, and once the fault is gone everything works again without a restart.

mod common;
#[path = "common/private_pg.rs"]
mod private_pg;
#[path = "common/tmpfs.rs"]
mod tmpfs;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;

/// The page every store failure shows (`i18n.rs`, Russian by default).
const UNAVAILABLE_RU: &str = "Сервис временно недоступен";
const PASSWORD: &str = "Северное-сияние-2026";
const EDITOR: &str = "https://timetable.college.example/edit/week";
/// A request that takes longer than this hangs, as far as a person can tell.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How soon after the database is back every request must succeed again.
const RECOVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    SignIn,
    Verify,
    Account,
    Token,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    /// The clear short error the fault should give.
    Refused,
    /// Anything else: a hang, a dropped connection, an unexpected status or body.
    Wrong(String),
}

#[derive(Debug, Clone)]
struct Answer {
    kind: Kind,
    started: Instant,
    finished: Instant,
    outcome: Outcome,
}

/// The session cookie a response sets, if any.
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

/// A client like `Server::client`, with the timeout a person would give up after.
fn patient_client(server: &Server) -> reqwest::Client {
    let pem = std::fs::read(server.ca()).expect("dev CA");
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CLIENT_TIMEOUT)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .https_only(true)
        .build()
        .expect("client")
}

/// A 503 page in Russian with `Retry-After`, and no session cookie: the clear error.
async fn refused_page(r: reqwest::Response) -> Outcome {
    let retry = r.headers().get("retry-after").is_some();
    let cookie = session_cookie(&r);
    let body = r.text().await.unwrap_or_default();
    if !retry || cookie.is_some() || !body.contains(UNAVAILABLE_RU) {
        return Outcome::Wrong(format!("a 503 without the clear page (retry: {retry}, cookie: {cookie:?}): {body}"));
    }
    Outcome::Refused
}

/// Registers `login`, signs in and replaces the issued password with `PASSWORD`;
/// returns the signed-in client.
async fn person(server: &Server, login: &str, role: &str) -> reqwest::Client {
    let issued = add_user(server, login, "Отказов Фёдор", role);
    let c = patient_client(server);
    let r = sign_in(server, &c, login, &issued).await;
    assert_eq!(location(&r), "/account/password");
    let csrf = csrf_of(server, &c, "/account/password").await;
    let r = c
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", issued.as_str()), ("new", PASSWORD), ("confirm", PASSWORD)])
        .send()
        .await
        .expect("change password");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password changed");
    c
}

/// One sign-in by a new browser; the session cookie it got, if it succeeded.
async fn try_sign_in(server: &Server, login: &str) -> (Outcome, Option<String>) {
    let c = patient_client(server);
    let page = match c.get(server.url("/sign-in")).send().await {
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => return (refused_page(r).await, None),
        Ok(r) if r.status() == StatusCode::OK => r.text().await.unwrap_or_default(),
        Ok(r) => return (Outcome::Wrong(format!("sign-in form: {}", r.status())), None),
        Err(e) => return (Outcome::Wrong(format!("sign-in form: {e}")), None),
    };
    let Some(csrf) = input_value(&page, "csrf") else { return (Outcome::Wrong("no csrf field".into()), None) };
    let form = [("csrf", csrf.as_str()), ("login", login), ("password", PASSWORD), ("next", "/account")];
    match c.post(server.url("/sign-in")).form(&form).send().await {
        Ok(r) if r.status() == StatusCode::SEE_OTHER && location(&r) == "/account" => match session_cookie(&r) {
            Some(cookie) => (Outcome::Ok, Some(cookie)),
            None => (Outcome::Wrong("a sign-in without a session cookie".into()), None),
        },
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => (refused_page(r).await, None),
        Ok(r) => (Outcome::Wrong(format!("sign-in: {} to {:?}", r.status(), location(&r))), None),
        Err(e) => (Outcome::Wrong(format!("sign-in: {e}")), None),
    }
}

async fn try_account(server: &Server, c: &reqwest::Client) -> Outcome {
    match c.get(server.url("/account")).send().await {
        Ok(r) if r.status() == StatusCode::OK => Outcome::Ok,
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => refused_page(r).await,
        Ok(r) => Outcome::Wrong(format!("account page: {} to {:?}", r.status(), location(&r))),
        Err(e) => Outcome::Wrong(format!("account page: {e}")),
    }
}

async fn try_verify(server: &Server, c: &reqwest::Client) -> Outcome {
    match c.get(server.url("/auth/verify")).header("X-Original-URL", EDITOR).send().await {
        Ok(r) if r.status() == StatusCode::OK && r.headers().get("remote-user").is_some() => Outcome::Ok,
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE && r.headers().get("remote-user").is_none() => {
            Outcome::Refused
        }
        Ok(r) => Outcome::Wrong(format!("forward-auth: {}", r.status())),
        Err(e) => Outcome::Wrong(format!("forward-auth: {e}")),
    }
}

async fn try_token(server: &Server, c: &reqwest::Client, secret: &str) -> Outcome {
    let r = c
        .post(server.url("/token"))
        .basic_auth("raspisanie", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Wrong(format!("token: {e}")),
    };
    let status = r.status();
    let retry = r.headers().get("retry-after").is_some();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    match status {
        StatusCode::OK if body["access_token"].is_string() => Outcome::Ok,
        // RFC 6749 §5.2: the error is JSON, and says to try again.
        StatusCode::SERVICE_UNAVAILABLE if body["error"] == "temporarily_unavailable" && retry => Outcome::Refused,
        _ => Outcome::Wrong(format!("token: {status} {body}")),
    }
}

/// PostgreSQL is restarted (fast) and then stopped for longer than a connection is
/// waited for, while browsers sign in, read their account page, an app asks forward-auth
/// and a service takes tokens. Every request is answered; during the stop the answers
/// are the clear 503s; within `RECOVERY` of the database's return everything succeeds
/// again, the node having never restarted; every sign-in left a whole session or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarting_under_load_is_survived_without_a_restart() {
    let pg = Arc::new(private_pg::PrivatePg::start());
    let url = pg.create_db("propusk").await;
    let server = Arc::new(Server::start(&[
        ("PROPUSK_STORE_URL", url.as_str()),
        ("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1"),
        ("PROPUSK_PROTECTION_LOGIN_PER_MINUTE", "100000"),
        ("PROPUSK_PROTECTION_ADDRESS_PER_MINUTE", "100000"),
    ]));
    let pid = server.pid();
    let reader = person(&server, "chitatel.c", "student").await;
    let staff = person(&server, "prepodavatel.p", "staff").await;
    let signers = ["vhodov.v", "vhodova.v"];
    for login in signers {
        person(&server, login, "student").await;
    }
    let out = server.cli(&[
        "client",
        "add",
        "raspisanie",
        "--name",
        "Расписание",
        "--redirect-uri",
        "https://r.example/cb",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let secret = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    let since_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let sessions = Arc::new(Mutex::new(Vec::<String>::new()));
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut workers = Vec::new();
    let roles = [
        (Kind::SignIn, signers[0]),
        (Kind::SignIn, signers[1]),
        (Kind::Account, ""),
        (Kind::Verify, ""),
        (Kind::Token, ""),
    ];
    for (kind, login) in roles {
        let (server, answers, sessions, running) = (server.clone(), answers.clone(), sessions.clone(), running.clone());
        let (reader, staff, secret) = (reader.clone(), staff.clone(), secret.clone());
        workers.push(tokio::spawn(async move {
            let service = patient_client(&server);
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let outcome = match kind {
                    Kind::SignIn => {
                        let (outcome, cookie) = try_sign_in(&server, login).await;
                        sessions.lock().expect("lock").extend(cookie);
                        outcome
                    }
                    Kind::Account => try_account(&server, &reader).await,
                    Kind::Verify => try_verify(&server, &staff).await,
                    Kind::Token => try_token(&server, &service, &secret).await,
                };
                answers.lock().expect("lock").push(Answer { kind, started, finished: Instant::now(), outcome });
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }

    let blocking = |pg: &Arc<private_pg::PrivatePg>, f: fn(&private_pg::PrivatePg)| {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || f(&pg))
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restart_at = Instant::now();
    blocking(&pg, private_pg::PrivatePg::restart).await.expect("restart");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stop_at = Instant::now();
    blocking(&pg, private_pg::PrivatePg::stop).await.expect("stop");
    // Longer than the store waits for a connection (5 s), so requests must give up.
    tokio::time::sleep(Duration::from_secs(8)).await;
    blocking(&pg, private_pg::PrivatePg::start_again).await.expect("start");
    let back_at = Instant::now();
    tokio::time::sleep(RECOVERY + Duration::from_secs(4)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.expect("a load worker panicked");
    }

    let answers = answers.lock().expect("lock").clone();
    let wrong: Vec<&Answer> = answers.iter().filter(|a| matches!(a.outcome, Outcome::Wrong(_))).collect();
    assert!(wrong.is_empty(), "every request gets a success or the clear error: {wrong:#?}\n{}", server.log());
    // Those that were answered before the restart began (one in flight then may be refused).
    let before: Vec<&Answer> = answers.iter().filter(|a| a.finished < restart_at).collect();
    assert!(
        !before.is_empty() && before.iter().all(|a| a.outcome == Outcome::Ok),
        "before the fault everything works: {before:#?}"
    );
    let refused_in_stop =
        answers.iter().filter(|a| a.started >= stop_at && a.started < back_at && a.outcome == Outcome::Refused).count();
    assert!(refused_in_stop > 0, "a stop longer than the connection wait is told to some: {answers:#?}");
    let after: Vec<&Answer> = answers.iter().filter(|a| a.started >= back_at + RECOVERY).collect();
    let failing_after: Vec<&&Answer> = after.iter().filter(|a| a.outcome != Outcome::Ok).collect();
    assert!(failing_after.is_empty(), "everything works again {RECOVERY:?} after the return: {failing_after:#?}");
    for kind in [Kind::SignIn, Kind::Verify, Kind::Account, Kind::Token] {
        assert!(after.iter().any(|a| a.kind == kind), "{kind:?} ran after the recovery");
    }
    let count = |from: Instant, to: Instant, o: Outcome| {
        answers.iter().filter(|a| a.started >= from && a.started < to && a.outcome == o).count()
    };
    eprintln!(
        "{} requests; restart: {} ok, {} refused; stop: {} ok, {} refused; first {RECOVERY:?} back: {} ok, {} refused",
        answers.len(),
        count(restart_at, stop_at, Outcome::Ok),
        count(restart_at, stop_at, Outcome::Refused),
        count(stop_at, back_at, Outcome::Ok),
        count(stop_at, back_at, Outcome::Refused),
        count(back_at, back_at + RECOVERY, Outcome::Ok),
        count(back_at, back_at + RECOVERY, Outcome::Refused),
    );

    // The same process served it all.
    assert_eq!(server.pid(), pid);
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(PASSWORD) && !log.contains(&secret), "no secret in the log");

    // Nothing half-written: each successful sign-in is one session and one success in
    // the sign-in log, committed together or not at all, and every session a browser
    // was given works now.
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
    for login in signers {
        let (sessions, successes): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sessions s WHERE s.account_id = a.id AND s.created_at >= $2), \
                    (SELECT count(*) FROM sign_ins i WHERE i.account_id = a.id AND i.at >= $2 AND i.outcome = 'success') \
             FROM accounts a WHERE a.login = $1",
        )
        .bind(login)
        .bind(since_ms)
        .fetch_one(&mut db)
        .await
        .expect("counts");
        assert!(sessions > 0 && sessions == successes, "{login}: {sessions} sessions, {successes} sign-ins");
    }
    let given = sessions.lock().expect("lock").clone();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(server.ca()).expect("CA")).expect("pem"))
        .build()
        .expect("client");
    for cookie in &given {
        let r = browser
            .get(server.url("/account"))
            .header("cookie", format!("__Host-propusk={cookie}"))
            .send()
            .await
            .expect("account");
        assert_eq!(r.status(), StatusCode::OK, "a session a browser was given works after the fault");
    }
    let out = server.cli(&["audit", "verify"]);
    assert!(out.status.success(), "the chains are whole: {}{}", stdout(&out), stderr(&out));
}

/// The disk under a SQLite store fills up while the node runs. Writes (sign-ins, some
/// of them in one group commit, a password change, `propusk user add`) are refused
/// cleanly, the node stays up and still serves an existing session; when space is freed
/// the very next writes succeed (the single writer is not wedged), what was refused left
/// nothing behind, `PRAGMA integrity_check` says `ok` and the chains verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_and_loses_nothing() {
    let fs = tmpfs::Tmpfs::mount(16);
    let db_path = fs.path().join("propusk.db");
    let url = format!("sqlite:{}", db_path.display());
    let server = Server::start(&[
        ("PROPUSK_STORE_URL", url.as_str()),
        ("PROPUSK_PROTECTION_LOGIN_PER_MINUTE", "100000"),
        ("PROPUSK_PROTECTION_ADDRESS_PER_MINUTE", "100000"),
        // A session's use is recorded at most every quarter of its idle limit: 15 s.
        ("PROPUSK_SESSIONS_IDLE_MINUTES", "1"),
    ]);
    let reader = person(&server, "chitatel.c", "student").await;
    let reader_seen = Instant::now();
    person(&server, "vhodov.v", "student").await;

    // Full. SQLite may still find room inside its own files (WAL frames a checkpoint
    // freed), so sign-ins go on until the first is refused; then whatever room a refused
    // write left is taken too.
    fs.fill("filler");
    let mut before_full = 0;
    loop {
        match try_sign_in(&server, "vhodov.v").await {
            (Outcome::Ok, _) => before_full += 1,
            (Outcome::Refused, _) => break,
            (Outcome::Wrong(w), _) => panic!("a sign-in on a filling disk: {w}\n{}", server.log()),
        }
        assert!(before_full < 5_000, "sign-ins never ran out of room on a full disk");
    }
    fs.fill("filler");
    eprintln!("{before_full} sign-ins fitted into the store's own files after the disk was full");

    // An existing session is still served, though its use cannot be recorded now.
    tokio::time::sleep((reader_seen + Duration::from_secs(16)).saturating_duration_since(Instant::now())).await;
    let read = try_account(&server, &reader).await;
    assert_eq!(read, Outcome::Ok, "a session is read from a full disk\n{}", server.log());
    assert!(
        server.log().contains("the session's last use could not be recorded"),
        "the touch was attempted\n{}",
        server.log()
    );

    // Writes are refused with the clear page: sign-ins at once (grouped by the writer)…
    let attempts = (0..8).map(|_| try_sign_in(&server, "vhodov.v"));
    for (outcome, cookie) in futures::future::join_all(attempts).await {
        assert_eq!((outcome, cookie), (Outcome::Refused, None), "a sign-in on a full disk");
    }
    // …a password change…
    let csrf = csrf_of(&server, &reader, "/account/password").await;
    let changed = "Полярная-ночь-2027";
    let r = reader
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", PASSWORD), ("new", changed), ("confirm", changed)])
        .send()
        .await
        .expect("change password");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused_page(r).await, Outcome::Refused);
    // …and the command line, with its own clear message and exit code.
    let out = server.cli(&["user", "add", "novikov.n", "--name", "Новиков Никита", "--role", "student"]);
    assert_eq!(out.status.code(), Some(5), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("the disk holding the database is full"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(try_account(&server, &reader).await, Outcome::Ok, "the refused change ended no session");

    // Room again: the very next writes succeed, grouped or alone.
    std::fs::remove_file(fs.path().join("filler")).expect("remove the filler");
    assert_eq!(try_sign_in(&server, "vhodov.v").await.0, Outcome::Ok, "the writer is not wedged");
    for (outcome, _) in futures::future::join_all((0..8).map(|_| try_sign_in(&server, "vhodov.v"))).await {
        assert_eq!(outcome, Outcome::Ok);
    }
    // The refused password change changed nothing: the old password still works.
    assert_eq!(try_sign_in(&server, "chitatel.c").await.0, Outcome::Ok);
    let csrf = csrf_of(&server, &reader, "/account/password").await;
    let r = reader
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", PASSWORD), ("new", changed), ("confirm", changed)])
        .send()
        .await
        .expect("change password");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the password changes now");
    // The refused registration left no account behind: the same login registers now.
    add_user(&server, "novikov.n", "Новиков Никита", "student");
    let out = server.cli(&["audit", "verify"]);
    assert!(out.status.success(), "the chains are whole: {}{}", stdout(&out), stderr(&out));

    let mut server = server;
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(server.stop_gracefully().success(), "the node ran to a clean stop");
    use sqlx::Connection as _;
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut db).await.expect("check");
    assert_eq!(check, ["ok"], "the database is intact");
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE login = 'novikov.n'")
        .fetch_one(&mut db)
        .await
        .expect("n");
    assert_eq!(accounts, 1);
    db.close().await.expect("close");
}
