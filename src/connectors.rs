//! Outbound deprovisioning calls: a signed webhook and SCIM 2.0 (RFC 7644).
//! Implements `ports::lifecycle::Connector`; what to send and when is decided in `app`.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use crate::policy::Deprovision;
use crate::ports::lifecycle::{Connector, DeprovisionEvent};

const SCIM_JSON: &str = "application/scim+json";

pub struct HttpConnector {
    client: reqwest::Client,
}

impl HttpConnector {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("propusk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    async fn webhook(&self, url: &str, secret_file: &Path, event: &DeprovisionEvent) -> Result<String, String> {
        let secret = read_secret(secret_file).await?;
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let signature = hex::encode(ring::hmac::sign(&key, &body).as_ref());
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-propusk-event", event.event)
            .header("x-propusk-delivery", delivery(event))
            .header("x-propusk-signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook {url}: {e}"))?;
        let status = resp.status();
        let text = answer(resp).await;
        if status.is_success() {
            Ok(format!("webhook {} answered {status}: {text}", event.event))
        } else {
            Err(format!("webhook answered {status}: {text}"))
        }
    }

    async fn scim(&self, base: &str, token_file: &Path, event: &DeprovisionEvent) -> Result<String, String> {
        let token = read_secret(token_file).await?;
        let base = base.trim_end_matches('/');
        let filter = format!("userName eq \"{}\"", event.login.replace('\\', "\\\\").replace('"', "\\\""));
        let resp = self
            .client
            .get(format!("{base}/Users"))
            .query(&[("filter", filter.as_str()), ("attributes", "id")])
            .bearer_auth(&token)
            .header("accept", SCIM_JSON)
            .send()
            .await
            .map_err(|e| format!("SCIM search: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("SCIM search answered {status}: {}", answer(resp).await));
        }
        let found: serde_json::Value = resp.json().await.map_err(|e| format!("SCIM search: {e}"))?;
        let ids: Vec<&str> = found
            .get("Resources")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().filter_map(|u| u.get("id").and_then(|i| i.as_str())).collect())
            .unwrap_or_default();
        let id = match ids.as_slice() {
            [] => return Ok(format!("SCIM: no user {} at the service; nothing to do", event.login)),
            [one] => *one,
            _ => return Err(format!("SCIM: {} users named {} at the service", ids.len(), event.login)),
        };
        let user = format!("{base}/Users/{}", utf8_percent(id));
        let resp = if event.event == "account.forget" {
            self.client.delete(&user).bearer_auth(&token).header("x-propusk-delivery", delivery(event)).send().await
        } else {
            let patch = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}],
            });
            self.client
                .patch(&user)
                .bearer_auth(&token)
                .header("content-type", SCIM_JSON)
                .header("accept", SCIM_JSON)
                .header("x-propusk-delivery", delivery(event))
                .body(patch.to_string())
                .send()
                .await
        }
        .map_err(|e| format!("SCIM {}: {e}", event.event))?;
        let status = resp.status();
        let text = answer(resp).await;
        match (event.event, status.as_u16()) {
            (_, 200..=299) => Ok(format!("SCIM {} of user {id} answered {status}", scim_action(event))),
            ("account.forget", 404) => Ok(format!("SCIM user {id} already gone")),
            _ => Err(format!("SCIM {} answered {status}: {text}", scim_action(event))),
        }
    }
}

/// The same for every attempt of one step: a receiver that sees it twice (a retry after
/// a lost answer) can tell.
fn delivery(event: &DeprovisionEvent) -> String {
    format!("{}/{}", event.case_id, event.event)
}

fn scim_action(event: &DeprovisionEvent) -> &'static str {
    if event.event == "account.forget" { "DELETE" } else { "PATCH active=false" }
}

/// The first 200 characters of an answer, for the evidence or the error.
async fn answer(resp: reqwest::Response) -> String {
    resp.text().await.map(|t| t.chars().take(200).collect()).unwrap_or_default()
}

async fn read_secret(path: &Path) -> Result<String, String> {
    let s = tokio::fs::read_to_string(path).await.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let s = s.trim().to_owned();
    if s.is_empty() { Err(format!("{} is empty", path.display())) } else { Ok(s) }
}

/// Percent-encodes everything but unreserved characters (a SCIM id goes into a path).
fn utf8_percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[async_trait]
impl Connector for HttpConnector {
    async fn call(&self, target: &Deprovision, event: &DeprovisionEvent) -> Result<String, String> {
        match target {
            Deprovision::Webhook { url, secret_file, .. } => self.webhook(url, secret_file, event).await,
            Deprovision::Scim { url, token_file, .. } => self.scim(url, token_file, event).await,
            Deprovision::Manual { .. } => Err("a manual task is not called".into()),
        }
    }
}
