//! Email through the real server to a small SMTP listener the test runs on 127.0.0.1: a
//! lock is told to the account's owner, a compromise report by lock code to the security
//! officers, and a report for an unknown login sends nothing and answers the same.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// One message as the SMTP listener received it.
#[derive(Debug, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    subject: String,
    body: String,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// An SMTP server just big enough for one client at a time: greets, takes the envelope
/// and the data, decodes the subject and body, and keeps them.
async fn smtp_listener() -> (u16, Inbox) {
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sink = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(smtp_session(stream, sink.clone()));
        }
    });
    (port, inbox)
}

async fn smtp_session(stream: tokio::net::TcpStream, inbox: Inbox) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    if !say(&mut wr, "220 test.example ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-test.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("AUTH") {
            "235 accepted\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_owned();
            "250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            "250 OK\r\n"
        } else if upper.starts_with("DATA") {
            if !say(&mut wr, "354 go on\r\n").await {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let (subject, body) = decode(&data);
            let got = Received { from: std::mem::take(&mut from), to: std::mem::take(&mut to), subject, body };
            inbox.lock().expect("inbox").push(got);
            "250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = say(&mut wr, "221 bye\r\n").await;
            return;
        } else {
            "250 OK\r\n"
        };
        if !say(&mut wr, reply).await {
            return;
        }
    }
}

async fn say(wr: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> bool {
    wr.write_all(text.as_bytes()).await.is_ok()
}

/// The subject (RFC 2047 words decoded) and the body (base64 or quoted-printable decoded).
fn decode(data: &str) -> (String, String) {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let head = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
            .unwrap_or("")
            .to_owned()
    };
    let b64 = |s: &str| {
        String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default()).into_owned()
    };
    // RFC 2047 §6.2: white space between two encoded words is dropped, elsewhere kept.
    let mut subject = String::new();
    let mut after_word = false;
    for w in header("subject").split_whitespace() {
        let encoded = w.strip_prefix("=?utf-8?b?").or_else(|| w.strip_prefix("=?UTF-8?B?"));
        if !(subject.is_empty() || (after_word && encoded.is_some())) {
            subject.push(' ');
        }
        match encoded {
            Some(rest) => subject.push_str(&b64(rest.trim_end_matches("?="))),
            None => subject.push_str(w),
        }
        after_word = encoded.is_some();
    }
    let body = match header("content-transfer-encoding").to_ascii_lowercase().as_str() {
        "base64" => b64(&body.split_whitespace().collect::<String>()),
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    };
    (subject.trim().to_owned(), body)
}

fn quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], joined.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits up to 10 s for the inbox to hold `n` messages.
async fn wait_for(server: &Server, inbox: &Inbox, n: usize) -> Vec<Received> {
    for _ in 0..100 {
        let got = inbox.lock().expect("inbox").clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} messages, got {:?}; server log:\n{}", inbox.lock().expect("inbox"), server.log());
}

fn mail_server(port: u16) -> Server {
    let port = port.to_string();
    Server::start(&[
        ("PROPUSK_MAIL_HOST", "127.0.0.1"),
        ("PROPUSK_MAIL_PORT", &port),
        ("PROPUSK_MAIL_SECURITY", "none"),
        ("PROPUSK_MAIL_FROM", "propusk <propusk@college.example>"),
        ("PROPUSK_MAIL_SECURITY_OFFICERS", "ib@college.example, ciso@college.example"),
        ("PROPUSK_MAIL_USERNAME", "propusk"),
        ("PROPUSK_MAIL_PASSWORD", "smtp-secret-42"),
    ])
}

fn add_user_with_email(server: &Server, login: &str, email: &str) -> Value {
    let out = server.cli(&[
        "user",
        "add",
        login,
        "--name",
        "Почтова Полина",
        "--role",
        "student",
        "--email",
        email,
        "--json",
    ]);
    assert!(out.status.success(), "user add failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test]
async fn a_lock_is_told_to_its_owner() {
    let (port, inbox) = smtp_listener().await;
    let server = mail_server(port);
    add_user_with_email(&server, "locked.out", "polina@college.example");
    let c = server.client();
    for _ in 0..5 {
        let r = sign_in(&server, &c, "locked.out", "not-the-password-1").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let got = wait_for(&server, &inbox, 1).await;
    let m = &got[0];
    assert_eq!(m.to, ["polina@college.example"]);
    assert_eq!(m.from, "propusk@college.example");
    assert!(m.subject.contains("Вход в учётную запись locked.out заблокирован"), "{}", m.subject);
    assert!(m.body.contains("5 раз подряд") && m.body.contains("5 times in a row"), "{}", m.body);
    assert!(m.body.find("Здравствуйте") < m.body.find("Hello"), "Russian first");
    assert!(m.body.contains(&server.url("/compromised")));
    assert!(!m.body.contains("not-the-password-1"));
    let mail: Value = serde_json::from_slice(&server.cli(&["user", "events", "--json"]).stdout).expect("events json");
    assert_eq!(mail[0]["kind"], "lock", "the officers' queue keeps the event too");
    // The worker recorded the outcome; the SMTP password is in no log line.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log();
    assert!(log.contains("mail sent"), "{log}");
    assert!(!log.contains("smtp-secret-42"));
}

#[tokio::test]
async fn a_lock_code_report_reaches_the_officers_and_an_unknown_login_sends_nothing() {
    let (port, inbox) = smtp_listener().await;
    let server = mail_server(port);
    let issued = add_user_with_email(&server, "stolen.code", "owner@college.example");
    let code = issued["lock_code"].as_str().expect("lock code").to_owned();
    let c = server.client();
    let report = |login: &'static str, code: String| {
        let (server, c) = (&server, &c);
        async move {
            let csrf = csrf_of(server, c, "/compromised").await;
            let r = c
                .post(server.url("/compromised"))
                .form(&[("csrf", csrf.as_str()), ("login", login), ("code", code.as_str())])
                .send()
                .await
                .expect("post");
            (r.status(), r.text().await.expect("body").replace(login, "LOGIN"))
        }
    };
    let unknown = report("nobody.here", code.clone()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(inbox.lock().expect("inbox").is_empty(), "an unknown login sends no mail");
    let known = report("stolen.code", code).await;
    assert_eq!(unknown, known, "the same answer for an unknown login and a real report");
    let got = wait_for(&server, &inbox, 1).await;
    let m = &got[0];
    assert_eq!(m.to, ["ib@college.example", "ciso@college.example"]);
    assert!(m.subject.contains("stolen.code"), "{}", m.subject);
    assert!(m.body.contains("по коду блокировки") && m.body.contains("with the lock code"), "{}", m.body);
    assert!(m.body.contains("propusk user restore stolen.code"));
    assert!(!m.body.contains(issued["lock_code"].as_str().unwrap_or("-")), "no lock code in mail");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(inbox.lock().expect("inbox").len(), 1, "nothing for the owner, nothing twice");
}
