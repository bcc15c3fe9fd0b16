//! What the people and the services do during a rush: one person's morning (the sign-in
//! form, a sign-in, Moodle and mail through OpenID Connect, pages of the timetable behind
//! forward-auth, a refresh), and the figures every request leaves.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::node::{PASSWORD, group_of, login_of};

pub const SESSION_COOKIE: &str = "__Host-propusk";
pub const MOODLE_REDIRECT: &str = "https://moodle.college.example/auth/oidc/";
pub const MAIL_REDIRECT: &str = "https://biz.mail.college.example/oidc/callback";
const VERIFIER: &str = "rush-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
/// Pages of the timetable a person opens after signing in, and the pause between them.
pub const PAGES: usize = 5;
pub const THINK: Duration = Duration::from_secs(2);

/// The kinds of request, in the order a person makes them.
pub const KINDS: [&str; 7] =
    ["sign-in form", "sign-in (argon2)", "authorize", "code exchange", "userinfo", "forward-auth", "refresh"];

/// Where the requests go and who the services are.
pub struct Target {
    pub bases: Vec<String>,
    next: AtomicUsize,
    pub ca: reqwest::Certificate,
    /// The back-channel client of Moodle's and mail's servers and nginx's connections.
    pub service: reqwest::Client,
    pub moodle_basic: String,
    pub mail_basic: String,
}

impl Target {
    pub fn new(bases: Vec<String>, ca: reqwest::Certificate, moodle: &str, mail: &str) -> anyhow::Result<Self> {
        let service = reqwest::Client::builder()
            .add_root_certificate(ca.clone())
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            bases,
            next: AtomicUsize::new(0),
            ca,
            service,
            moodle_basic: format!("Basic {}", STANDARD.encode(format!("moodle:{moodle}"))),
            mail_basic: format!("Basic {}", STANDARD.encode(format!("vk-workspace:{mail}"))),
        })
    }

    /// The next node, round robin per request, as a load balancer without affinity does.
    pub fn url(&self, path: &str) -> String {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
        format!("{}{path}", self.bases[i])
    }

    /// A person's own browser: its own connections and TLS handshakes.
    pub fn browser(&self) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .add_root_certificate(self.ca.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?)
    }

    pub fn authorize_path(client_id: &str, redirect: &str, scope: &str) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
        format!(
            "/authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope={}\
             &code_challenge={challenge}&code_challenge_method=S256&state=s&nonce=n",
            urlencode(redirect),
            urlencode(scope),
        )
    }
}

/// Latencies (ms) and failures by kind of request.
#[derive(Default)]
pub struct Record {
    inner: Mutex<BTreeMap<&'static str, Kind>>,
}

#[derive(Default)]
struct Kind {
    ms: Vec<f64>,
    errors: usize,
    sample: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct KindFigures {
    pub kind: String,
    pub count: usize,
    pub errors: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub error_sample: Option<String>,
}

impl Record {
    pub fn ok(&self, kind: &'static str, since: Instant) {
        let ms = since.elapsed().as_secs_f64() * 1e3;
        self.inner.lock().expect("record").entry(kind).or_default().ms.push(ms);
    }

    pub fn failed(&self, kind: &'static str, e: &anyhow::Error) {
        let mut m = self.inner.lock().expect("record");
        let k = m.entry(kind).or_default();
        k.errors += 1;
        k.sample.get_or_insert_with(|| format!("{e:#}").chars().take(200).collect());
    }

    /// Times `f` as one request of `kind`.
    pub async fn time<T>(&self, kind: &'static str, f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        let t = Instant::now();
        match f.await {
            Ok(v) => {
                self.ok(kind, t);
                Ok(v)
            }
            Err(e) => {
                self.failed(kind, &e);
                Err(e)
            }
        }
    }

    pub fn figures(&self) -> Vec<KindFigures> {
        let m = self.inner.lock().expect("record");
        let mut out = Vec::new();
        for (name, k) in m.iter() {
            let mut ms = k.ms.clone();
            ms.sort_by(f64::total_cmp);
            out.push(KindFigures {
                kind: (*name).to_owned(),
                count: ms.len() + k.errors,
                errors: k.errors,
                p50: pct(&ms, 0.50),
                p95: pct(&ms, 0.95),
                p99: pct(&ms, 0.99),
                max: ms.last().copied().unwrap_or(0.0),
                error_sample: k.sample.clone(),
            });
        }
        out.sort_by_key(|f| KINDS.iter().position(|k| *k == f.kind).unwrap_or(KINDS.len()));
        out
    }

