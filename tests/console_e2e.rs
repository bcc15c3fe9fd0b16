//! The administrators' console through the real binary over TLS with a real client: an
//! administrator with a second factor registers a group from a file (review, confirm,
//! slips shown once) and marks slips handed over; a student signs in with a slip; a
//! librarian exports the library list and is refused the rest; posts without the
//! anti-forgery token change nothing and are audited; the public "I cannot sign in"
//! form fills the queue; the JSON API answers with the same permissions, its OpenAPI
//! document is valid, and a property-based tester (schemathesis) finds no server error.

mod common;

use common::{Server, add_user, csrf_of, input_value, location, sign_in};
use propusk::domain::time::Timestamp;
use propusk::domain::totp;
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "Надёжный-пароль-2026";

/// The text of the first `<code class="secret">` on a page.
fn secret_on(page: &str) -> String {
    let start = page.find("class=\"secret\">").expect("a secret on the page") + "class=\"secret\">".len();
    let end = page[start..].find("</code>").expect("end of the secret") + start;
    page[start..end].to_owned()
}

fn now() -> Timestamp {
    Timestamp::from_millis(chrono::Utc::now().timestamp_millis())
}

/// Signs a person in as a browser would: the password, the second factor's enrolment
/// (codes computed from the key shown on the page), the issued password changed, the
/// rules accepted. Returns the client whose cookie jar holds the session.
async fn signed_in(server: &Server, login: &str, role: &str) -> reqwest::Client {
    signed_in_with(server, server.client(), login, role).await
}

async fn signed_in_with(server: &Server, c: reqwest::Client, login: &str, role: &str) -> reqwest::Client {
    let issued = add_user(server, login, "Администраторов Админ", role);
    let r = sign_in(server, &c, login, &issued).await;
    let mut to = location(&r);
    if to == "/sign-in/second-factor" {
        let page = c.get(server.url(&to)).send().await.expect("enrol").text().await.expect("body");
        let secret = totp::TotpSecret::from_base32(&secret_on(&page)).expect("base32 key");
        let csrf = input_value(&page, "csrf").expect("csrf");
        let code = totp::code_at(&secret, now());
        let r = c
            .post(server.url(&to))
            .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
            .send()
            .await
            .expect("code");
        assert_eq!(r.status(), StatusCode::OK, "the recovery codes are shown");
        let r = c
            .post(server.url("/sign-in/second-factor/saved"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("saved");
        to = location(&r);
    }
    assert!(to.starts_with("/account/password"), "the issued password first: {to}");
    let csrf = csrf_of(server, &c, "/account/password").await;
    let r = c
        .post(server.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", issued.as_str()),
            ("new", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ])
        .send()
        .await
        .expect("change");
    let mut to = location(&r);
    if !to.starts_with("/rules") {
        // The rules are asked for on the way on (the personal account's gate).
        to = location(&c.get(server.url(&to)).send().await.expect("on"));
    }
    assert!(to.starts_with("/rules"), "the rules are asked for at first sign-in: {to}");
    {
        let page = c.get(server.url(&to)).send().await.expect("rules").text().await.expect("body");
        let csrf = input_value(&page, "csrf").expect("csrf");
        let version = input_value(&page, "version").expect("version");
        let r = c
            .post(server.url("/rules"))
            .form(&[("csrf", csrf.as_str()), ("version", version.as_str()), ("answer", "accept"), ("next", "/account")])
            .send()
            .await
            .expect("accept");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    c
}

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "propusk-test-boundary-7d3f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn group_file(n: usize) -> Vec<u8> {
    let names = ["Алексеева Анна", "Борисов Борис", "Васильева Вера", "Григорьев Глеб", "Дмитриева Дарья"];
    let rows: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "external_id": format!("g{i:04}"),
                "full_name": format!("{} Ивановна{}", names[i % names.len()], if i >= names.len() { format!(" {i}") } else { String::new() }),
                "role": "student",
                "status": "studying",
                "effective": "2026-09-01",
            })
        })
        .collect();
    serde_json::to_vec(&rows).expect("json")
}

