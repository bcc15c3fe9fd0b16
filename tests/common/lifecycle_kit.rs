//! What the deprovisioning tests share: an `App` over a given store with a clock the test
//! moves, a policy directory whose Moodle calls a webhook and whose mail speaks SCIM, and
//! an HTTP listener in the test that plays both services and records every call.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use propusk::app::{App, LifecycleSettings, Parts, PolicySet, Settings};
use propusk::domain::Timestamp;
use propusk::ports::{Clock, Store};

pub const SECRET: &str = "webhook-secret-for-tests";
pub const SCIM_TOKEN: &str = "scim-token-for-tests";

pub struct TestClock(pub AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

impl TestClock {
    pub fn set(&self, rfc3339: &str) {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time");
        self.0.store(t.timestamp_millis(), Ordering::SeqCst);
    }
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(i64::try_from(d.as_millis()).expect("ms"), Ordering::SeqCst);
    }
}

/// One call the services received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub struct Services {
    pub base: String,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    /// While set, every call is answered 503.
    pub down: Arc<AtomicBool>,
    _task: tokio::task::JoinHandle<()>,
}

impl Services {
    pub async fn start() -> Services {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let (h, d) = (hits.clone(), down.clone());
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (hits, down) = (h.clone(), d.clone());
            async move {
                let hit = Hit {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or("").to_owned(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                hits.lock().expect("hits").push(hit.clone());
                if down.load(Ordering::SeqCst) {
                    return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
                }
                match (hit.method.as_str(), hit.path.as_str()) {
                    ("GET", "/scim/Users") => {
                        let q = percent_decode(&hit.query);
                        let login = q.split('"').nth(1).unwrap_or("").to_owned();
                        let body = serde_json::json!({
                            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                            "totalResults": 1,
                            "Resources": [{"id": format!("u-{login}")}],
                        });
                        (StatusCode::OK, axum::Json(body)).into_response()
                    }
                    ("PATCH", _) => (StatusCode::OK, "{}").into_response(),
                    ("DELETE", _) => StatusCode::NO_CONTENT.into_response(),
                    _ => (StatusCode::OK, "received").into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Services { base, hits, down, _task: task }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The shipped policies, with Moodle told by a signed webhook and mail by SCIM (both
/// also asked to forget the person before erasure); `manual = false` drops the manual
/// tasks of the shipped catalogue.
pub fn policies(services: &Services, manual: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(&shipped).expect("policies") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::write(dir.path().join("hook.secret"), format!("{SECRET}\n")).expect("secret");
    std::fs::write(dir.path().join("scim.token"), SCIM_TOKEN).expect("token");
    let catalogue = dir.path().join("resources.toml");
    let mut text = std::fs::read_to_string(&catalogue).expect("catalogue");
    let d = dir.path().display();
    text = text.replace(
        "integration = { kind = \"oidc\", client_id = \"moodle\" }\n",
        &format!(
            "integration = {{ kind = \"oidc\", client_id = \"moodle\" }}\ndeprovision = {{ kind = \"webhook\", url = \
             \"{}/hook\", secret_file = \"{d}/hook.secret\", forget = true }}\n",
            services.base
        ),
    );
    text = text.replace(
        "integration = { kind = \"oidc\", client_id = \"vk-workspace\" }\n",
        &format!(
            "integration = {{ kind = \"oidc\", client_id = \"vk-workspace\" }}\ndeprovision = {{ kind = \"scim\", url = \
             \"{}/scim\", token_file = \"{d}/scim.token\", forget = true }}\n",
            services.base
        ),
    );
    if !manual {
        text = text.lines().filter(|l| !l.contains("kind = \"manual\"")).collect::<Vec<_>>().join("\n");
    }
    std::fs::write(&catalogue, text).expect("write catalogue");
    dir
}

/// An `App` over `store`, as `serve` builds it, with the test's clock.
pub async fn app(store: Arc<dyn Store>, clock: Arc<TestClock>, policies: &std::path::Path, node: &str) -> App {
    let hasher = Arc::new(
        propusk::hash::Argon2Pool::with_suspect_budget(
            propusk::hash::HashParams { memory_kib: 64, iterations: 1, parallelism: 1 },
            2,
            256,
            1_000,
        )
        .expect("hasher"),
    );
    // Nodes of one deployment share the master key (here: beside the policies).
    let master = propusk::keys::MasterKey::load_or_create(&policies.join("master.key")).expect("master");
    let key_policy = propusk::keys::KeyPolicy {
        rotate_after: Duration::from_secs(90 * 86_400),
        publish_ahead: Duration::ZERO,
        keep_after: Duration::from_secs(86_400),
    };
    let signer = propusk::keys::KeyRing::open(store.as_ref(), master, key_policy, clock.clone()).await.expect("keys");
    let sealer = propusk::keys::MasterKey::load_or_create(&policies.join("master.key")).expect("master");
    let policies = propusk::policy::Policies::load(policies).expect("policies");
    App::new(Parts {
        store,
        hasher,
        clock,
        signer: Arc::new(signer),
        directory: Arc::new(propusk::directory::Embedded),
        connector: Arc::new(propusk::connectors::HttpConnector::new().expect("client")),
        lifecycle: LifecycleSettings { node: node.into(), ..LifecycleSettings::default() },
        issuer: "https://sso.college.example".into(),
        settings: Settings::default(),
        policies: Arc::new(PolicySet::new(policies)),
        sealer: Arc::new(sealer),
    })
}

/// The HMAC the webhook must carry.
pub fn signature(body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref()))
}
