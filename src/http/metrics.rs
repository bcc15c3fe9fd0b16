//! Metrics over HTTP: the middleware that counts every answered request by its route
//! template, and the separate plain-HTTP listener that serves `/metrics` (never the
//! public listener, where `/metrics` is an unknown page).
//!
//! No business rule and no SQL here: counts come from [`crate::metrics::METRICS`], store
//! values from [`App::store_gauges`], cached for two seconds so frequent scrapes do not
//! load the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;

use crate::app::App;
use crate::metrics::METRICS;
use crate::ports::metrics::StoreGauges;

/// The content type of the text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long values read from the store are reused between scrapes.
const STORE_CACHE: Duration = Duration::from_secs(2);
/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// The outer layer: times every request and counts it under its route template, which
/// [`mark_route`] leaves on the response (a request that matched no route has none).
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let resp = next.run(req).await;
    let route = resp.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str);
    METRICS.http.observe(route, resp.status().as_u16(), started.elapsed());
    resp
}

/// The route layer: hands the matched route's template (not the path, which may carry a
/// login or a code) to [`track`] on the response. Clones an `Arc`, allocates nothing.
pub async fn mark_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(m) = matched {
        resp.extensions_mut().insert(m);
    }
    resp
}

struct Scrape {
    app: App,
    cached: tokio::sync::Mutex<Option<(Instant, StoreGauges)>>,
}

impl Scrape {
    /// The store's values, read at most once per [`STORE_CACHE`]; `None` if the store
    /// does not answer (shown as `propusk_store_up 0`).
    async fn gauges(&self) -> Option<StoreGauges> {
        let mut cached = self.cached.lock().await;
        if let Some((at, g)) = *cached {
            if at.elapsed() < STORE_CACHE {
                return Some(g);
            }
        }
        match self.app.store_gauges().await {
            Ok(g) => {
                *cached = Some((Instant::now(), g));
                Some(g)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store's counts could not be read");
                None
            }
        }
    }
}

/// The metrics listener's router: `GET /metrics`, and 404 for anything else.
pub fn router(app: App) -> Router {
    let state = Arc::new(Scrape { app, cached: tokio::sync::Mutex::new(None) });
    Router::new().route("/metrics", get(scrape)).fallback(|| async { StatusCode::NOT_FOUND }).with_state(state)
}

async fn scrape(State(s): State<Arc<Scrape>>) -> Response {
    let gauges = s.gauges().await;
    let mut resp = METRICS.render(gauges.as_ref()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Serves the metrics on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, app: App) {
    if let Err(e) = axum::serve(listener, router(app)).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}