async fn count_users(server: &Server, c: &reqwest::Client, q: &str) -> i64 {
    let v: serde_json::Value =
        c.get(server.url(&format!("/api/admin/users?q={q}"))).send().await.expect("api").json().await.expect("json");
    v["total"].as_i64().expect("total")
}

#[tokio::test]
async fn an_administrator_registers_a_group_and_hands_the_slips_over() {
    let server = Server::start(&[("PROPUSK_RULES_REQUIRED", "true")]);
    let admin = signed_in(&server, "chief.a", "eios_admin").await;
    let home = admin.get(server.url("/admin")).send().await.expect("console");
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.expect("body");
    for want in ["Регистрация группы", "Журналы", "Отчёты", "Проверяющие"] {
        assert!(home.contains(want), "the console lacks {want}");
    }
    let csrf = csrf_of(&server, &admin, "/admin/register").await;
    let file = group_file(5);

    // Review: nothing is created.
    let (ctype, body) = multipart(
        &[("csrf", &csrf), ("step", "review"), ("format", "json"), ("group", "ИС-26")],
        Some(("is-26.json", &file)),
    );
    let r = admin
        .post(server.url("/admin/register"))
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("review");
    assert_eq!(r.status(), StatusCode::OK);
    let review = r.text().await.expect("body");
    assert!(review.contains("Подтвердить и создать"), "a confirm button");
    let data = input_value(&review, "data").expect("the file travels with the confirmation");
    assert_eq!(count_users(&server, &admin, "ивановна").await, 0, "a review creates nothing");

    // Without the anti-forgery token: refused, nothing created, audited.
    let (ctype, body) =
        multipart(&[("step", "confirm"), ("format", "json"), ("group", "ИС-26"), ("data", &data)], None);
    let r =
        admin.post(server.url("/admin/register")).header("content-type", ctype).body(body).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(count_users(&server, &admin, "ивановна").await, 0);

    // A file that is not what it says, and a list with a bad row: clear answers, nothing created.
    let (ctype, body) =
        multipart(&[("csrf", &csrf), ("step", "review"), ("format", "json")], Some(("x.json", b"\x89PNG\r\n")));
    let r =
        admin.post(server.url("/admin/register")).header("content-type", ctype).body(body).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("body").contains("Файл не прочитан"), "the file's problem is named");
    let (ctype, body) = multipart(&[("csrf", &csrf), ("step", "review"), ("format", "xlsx")], Some(("x.xlsx", &file)));
    let r =
        admin.post(server.url("/admin/register")).header("content-type", ctype).body(body).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "JSON sent as XLSX");
    let mut rows: Vec<serde_json::Value> = serde_json::from_slice(&file).expect("json");
    rows[2]["status"] = serde_json::json!("on_the_moon");
    let bad = serde_json::to_vec(&rows).expect("json");
    let (ctype, body) = multipart(&[("csrf", &csrf), ("step", "review"), ("format", "json")], Some(("bad.json", &bad)));
    let r =
        admin.post(server.url("/admin/register")).header("content-type", ctype).body(body).send().await.expect("post");
    let page = r.text().await.expect("body");
    assert!(
        page.contains("В списке есть ошибки") && !page.contains("Подтвердить и создать"),
        "no confirm while a row is bad"
    );
    assert_eq!(count_users(&server, &admin, "ивановна").await, 0);

    // Confirm: the slips, once.
    let (ctype, body) = multipart(
        &[("csrf", &csrf), ("step", "confirm"), ("format", "json"), ("group", "ИС-26"), ("data", &data)],
        None,
    );
    let r = admin
        .post(server.url("/admin/register"))
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let slips = r.text().await.expect("body");
    assert_eq!(slips.matches("<article class=\"slip\"").count(), 5, "one slip per person");
    assert_eq!(count_users(&server, &admin, "ивановна").await, 5);
    // A slip's login and password sign its owner in.
    let secrets: Vec<String> = slips
        .split("class=\"secret\">")
        .skip(1)
        .map(|s| common::unescape(&s[..s.find("</code>").expect("end")]))
        .collect();
    assert_eq!(secrets.len(), 15, "login, password and lock code on each slip");
    let student = server.client();
    let r = sign_in(&server, &student, &secrets[0], &secrets[1]).await;
    assert_eq!(location(&r), "/account/password", "the slip's password works and must be changed");

    // Hand-over marks, each once.
    let batches = admin.get(server.url("/admin/slips")).send().await.expect("slips").text().await.expect("body");
    let link_start = batches.find("href=\"/admin/slips/").expect("a batch link") + "href=\"".len();
    let link = common::unescape(&batches[link_start..link_start + batches[link_start..].find('"').expect("end")]);
    let batch = admin.get(server.url(&link)).send().await.expect("batch").text().await.expect("body");
    let seqs: Vec<String> =
        batch.split("name=\"seq_").skip(1).map(|s| s[..s.find('"').expect("end")].to_owned()).collect();
    assert_eq!(seqs.len(), 5);
    let by = link.split("by=").nth(1).expect("by").to_owned();
    let at = link.trim_start_matches("/admin/slips/").split('?').next().expect("at").to_owned();
    let form: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.clone()),
        ("by".into(), by.clone()),
        (format!("seq_{}", seqs[0]), "on".into()),
        (format!("seq_{}", seqs[1]), "on".into()),
    ];
    let r = admin.post(server.url(&format!("/admin/slips/{at}/handed-over"))).form(&form).send().await.expect("mark");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let again =
        admin.post(server.url(&format!("/admin/slips/{at}/handed-over"))).form(&form).send().await.expect("again");
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "a slip is marked once");
    let batch = admin.get(server.url(&link)).send().await.expect("batch").text().await.expect("body");
    assert_eq!(batch.matches("name=\"seq_").count(), 3, "two marked, three left");

    // The audit log has the registration, the marks and the refused post.
    let audit = server.cli(&["audit", "verify", "--json"]);
    assert!(audit.status.success(), "the chains verify: {}", common::stdout(&audit));
    let journal = admin.get(server.url("/admin/journal?log=audit&action=journal.")).send().await.expect("journal");
    let journal = journal.text().await.expect("body");
    assert_eq!(journal.matches("journal.handed_over").count(), 2);
    let refused = admin.get(server.url("/admin/journal?log=audit&action=console.")).send().await.expect("journal");
    assert!(refused.text().await.expect("body").contains("console.refused"));
}

