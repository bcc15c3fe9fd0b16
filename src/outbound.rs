//! Outbound HTTP: delivering back-channel logout tokens to clients.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::LogoutSender;

pub struct HttpLogoutSender {
    client: reqwest::Client,
}

impl HttpLogoutSender {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("propusk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl LogoutSender for HttpLogoutSender {
    async fn send(&self, uri: &str, logout_token: &str) -> Result<(), String> {
        let resp = self
            .client
            .post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cache-control", "no-store")
            .body(format!("logout_token={logout_token}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() { Ok(()) } else { Err(format!("answered {}", resp.status())) }
    }
}
