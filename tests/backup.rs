//! Backup and restore through the real binary (R-15, D-12): a server with accounts,
//! sessions, a second factor, an OpenID Connect client and its token, a restriction,
//! a published version of the rules, audit and journal entries is backed up while sign-ins and
//! registrations go on; the backup restored into a fresh directory serves the same
//! people with the same passwords, keys, sessions and chains. A damaged or truncated
//! backup, and a restore over a store that holds data, change nothing.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::second_factor::{Keys, complete, now_plus};
use common::*;
use propusk::domain::totp::code_at;
use reqwest::StatusCode;
use serde_json::Value;

const STUDENT_PASSWORD: &str = "Тихий-вечер-у-реки";
const ADMIN_PASSWORD: &str = "Ясный-день-над-Волгой";

async fn change_password(server: &Server, c: &reqwest::Client, issued: &str, new: &str) {
    let csrf = csrf_of(server, c, "/account/password").await;
    let r = c
        .post(server.url("/account/password"))
        .form(&[("csrf", csrf), ("current", issued.into()), ("new", new.into()), ("confirm", new.into())])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password changed");
}

/// The session cookie a sign-in set.
fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("__Host-propusk="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

async fn json_of(c: &reqwest::Client, url: String) -> Value {
    c.get(url).send().await.expect("get").json().await.expect("json")
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    stdout(out)
}

/// Runs `propusk restore ARGS` in a fresh directory and expects a refusal.
fn refused_in_fresh_dir(env: &[(String, String)], file: &Path, code: i32, says: &str) {
    let fresh = tempfile::tempdir().expect("tempdir");
    let out = cli_in(fresh.path(), env, &["restore", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(code), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains(says), "{says:?} not in {}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(fresh.path()).expect("ls").collect();
    assert!(left.is_empty(), "nothing is written: {left:?}");
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_the_same_people_keys_sessions_and_chains() {
    let server = Server::start(&[]);
    let dir = server.dir.path().to_owned();

    // A student with a password of their own and a session.
    let issued = add_user(&server, "lebedeva.l", "Лебедева Лидия", "student");
    let c = server.client();
    sign_in(&server, &c, "lebedeva.l", &issued).await;
    change_password(&server, &c, &issued, STUDENT_PASSWORD).await;
    let browser = server.client();
    let r = sign_in(&server, &browser, "lebedeva.l", STUDENT_PASSWORD).await;
    assert_eq!(location(&r), "/account");
    let cookie = session_cookie(&r);

    // An administrator with a second factor (its secret sealed with the master key).
    let issued = add_user(&server, "adminov.a", "Админов Антон", "eios_admin");
    let admin = server.client();
    let mut keys = Keys::default();
    let r = sign_in(&server, &admin, "adminov.a", &issued).await;
    let to = complete(&server, &admin, r, &mut keys).await;
    assert!(to.starts_with("/account/password"), "{to}");
    change_password(&server, &admin, &issued, ADMIN_PASSWORD).await;
    let secret = keys.secret.expect("enrolled");

    // A connected service and its token; a restriction; a version of the rules.
    let out =
        server.cli(&["client", "add", "lms", "--name", "LMS", "--redirect-uri", "https://lms.example/cb", "--json"]);
    let secret_of_lms =
        serde_json::from_str::<Value>(&ok(&out)).expect("json")["client_secret"].as_str().expect("secret").to_owned();
    let token: Value = server
        .client()
        .post(server.url("/token"))
        .basic_auth("lms", Some(&secret_of_lms))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("access token").to_owned();
    ok(&server.cli(&["user", "restrict", "lebedeva.l", "moodle", "--reason", "долг по библиотеке"]));
    std::fs::write(dir.join("rules-v2.md"), "# Правила\n\n1. Новая редакция.\n").expect("write");
    ok(&server.cli(&["rules", "publish", "rules-v2.md"]));

    // Writes go on while the backups are taken: sign-ins, and registrations (each a
    // journal entry and an audit entry on the chains).
    let issued = add_user(&server, "busy.b", "Занятов Борис", "student");
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let sign_ins = {
        let (stop, writes, url) = (stop.clone(), writes.clone(), server.url("/sign-in"));
        let ca = reqwest::Certificate::from_pem(&std::fs::read(server.ca()).expect("CA")).expect("pem");
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // A new browser each time: a signed-in one is not shown the form.
                let client = reqwest::Client::builder()
                    .cookie_store(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .add_root_certificate(ca.clone())
                    .build()
                    .expect("client");
                let page = client.get(&url).send().await.expect("get").text().await.expect("body");
                let csrf = input_value(&page, "csrf").expect("csrf");
                let r = client
                    .post(&url)
                    .form(&[("csrf", csrf.as_str()), ("login", "busy.b"), ("password", issued.as_str()), ("next", "/")])
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), StatusCode::SEE_OTHER);
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let registrations = {
        let (stop, writes, env, dir) = (stop.clone(), writes.clone(), server.env.clone(), dir.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let login = format!("load.{n}");
                let out = cli_in(&dir, &env, &["user", "add", &login, "--name", "Нагрузкин", "--role", "student"]);
                assert!(out.status.success(), "{}", stderr(&out));
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while writes.load(Ordering::Relaxed) < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    std::fs::create_dir(dir.join("backups")).expect("mkdir");
    let before = writes.load(Ordering::Relaxed);
    let out = server.cli(&["backup", "backups/first.tar", "--json"]);
    let made: Value = serde_json::from_str(&ok(&out)).expect("json");
    let rotating = dir.join("rotating");
    std::fs::create_dir(&rotating).expect("mkdir");
    let mut taken = 1;
    while taken < 3 || (writes.load(Ordering::Relaxed) - before < 20 && taken < 30) {
        ok(&server.cli(&["backup", "rotating", "--keep", "2"]));
        taken += 1;
    }
    let during = writes.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    sign_ins.await.expect("sign-ins");
    registrations.join().expect("registrations");
    assert!(during > 0, "writes went on while the backups were taken");
    eprintln!("{during} sign-ins and registrations ran during {taken} backups");

    let file = dir.join("backups/first.tar");
    let manifest = &made["manifest"];
    let accounts = manifest["contents"]["accounts"].as_i64().expect("accounts");
    assert!(accounts >= 4, "{manifest}");
    assert!(manifest["contents"]["audit_entries"].as_i64().expect("audit") > 0);
    assert!(manifest["contents"]["journal_entries"].as_i64().expect("journal") >= accounts - 1);
    assert_eq!(manifest["parts"][1]["name"], "master.key");
    assert!(manifest["policies"]["digest"].as_str().is_some_and(|d| d.len() == 64), "{manifest}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);
    let mut kept: Vec<_> = std::fs::read_dir(&rotating)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "the two newest kept: {kept:?}");
    assert!(kept.iter().all(|n| n.starts_with("propusk-") && n.ends_with(".tar")), "{kept:?}");
    assert!(
        !std::fs::read_dir(dir.join("backups"))
            .expect("ls")
            .any(|e| { e.expect("entry").file_name().to_string_lossy().contains("partial") })
    );

    // A damaged backup is refused whatever byte changed, and changes nothing.
    let bytes = std::fs::read(&file).expect("read");
    let db_at = bytes.windows(10).position(|w| w == b"propusk.db").expect("the database member") + 512;
    for at in [10, 600, db_at + 4000, db_at + 20, bytes.len() / 2, bytes.len() - 1500, bytes.len() - 10] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let bad = dir.join(format!("backups/damaged-{at}.tar"));
        std::fs::write(&bad, &damaged).expect("write");
        refused_in_fresh_dir(&server.env, &bad, 2, "is not a usable backup");
    }
    for len in [100, 700, bytes.len() / 2, bytes.len() - 1] {
        let bad = dir.join(format!("backups/truncated-{len}.tar"));
        std::fs::write(&bad, &bytes[..len]).expect("write");
        refused_in_fresh_dir(&server.env, &bad, 2, "truncated");
    }

    // The live store holds data: a restore over it is refused, with or without --force
    // (the server still has it open), and everything goes on.
    let out = server.cli(&["restore", "backups/first.tar"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force") && stderr(&out).contains("Nothing was changed"), "{}", stderr(&out));
    let out = server.cli(&["restore", "backups/first.tar", "--force"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    assert_eq!(browser.get(server.url("/account")).send().await.expect("get").status(), StatusCode::OK);
    let out = server.cli(&["restore", "backups/first.tar", "--check"]);
    assert!(ok(&out).contains("replacing it needs --force"), "{}", stdout(&out));

    // `--check` reads the whole file and writes nothing.
    let fresh = tempfile::tempdir().expect("tempdir");
    let out = cli_in(fresh.path(), &server.env, &["restore", file.to_str().expect("utf-8"), "--check"]);
    assert!(ok(&out).contains("is a whole backup"));
    assert_eq!(std::fs::read_dir(fresh.path()).expect("ls").count(), 0);

    // Restored into a fresh directory, a new server serves the same.
    let target = tempfile::tempdir().expect("tempdir");
    let data = target.path().join("data");
    let out = cli_in(
        target.path(),
        &server.env,
        &["restore", file.to_str().expect("utf-8"), "--data-dir", data.to_str().expect("utf-8")],
    );
    let said = ok(&out);
    assert!(said.contains(&format!("{accounts} accounts")), "{said}");
    assert!(said.contains("policies   the same"), "{said}");
    for name in ["propusk.db", "master.key"] {
        assert_eq!(std::fs::metadata(data.join(name)).expect("restored").permissions().mode() & 0o777, 0o600);
    }
    let restored = Server::start_in_dir(target, &[]);

    let verify = restored.cli(&["audit", "verify", "--json"]);
    let reports: Value = serde_json::from_str(&ok(&verify)).expect("json");
    assert_eq!(reports.as_array().map(Vec::len), Some(2), "{reports}");
    assert!(reports.as_array().expect("list").iter().all(|r| r["intact"] == true), "{reports}");

    let listed: Value = serde_json::from_str(&ok(&restored.cli(&["user", "list", "--json"]))).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(usize::try_from(accounts).expect("count")), "{listed}");

    assert_eq!(
        json_of(&server.client(), server.url("/jwks")).await,
        json_of(&restored.client(), restored.url("/jwks")).await,
        "the same signing keys"
    );
    let r: Value = restored
        .client()
        .post(restored.url("/introspect"))
        .basic_auth("lms", Some(&secret_of_lms))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(r["active"], true, "a token issued before the backup: {r}");

    let c = restored.client();
    assert_eq!(location(&sign_in(&restored, &c, "lebedeva.l", STUDENT_PASSWORD).await), "/account");
    let r = restored
        .client()
        .get(restored.url("/account"))
        .header("cookie", format!("__Host-propusk={cookie}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK, "the session from before the backup");
    assert!(r.text().await.expect("body").contains("lebedeva.l"));

    let a = restored.client();
    let r = sign_in(&restored, &a, "adminov.a", ADMIN_PASSWORD).await;
    assert_eq!(location(&r), "/sign-in/second-factor");
    let page = a.get(restored.url("/sign-in/second-factor")).send().await.expect("get").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let code = code_at(&secret, now_plus(30));
    let r = a
        .post(restored.url("/sign-in/second-factor"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("code");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the sealed secret still opens");
    assert!(!location(&r).starts_with("/sign-in"), "{}", location(&r));

    let explained = ok(&restored.cli(&["policy", "explain", "lebedeva.l", "moodle"]));
    assert!(explained.contains("долг по библиотеке"), "the restriction holds: {explained}");
    let rules: Value = serde_json::from_str(&ok(&restored.cli(&["rules", "show", "--json"]))).expect("json");
    assert!(rules[0]["text_ru"].as_str().is_some_and(|t| t.contains("Новая редакция")), "{rules}");

    // The restored store now holds data: refused without --force; with --force once
    // stopped, the database there is kept aside.
    let out = restored.cli(&["restore", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let mut restored = restored;
    restored.stop_gracefully();
    let out = restored.cli(&["restore", file.to_str().expect("utf-8"), "--force"]);
    let said = ok(&out);
    assert!(said.contains("kept the previous file as"), "{said}");
    assert!(
        std::fs::read_dir(restored.dir.path().join("data")).expect("ls").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with("propusk.db.before-restore-"))
    );
}

#[tokio::test]
async fn postgres_stores_are_sent_to_pg_dump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![("PROPUSK_STORE_URL".to_owned(), "postgres://postgres@127.0.0.1:5432/propusk".to_owned())];
    let out = cli_in(dir.path(), &env, &["backup", "b.tar"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("pg_dump") && stderr(&out).contains("deploy/backup.md"), "{}", stderr(&out));
    assert!(!dir.path().join("b.tar").exists());
    let out = cli_in(dir.path(), &env, &["restore", "b.tar"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("pg_restore"), "{}", stderr(&out));
}