#[tokio::test]
async fn each_role_sees_its_part_and_hostile_input_stays_text() {
    let server = Server::start(&[("PROPUSK_RULES_REQUIRED", "true")]);
    let admin = signed_in(&server, "chief.a", "eios_admin").await;
    let librarian = signed_in(&server, "lib.l", "librarian").await;
    let student = signed_in(&server, "stud.s", "student").await;

    // A student has no console; a librarian only the library list.
    assert_eq!(student.get(server.url("/admin")).send().await.expect("get").status(), StatusCode::FORBIDDEN);
    assert_eq!(librarian.get(server.url("/admin/users")).send().await.expect("get").status(), StatusCode::FORBIDDEN);
    let csv = librarian.get(server.url("/admin/library?resource=iprsmart&format=csv")).send().await.expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    let csv = csv.text().await.expect("body");
    assert!(csv.starts_with("\"login\",\"full_name\""));
    assert!(csv.contains("\"stud.s\""), "the student reaches the library system: {csv}");

    // The public form: no sign-in, same answer for any login, hostile text kept as text.
    let anon = server.client();
    let page = anon.get(server.url("/access-request")).send().await.expect("form").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = anon
        .post(server.url("/access-request"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "no.such.user"),
            ("full_name", "<script>alert(1)</script>"),
            ("contact", "+7 900 000-00-00"),
            ("message", "lost my slip"),
        ])
        .send()
        .await
        .expect("file");
    assert_eq!(r.status(), StatusCode::OK);
    let queue = admin.get(server.url("/admin/requests")).send().await.expect("queue").text().await.expect("body");
    assert!(queue.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !queue.contains("<script>alert"));

    // The API: the same permissions; a change needs X-CSRF-Token.
    let r = librarian.get(server.url("/api/admin/users")).send().await.expect("api");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin
        .post(server.url("/api/admin/users/stud.s/suspend"))
        .json(&serde_json::json!({"reason": "test"}))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no X-CSRF-Token");
    let token = csrf_of(&server, &admin, "/admin/users/new").await;
    let r = admin
        .post(server.url("/api/admin/users/stud.s/suspend"))
        .header("x-csrf-token", &token)
        .json(&serde_json::json!({"reason": "test"}))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["status"], "suspended");
    let r = admin
        .post(server.url("/api/admin/users/stud.s/activate"))
        .header("x-csrf-token", &token)
        .json(&serde_json::json!({"reason": ""}))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a reason is required");

    // A person's page shows the rules they accepted and the second factor's state.
    let page = admin.get(server.url("/admin/users/stud.s")).send().await.expect("view").text().await.expect("body");
    assert!(page.contains("редакция 1"), "the accepted rules' version: {page}");
    assert!(page.contains("не требуется"), "a student needs no second factor");
    let page = admin.get(server.url("/admin/users/lib.l")).send().await.expect("view").text().await.expect("body");
    assert!(page.contains("подключён"), "the librarian enrolled a second factor");
    let sessions = &page[page.find("id=\"h-sessions\"").expect("the sessions' section")..];
    let sessions = &sessions[..sessions.find("</section>").expect("end")];
    assert_eq!(sessions.matches("<tr>").count(), 2, "a header and the librarian's one live session: {sessions}");
    assert!(sessions.contains("<td>да</td>"), "the session passed the second factor");

    // D-4: a notice to acknowledge before sign-in, published from the console.
    let csrf = csrf_of(&server, &admin, "/admin/notices").await;
    let minute = |m: i64| (chrono::Utc::now() + chrono::Duration::minutes(m)).format("%Y-%m-%dT%H:%M").to_string();
    let r = admin
        .post(server.url("/admin/notices"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("kind", "sign_in_notice"),
            ("text_ru", "Вход в ЭИОС означает согласие с правилами обработки данных."),
            ("text_en", ""),
            ("starts", &minute(-2)),
            ("ends", &minute(60)),
        ])
        .send()
        .await
        .expect("notice");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let visitor = server.client();
    let page = visitor.get(server.url("/sign-in")).send().await.expect("form").text().await.expect("body");
    assert!(page.contains("согласие с правилами обработки данных") && page.contains("name=\"acknowledged\""));
    let csrf = input_value(&page, "csrf").expect("csrf");
    let r = visitor
        .post(server.url("/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("login", "stud.s"), ("password", NEW_PASSWORD), ("next", "/account")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no sign-in without acknowledging the notice");
    let r = visitor
        .post(server.url("/sign-in"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "lib.l"),
            ("password", NEW_PASSWORD),
            ("next", "/account"),
            ("acknowledged", "on"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(location(&r), "/sign-in/second-factor", "acknowledged: the sign-in goes on");

    // Reports render their charts with a data table beside each.
    let reports =
        admin.get(server.url("/admin/reports?days=7")).send().await.expect("reports").text().await.expect("body");
    assert!(reports.contains("<svg") && reports.contains("role=\"img\"") && reports.contains("<caption>"));
}

#[tokio::test]
async fn the_api_is_described_and_survives_a_property_based_tester() {
    let server = Server::start(&[("PROPUSK_RULES_REQUIRED", "true")]);
    // A client whose cookie jar the test can read, to hand the session to the tester.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let pem = std::fs::read(server.ca()).expect("dev CA");
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA pem"))
        .https_only(true)
        .build()
        .expect("client");
    let admin = signed_in_with(&server, c, "chief.a", "eios_admin").await;
    add_user(&server, "stud.s", "Студентов Семён", "student");
    let doc =
        admin.get(server.url("/api/admin/openapi.json")).send().await.expect("openapi").text().await.expect("body");
    let dir = tempfile::tempdir().expect("dir");
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, &doc).expect("write");
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&spec)
        .output()
        .expect("python3 with openapi-spec-validator (scripts/test installs it)");
    assert!(out.status.success(), "the OpenAPI document is invalid: {}{}", common::stdout(&out), common::stderr(&out));

    // The session's cookie and anti-forgery token for the tester.
    let page = admin.get(server.url("/admin/users/new")).send().await.expect("page").text().await.expect("body");
    let token = input_value(&page, "csrf").expect("csrf");
    let url: reqwest::Url = server.url("/").parse().expect("url");
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &url).expect("cookies");
    let cookie = cookie.to_str().expect("ascii").to_owned();
    let out = std::process::Command::new("schemathesis")
        // It keeps its own state in the working directory.
        .current_dir(dir.path())
        .args(["run", "--checks", "not_a_server_error", "--max-examples", "25", "--tls-verify", "false", "--url"])
        .arg(server.url(""))
        .args(["-H", &format!("Cookie: {cookie}"), "-H", &format!("X-CSRF-Token: {token}")])
        .arg(&spec)
        .output()
        .expect("schemathesis (scripts/test installs it)");
    let report = common::stdout(&out);
    assert!(out.status.success(), "schemathesis found a problem:\n{report}{}", common::stderr(&out));
    assert!(report.contains("Tested: 9"), "every operation was exercised:\n{report}");
    assert!(!report.contains("failed"), "no failing case:\n{report}");
    assert!(!server.log().contains("panicked"), "no panic in the server");
}