    /// Every request's latency, for the overall percentiles.
    pub fn all(&self) -> (Vec<f64>, usize) {
        let m = self.inner.lock().expect("record");
        let mut ms: Vec<f64> = m.values().flat_map(|k| k.ms.iter().copied()).collect();
        ms.sort_by(f64::total_cmp);
        (ms, m.values().map(|k| k.errors).sum())
    }
}

pub fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

/// A person's address on the college network, as nginx passes it.
pub fn address(i: usize) -> String {
    format!("10.{}.{}.{}", 1 + (i >> 16) % 250, (i >> 8) & 255, i & 255)
}

/// One person's morning. Stops at the first failure (a person would stop there too).
pub async fn morning(t: &Target, rec: &Record, i: usize) -> anyhow::Result<()> {
    let browser = t.browser()?;
    let ip = address(i);
    let mut jar = Jar::default();
    let csrf = rec
        .time("sign-in form", async {
            let r = browser.get(t.url("/sign-in")).header("x-forwarded-for", &ip).send().await?;
            ensure!(r.status() == StatusCode::OK, "answered {}", r.status());
            jar.absorb(&r);
            input_value(&r.text().await?, "csrf").context("no csrf")
        })
        .await?;
    let login = login_of(i);
    rec.time("sign-in (argon2)", async {
        let r = browser
            .post(t.url("/sign-in"))
            .header("x-forwarded-for", &ip)
            .header(COOKIE, jar.header())
            .form(&[("csrf", csrf.as_str()), ("login", login.as_str()), ("password", PASSWORD), ("next", "/")])
            .send()
            .await?;
        ensure!(r.status() == StatusCode::SEE_OTHER, "answered {}", r.status());
        jar.absorb(&r);
        ensure!(jar.0.contains_key(SESSION_COOKIE), "no session cookie");
        Ok(())
    })
    .await?;
    let session = jar.header();
    let moodle = services(t, rec, &browser, &ip, &session, ("moodle", MOODLE_REDIRECT, &t.moodle_basic)).await?;
    services(t, rec, &browser, &ip, &session, ("vk-workspace", MAIL_REDIRECT, &t.mail_basic)).await?;
    let group = group_of(i);
    for page in 0..PAGES {
        tokio::time::sleep(THINK).await;
        let path = if page % 2 == 0 { format!("/group/{}", urlencode(&group)) } else { "/".to_owned() };
        forward_auth(t, rec, &session, &ip, &path, &login).await?;
    }
    let refresh = moodle.refresh_token.context("no refresh token for Moodle")?;
    rec.time("refresh", token(t, &t.moodle_basic, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]))
        .await?;
    Ok(())
}

/// A service reached through OpenID Connect: the authorization with the person's session,
/// the code exchange and the userinfo call by the service's server.
pub async fn services(
    t: &Target,
    rec: &Record,
    browser: &reqwest::Client,
    ip: &str,
    session: &str,
    (client, redirect, basic): (&str, &str, &str),
) -> anyhow::Result<Tokens> {
    let scope = if client == "moodle" { "openid profile email groups offline_access" } else { "openid profile email" };
    let path = Target::authorize_path(client, redirect, scope);
    let code = rec
        .time("authorize", async {
            let r = browser.get(t.url(&path)).header("x-forwarded-for", ip).header(COOKIE, session).send().await?;
            let to = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            ensure!(
                r.status() == StatusCode::SEE_OTHER && to.starts_with(redirect),
                "answered {} to {to:?}",
                r.status()
            );
            let url = reqwest::Url::parse(&to)?;
            url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).context("no code")
        })
        .await?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    let tokens = rec.time("code exchange", token(t, basic, &form)).await?;
    rec.time("userinfo", async {
        let r = t.service.get(t.url("/userinfo")).bearer_auth(&tokens.access_token).send().await?;
        ensure!(r.status() == StatusCode::OK, "answered {}", r.status());
        r.bytes().await?;
        Ok(())
    })
    .await?;
    Ok(tokens)
}

/// nginx's `auth_request` for a page of the timetable.
pub async fn forward_auth(
    t: &Target,
    rec: &Record,
    session: &str,
    ip: &str,
    path: &str,
    login: &str,
) -> anyhow::Result<()> {
    rec.time("forward-auth", async {
        let r = t
            .service
            .get(t.url("/auth/verify"))
            .header("x-original-url", format!("https://timetable.college.example{path}"))
            .header("x-forwarded-for", ip)
            .header(COOKIE, session)
            .send()
            .await?;
        ensure!(r.status() == StatusCode::OK, "answered {}", r.status());
        let user = r.headers().get("remote-user").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        ensure!(login.is_empty() || user == login, "Remote-User {user:?}, not {login:?}");
        r.bytes().await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

pub async fn token(t: &Target, basic: &str, form: &[(&str, &str)]) -> anyhow::Result<Tokens> {
    let r = t.service.post(t.url("/token")).header(AUTHORIZATION, basic).form(form).send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    if status != StatusCode::OK {
        bail!("answered {status}: {}", String::from_utf8_lossy(&body).chars().take(120).collect::<String>());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// A minimal cookie jar that ignores paths and attributes.
#[derive(Default)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    pub fn absorb(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let lower = v.to_ascii_lowercase();
            let Some((name, value)) = v.split(';').next().and_then(|p| p.split_once('=')) else { continue };
            if value.is_empty() || lower.contains("max-age=0") {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    pub fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&quot;", "\"").replace("&amp;", "&"))
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).map(|e| e[2..].replace('+', "%20")).unwrap_or_default()
}
