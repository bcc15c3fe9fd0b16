//! Register imports and deprovisioning through the real binary: `propusk roster import`
//! while the server runs, a student signed in over TLS, a graduation, `propusk lifecycle
//! run`, manual tasks, erasure proven by searching every table of the store; and SIGKILL
//! in the middle of a large import and of a scheduler run.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, cli_in, csrf_of, location, sign_in, stderr, stdout};
use reqwest::StatusCode;
use sqlx::{Connection as _, Row as _};

/// Today's date at the college (Moscow time), as the import checks it.
fn today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(3)).format("%Y-%m-%d").to_string()
}

fn person(id: &str, name: &str, status: &str, effective: &str) -> serde_json::Value {
    serde_json::json!({
        "external_id": id, "full_name": name, "role": "student", "unit": "ИС-21",
        "email": format!("{id}@college.example"), "status": status, "effective": effective,
        "order_number": "77-к", "order_date": "2026-01-15",
    })
}

fn write(dir: &Path, name: &str, rows: &[serde_json::Value]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(rows).expect("json")).expect("write");
    path.display().to_string()
}

/// Every text value in every table of the SQLite store that contains one of `needles`.
async fn find_anywhere(db: &Path, needles: &[&str]) -> Vec<String> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}?mode=ro", db.display())).await.expect("open");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(&mut conn)
            .await
            .expect("tables");
    let mut found = Vec::new();
    for t in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{t}\"")).fetch_all(&mut conn).await.expect("rows");
        for row in rows {
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    for n in needles {
                        if text.to_lowercase().contains(&n.to_lowercase()) {
                            found.push(format!("{t}: {text}"));
                        }
                    }
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn a_graduate_loses_access_and_is_erased_through_the_binary() {
    let server = Server::start(&[
        ("PROPUSK_SERVER_TRUSTED_PROXIES", "127.0.0.1"),
        ("PROPUSK_LIFECYCLE_SCHEDULER_INTERVAL_SECONDS", "0"),
        ("PROPUSK_LIFECYCLE_ERASE_GRADUATES_AFTER_HOURS", "0"),
    ]);
    let dir = server.dir.path();
    let file = write(dir, "register.json", &[person("s5501", "Смирнова Мария Андреевна", "studying", "2026-09-01")]);
    let slips = dir.join("slips.csv");
    let out = server.cli(&["roster", "import", &file, "--slips", slips.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&slips).expect("slips").permissions().mode() & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&slips).expect("slips");
    let fields: Vec<&str> = text.lines().nth(1).expect("a slip").split(';').collect();
    let (login, password) = (fields[0].to_owned(), fields[3].to_owned());
    assert!(!stdout(&out).contains(&password), "the password goes to the slips file only");
    let out = server.cli(&["roster", "import", &file, "--slips", slips.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2), "slips are never overwritten");

    // The student signs in, changes the issued password and reaches the timetable.
    let c = server.client();
    let r = sign_in(&server, &c, &login, &password).await;
    assert_eq!(location(&r), "/account/password");
    let csrf = csrf_of(&server, &c, "/account/password").await;
    let new = "Весенний-ветер-над-рекой";
    let r = c
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf.as_str()), ("current", password.as_str()), ("new", new), ("confirm", new)])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let verify = || {
        c.get(server.url("/auth/verify")).header("X-Original-URL", "https://timetable.college.example/group/x").send()
    };
    assert_eq!(verify().await.expect("verify").status(), StatusCode::OK);

    // Graduation today: blocked at the next run, then erased once the tasks are done.
    let grad = write(dir, "graduation.json", &[person("s5501", "Смирнова Мария Андреевна", "graduated", &today())]);
    let out = server.cli(&["roster", "import", &grad, "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((plan["applied"].as_bool(), plan["changes"][0]["action"].as_str()), (Some(false), Some("depart")));
    assert!(server.cli(&["roster", "import", &grad]).status.success());
    let out = server.cli(&["lifecycle", "run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verify().await.expect("verify").status(), StatusCode::UNAUTHORIZED, "the session ended");
    let r = c.get(server.url("/account")).send().await.expect("account");
    assert!(location(&r).starts_with("/sign-in"), "{}", location(&r));
    let r = sign_in(&server, &c, &login, new).await;
    assert_ne!(location(&r), "/account", "a blocked account cannot sign in");

    let out = server.cli(&["lifecycle", "tasks", "--json"]);
    let tasks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("tasks");
    assert!(tasks.iter().any(|t| t["resource"] == "sferum"), "{tasks:?}");
    for t in &tasks {
        let (case, step) = (t["case_id"].as_str().expect("case"), t["step"].as_str().expect("step"));
        let out = server.cli(&["lifecycle", "done", case, step, "--note", "удалён из чатов"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = server.cli(&["lifecycle", "run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["report", "deprovisioning", "--json"]);
    assert_eq!(out.status.code(), Some(0), "no violation: {}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["open_cases"], 0);

    let found = find_anywhere(
        &dir.join("data/propusk.db"),
        &["Смирнова", "смирнова", &login, "s5501@college.example", "\"s5501\"", "Мария Андреевна"],
    )
    .await;
    assert!(found.is_empty(), "personal data left: {found:#?}");
    let out = server.cli(&["report", "reconcile"]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[tokio::test]
async fn killed_imports_and_scheduler_runs_lose_nothing_and_do_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env: Vec<(String, String)> = common::FAST_HASH
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([
            ("PROPUSK_POLICIES_DIR".to_owned(), common::shipped_policies().display().to_string()),
            ("PROPUSK_LIFECYCLE_ERASE_GRADUATES_AFTER_HOURS".to_owned(), "0".to_owned()),
        ])
        .collect();
    let n = 3000;
    let rows: Vec<serde_json::Value> = (0..n)
        .map(|i| person(&format!("k{i:05}"), &format!("Студентов{i} Иван Иванович"), "studying", "2026-09-01"))
        .collect();
    let file = write(dir.path(), "big.json", &rows);
    let db = dir.path().join("data/propusk.db");
    // Create the store first, so that the kill lands in the import itself.
    assert!(cli_in(dir.path(), &env, &["user", "list"]).status.success());
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display())).await.expect("open");
            sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .fetch_one(&mut conn)
                .await
                .expect("count")
                .get::<i64, _>("n")
        }
    };
    for delay in [300u64, 900] {
        let slips = dir.path().join(format!("slips-{delay}.csv"));
        let mut child = std::process::Command::new(common::BIN)
            .args(["roster", "import", &file, "--slips", slips.to_str().expect("path")])
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let _ = std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
        let _ = child.wait();
        let accounts = count("accounts").await;
        assert!(accounts == 0 || accounts == n, "all or nothing, found {accounts}");
        assert_eq!(count("credential_journal").await, accounts, "one journal entry per account");
    }
    let slips = dir.path().join("slips-final.csv");
    let out = cli_in(dir.path(), &env, &["roster", "import", &file, "--slips", slips.to_str().expect("path")]);
    assert!(out.status.success() || out.status.code() == Some(6), "{}", stderr(&out));
    assert_eq!((count("accounts").await, count("credential_journal").await), (n, n));

    // Everyone graduates today; the scheduler is killed mid-run, then runs again.
    let grads: Vec<serde_json::Value> = (0..n)
        .map(|i| person(&format!("k{i:05}"), &format!("Студентов{i} Иван Иванович"), "graduated", &today()))
        .collect();
    let file = write(dir.path(), "grads.json", &grads);
    assert!(cli_in(dir.path(), &env, &["roster", "import", &file]).status.success());
    assert_eq!(count("lifecycle_cases").await, n);
    let mut child = std::process::Command::new(common::BIN)
        .args(["lifecycle", "run"])
        .current_dir(dir.path())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed once its first block steps are committed (200 at a time): mid-run, however
    // fast the run is.
    let started = std::time::Instant::now();
    while count("lifecycle_steps WHERE name = 'block' AND state = 'done'").await == 0
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
    let _ = child.wait();
    let blocked_once = count("lifecycle_steps WHERE name = 'block' AND state = 'done'").await;
    assert!(blocked_once < n, "the kill came before the end ({blocked_once} of {n})");
    let out = cli_in(dir.path(), &env, &["lifecycle", "run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count("lifecycle_steps WHERE name = 'block' AND state = 'done'").await, n);
    // Each block was audited exactly once: nothing was done twice.
    assert_eq!(count("audit_log WHERE action = 'lifecycle.step' AND detail LIKE '% step=block %'").await, n);
    assert_eq!(count("accounts WHERE status = 'blocked'").await, n);
}

#[tokio::test]
async fn a_1c_export_in_windows_1251_and_the_import_api() {
    let mapping = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/roster-mapping.example.toml");
    let server = Server::start(&[
        ("PROPUSK_LIFECYCLE_SCHEDULER_INTERVAL_SECONDS", "0"),
        ("PROPUSK_LIFECYCLE_IMPORT_CLIENTS", "hr-bridge"),
        ("PROPUSK_LIFECYCLE_ROSTER_MAPPING_FILE", mapping.to_str().expect("path")),
    ]);
    let dir = server.dir.path();
    // As 1С:Колледж writes it: `;`, Windows-1251, dates with a time, Russian statuses.
    let csv = "Номер студенческого билета;ФИО;Группа;Email;Статус;Дата;Номер приказа;Дата приказа\r\n\
               К-101;Кузнецова Елена Павловна;ИС-22;;обучается;01.09.2026 0:00:00;12-к;25.08.2026\r\n\
               К-102;Щукин Юрий Ёлкин;ИС-22;;студент;01.09.2026;12-к;25.08.2026\r\n\
               К-102;Дубль Дубль;ИС-22;;обучается;01.09.2026;12-к;25.08.2026\r\n\
               К-103;Орлов Олег;ИС-22;;в бегах;01.09.2026;12-к;25.08.2026\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(csv);
    std::fs::write(dir.join("export.csv"), &bytes).expect("write");
    let out = server.cli(&["roster", "import", "export.csv", "--strict", "--json"]);
    assert_eq!(out.status.code(), Some(6), "bad rows are reported: {}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["applied"], false, "--strict: nothing applied");
    let lines: Vec<i64> =
        r["errors"].as_array().expect("errors").iter().map(|e| e["line"].as_i64().unwrap_or(0)).collect();
    assert_eq!(lines, vec![4, 5], "the repeated id and the unknown status, by line");
    let out = server.cli(&["roster", "import", "export.csv", "--slips", "slips.csv"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let out = server.cli(&["user", "show", "kuzneczova.ep", "--json"]);
    assert!(out.status.success(), "ГОСТ 7.79-2000 B login: {}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["account"]["study_group"], "ИС-22");
    // A truncated file is refused as a whole.
    std::fs::write(dir.join("cut.csv"), &bytes[..bytes.len() - 30]).expect("write");
    let out = server.cli(&["roster", "import", "cut.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // The API: only a service token of a configured client may import.
    let c = server.client();
    let api = server.url("/api/roster/import?format=json");
    let body =
        serde_json::to_vec(&[person("s9001", "Новикова Вера Игоревна", "studying", "2026-09-01")]).expect("json");
    let r = c.post(&api).body(body.clone()).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let out = server.cli(&[
        "client",
        "add",
        "hr-bridge",
        "--name",
        "HR",
        "--redirect-uri",
        "https://hr.college.example/cb",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let secret = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let token: serde_json::Value = c
        .post(server.url("/token"))
        .basic_auth("hr-bridge", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("access token");
    let r = c.post(&api).bearer_auth("forged").body(body.clone()).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.post(&api).bearer_auth(access).body(body.clone()).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!((v["applied"].as_bool(), v["slips"].as_array().map(Vec::len)), (Some(true), Some(1)));
    assert_eq!(v["slips"][0]["login"], "novikova.vi");
    let r = c.post(&api).bearer_auth(access).body(b"[{\"external_id\":".to_vec()).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c.post(server.url("/api/roster/import?format=pdf")).bearer_auth(access).body(body).send().await;
    assert_eq!(r.expect("post").status(), StatusCode::BAD_REQUEST);
}