/// Gets a `client_credentials` access token for a new confidential client.
async fn service_token(server: &Server, client_id: &str) -> String {
    let out = server.cli(&[
        "client",
        "add",
        client_id,
        "--name",
        "Automation",
        "--redirect-uri",
        "https://ops.college.example/cb",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let secret = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let token: serde_json::Value = server
        .client()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    token["access_token"].as_str().expect("access token").to_owned()
}

#[tokio::test]
async fn automation_uses_the_api_with_a_service_token_and_its_role() {
    let server = Server::start(&[("PROPUSK_CONSOLE_API_CLIENTS", "reports-export=inspector,hr-sync=eios_admin")]);
    add_user(&server, "stud.s", "Студентов Семён", "student");
    let reader = service_token(&server, "reports-export").await;
    let manager = service_token(&server, "hr-sync").await;
    let stranger = service_token(&server, "moodle").await;
    let c = server.client();
    let users = server.url("/api/admin/users?q=stud");
    let r = c.get(&users).bearer_auth("forged-token").send().await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(&users).bearer_auth(&stranger).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a client not listed in console.api_clients");
    let r = c.get(&users).bearer_auth(&reader).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["total"], 1);
    // The inspector's role reads but does not change.
    let suspend = server.url("/api/admin/users/stud.s/suspend");
    let r = c.post(&suspend).bearer_auth(&reader).json(&serde_json::json!({"reason": "x"})).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        c.post(&suspend).bearer_auth(&manager).json(&serde_json::json!({"reason": "left"})).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let audit = server.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json"]);
    let audit = common::stdout(&audit);
    assert!(audit.contains("client:hr-sync") && audit.contains("account.suspend"), "the client is the actor: {audit}");
    assert!(audit.contains("client:reports-export") && audit.contains("console.denied"), "the refusal is audited");
}
