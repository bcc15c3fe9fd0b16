//! The one place that wires concrete parts together: configuration, store, hasher,
//! clock, signing keys, TLS and the HTTP router; and the server's life from bind to
//! graceful shutdown, with its background work (key refresh and rotation, back-channel
//! logout delivery).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum_server::tls_rustls::RustlsConfig;

use crate::app::{Actor, App, IssuedCredential, Parts, PolicySet};
use crate::clock::DatabaseClock;
use crate::config::{Config, TlsMode};
use crate::hash::Argon2Pool;
use crate::http::{AppState, router};
use crate::keys::{KeyRing, MasterKey};
use crate::policy::Policies;
use crate::tls;

/// How long in-flight requests may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// Opens the store and keys and builds the use cases over them; also returns the key
/// ring for the background tasks that refresh and rotate it.
pub async fn build_app(config: &Config, issuer: String) -> anyhow::Result<(App, Arc<KeyRing>)> {
    build(config, issuer).await.map(|(app, keys, _)| (app, keys))
}

/// [`build_app`], with the clock, which the server reads from the database again every minute.
async fn build(config: &Config, issuer: String) -> anyhow::Result<(App, Arc<KeyRing>, Arc<DatabaseClock>)> {
    let store = crate::store::open(&config.store_url.0)
        .await
        .with_context(|| format!("cannot open the store {:?} (store.url)", config.store_url))?;
    let hasher = Argon2Pool::with_suspect_budget(
        config.hash,
        config.hash_workers,
        config.hash_queue,
        config.suspect_hashes_per_second,
    )
    .context("invalid argon2 parameters (passwords.*)")?;
    crate::metrics::METRICS.watch_hash_pool(Box::new(hasher.load()));
    let policies = load_policies(&config.policies_dir)?;
    let master = MasterKey::load_or_create(&config.master_key_file).context("keys.master_key_file")?;
    let sealer = MasterKey::load_or_create(&config.master_key_file).context("keys.master_key_file")?;
    // Before anything asks the time: every node takes the database's (`clock.rs`).
    let clock = Arc::new(DatabaseClock::default());
    clock.sync_and_report(store.as_ref()).await.context("cannot read the database's clock")?;
    let keys = Arc::new(
        KeyRing::open(store.as_ref(), master, config.keys, clock.clone()).await.context("cannot load signing keys")?,
    );
    let app = App::new(Parts {
        store,
        hasher: Arc::new(hasher),
        clock: clock.clone(),
        signer: keys.clone(),
        directory: crate::directory::open(config.directory.ldap.clone()).context("directory")?,
        connector: Arc::new(crate::connectors::HttpConnector::new().context("cannot build the HTTP client")?),
        lifecycle: config.lifecycle.settings.clone(),
        issuer,
        settings: config.settings,
        policies: Arc::new(PolicySet::new(policies)),
        sealer: Arc::new(sealer),
    });
    Ok((app, keys, clock))
}

/// Loads and checks the policy directory (`policies.dir`); the error lists every problem
/// with its file and line.
pub fn load_policies(dir: &std::path::Path) -> anyhow::Result<Policies> {
    let policies = Policies::load(dir)
        .with_context(|| format!("the policies in {} are not valid (policies.dir)", dir.display()))?;
    for w in policies.warnings() {
        tracing::warn!(warning = %w, "policy warning");
    }
    Ok(policies)
}

/// The issuer when no public URL is configured: the listening address.
pub fn default_issuer(config: &Config, addr: SocketAddr) -> String {
    config.public_url.clone().unwrap_or_else(|| {
        let scheme = if config.tls == TlsMode::Off { "http" } else { "https" };
        format!("{scheme}://{addr}")
    })
}

/// Runs the server until `shutdown` completes, then stops accepting, lets requests in
/// flight finish (up to 10 s) and returns. `on_listen` learns the bound address.
pub async fn serve(
    config: Config,
    on_listen: impl FnOnce(SocketAddr, &'static str),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {} (server.listen)", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} for metrics (metrics.listen)"))?,
        ),
        None => None,
    };
    let (app, keys, clock) = build(&config, default_issuer(&config, addr)).await?;
    let declared: Vec<_> = config.clients.iter().map(|c| (c.spec.clone(), c.secret_hash.clone())).collect();
    let changed =
        app.sync_declared_clients(&declared).await.context("cannot register the declared clients ([[client]])")?;
    if changed > 0 {
        tracing::info!(changed, "declared clients registered");
    }
    if let Some(issued) = app.bootstrap_admin().await.context("cannot create the first administrator")? {
        print_bootstrap(&issued);
    }
    app.record_policies_in_force(&Actor::system()).await.context("cannot write the audit log")?;
    publish_default_rules(&app, &config.policies_dir).await?;
    let limits = Arc::new(crate::http::limit::Limits::new(&config.rate_limits));
    let background = spawn_background(app.clone(), keys, clock, limits.clone())?;
    let mailer = spawn_mail(app.clone(), config.mail.clone())?;
    let directory_worker = tokio::spawn(app.clone().directory_worker(config.directory.sync_interval));
    let reloader = tokio::spawn(watch_policies(app.clone(), config.policies_dir.clone()));
    let scheduler = config.lifecycle.scheduler_interval.map(|every| tokio::spawn(run_scheduler(app.clone(), every)));
    let retention = tokio::spawn(run_retention(app.clone(), config.audit.retention));
    let inspectors = tokio::spawn(expire_inspectors(app.clone()));
    let metrics = match metrics_listener {
        Some(l) => {
            let at = l.local_addr()?;
            println!("propusk: metrics on http://{at}/metrics");
            tracing::info!(%at, "serving metrics (plain HTTP)");
            if !at.ip().is_loopback() {
                tracing::warn!(%at, "the metrics listener is not on loopback: it asks for no sign-in, keep it on a management network");
            }
            Some(tokio::spawn(crate::http::metrics::serve(l, app.clone())))
        }
        None => None,
    };
    let state = AppState {
        app: Arc::new(app),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        limits,
        console_clients: Arc::new(config.console_api_clients.clone()),
    };
    let service = router(state)
        .layer(axum::middleware::from_fn_with_state(config.body_timeout, crate::http::read_body_within))
        .into_make_service_with_connect_info::<SocketAddr>();

    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        h.graceful_shutdown(Some(GRACE));
    });

    match &config.tls {
        TlsMode::Off => {
            on_listen(addr, "http");
            tracing::info!(%addr, "listening (plain HTTP, TLS terminated by a proxy)");
            with_timeouts(axum_server::from_tcp(listener), &config).handle(handle).serve(service).await?;
        }
        mode => {
            let (cert, key) = match mode {
                TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
                TlsMode::Development { dir } => {
                    let dev = tls::ensure_dev_cert(dir)?;
                    if dev.created {
                        tracing::warn!(ca = %dev.ca.display(), "generated a development certificate; configure tls.cert_file and tls.key_file for production");
                    }
                    (dev.cert, dev.key)
                }
                TlsMode::Off => unreachable!("handled above"),
            };
            let tls = RustlsConfig::from_pem_file(&cert, &key).await.with_context(|| {
                format!("cannot load TLS certificate {} and key (tls.cert_file, tls.key_file)", cert.display())
            })?;
            on_listen(addr, "https");
            tracing::info!(%addr, "listening (HTTPS)");
            with_timeouts(axum_server::from_tcp_rustls(listener, tls), &config).handle(handle).serve(service).await?;
        }
    }
    background.abort();
    mailer.abort();
    directory_worker.abort();
    reloader.abort();
    if let Some(s) = scheduler {
        s.abort();
    }
    retention.abort();
    inspectors.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// A client must send a request's headers within `server.header_timeout_seconds` (a
/// slow-request attack otherwise holds connections open one byte at a time); the body
/// has its own limit, [`crate::http::read_body_within`]. TLS handshakes time out after
/// 10 s (axum-server's default).
fn with_timeouts<A>(mut server: axum_server::Server<A>, config: &Config) -> axum_server::Server<A> {
    let timer = hyper_util::rt::TokioTimer::new;
    let builder = server.http_builder();
    builder.http1().timer(timer()).header_read_timeout(config.header_timeout);
    builder.http2().timer(timer()).keep_alive_interval(config.header_timeout).keep_alive_timeout(config.header_timeout);
    server
}

/// The signing keys re-read every [`keys::REFRESH`](crate::keys::REFRESH) (another node
/// may have rotated them) and rotated when due, the database's clock read again every
/// [`clock::RESYNC`](crate::clock::RESYNC), and back-channel logout delivery every second.
fn spawn_background(
    app: App,
    keys: Arc<KeyRing>,
    clock: Arc<DatabaseClock>,
    limits: Arc<crate::http::limit::Limits>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sender = crate::outbound::HttpLogoutSender::new().context("cannot build the HTTP client")?;
    let refresh = crate::keys::REFRESH.as_secs().max(1);
    let resync = crate::clock::RESYNC.as_secs().max(1);
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n: u64 = 0;
        // Warned once when the store stops answering, not at every refresh.
        let mut keys_failing = false;
        loop {
            tick.tick().await;
            n += 1;
            let store = app.store.as_ref();
            if n % resync == 0 {
                limits.housekeeping();
                if let Err(e) = clock.sync_and_report(store).await {
                    tracing::warn!(error = %e, "the database's clock could not be read; the last reading goes on");
                }
                if let Err(e) = keys.rotate_if_due(store).await {
                    tracing::warn!(error = %e, "signing keys not rotated");
                }
            }
            if n % refresh == 0 {
                match keys.refresh(store).await {
                    Ok(()) if keys_failing => {
                        keys_failing = false;
                        tracing::info!("signing keys read again");
                    }
                    Ok(()) => {}
                    Err(e) if !keys_failing => {
                        keys_failing = true;
                        tracing::warn!(error = %e, "signing keys not refreshed");
                    }
                    Err(_) => {}
                }
            }
            if let Err(e) = app.deliver_logouts(&sender).await {
                tracing::warn!(error = %e, "back-channel logout delivery failed");
            }
        }
    }))
}

/// The outbound mail worker: every second, sends what the queue in the store
/// holds, apart from the requests that queued it. Without a mail server (`mail.host`
/// empty) messages are closed as not sent, with the reason.
fn spawn_mail(app: App, mail: Option<crate::config::MailConfig>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sender = mail.as_ref().map(crate::mail::SmtpMailer::new).transpose().map_err(anyhow::Error::msg)?;
    let officers = mail.map(|m| m.security_officers).unwrap_or_default();
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sender = sender.as_ref().map(|s| s as &dyn crate::ports::protection::MailSender);
            if let Err(e) = app.deliver_mail(sender, &officers).await {
                tracing::warn!(error = %e, "mail queue not processed");
            }
        }
    }))
}

/// Runs the deprovisioning scheduler every `every`. Each step is its own
/// transaction, so stopping the task between two awaits loses nothing.
async fn run_scheduler(app: App, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app.run_lifecycle().await {
            Ok(r) if r.steps_done + r.steps_failed + r.cases_closed > 0 => {
                tracing::info!(done = r.steps_done, failed = r.steps_failed, closed = r.cases_closed, "deprovisioning");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the deprovisioning scheduler could not run"),
        }
    }
}

/// Ends inspectors' accounts whose time is up (D-11), every minute on every node (the
/// second node to reach one finds it ended).
async fn expire_inspectors(app: App) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app.expire_inspectors().await {
            Ok(n) if n > 0 => tracing::info!(ended = n, "inspectors' accounts ended"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "inspectors' accounts could not be checked"),
        }
    }
}

/// The audit log's retention (D-10): once a day, starting a minute after start, the
/// entries older than `audit.retention_days` go, the chain kept verifiable by its anchor.
/// Several nodes may run it: the second finds nothing left to remove.
async fn run_retention(app: App, retention: Duration) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(86_400));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app.prune_audit(&Actor::system(), retention).await {
            Ok(r) if r.removed > 0 => {
                tracing::info!(removed = r.removed, through_seq = r.through_seq, "audit retention")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the audit retention prune could not run"),
        }
    }
}

/// How often the policy directory is compared with the version in force.
const POLICY_POLL: Duration = Duration::from_secs(2);

/// Reloads the policy directory on SIGHUP and when its digest changes (polled every
/// 2 s). An invalid new version is refused with a logged error and the old one stays in
/// force; an accepted one is audited with its digest.
async fn watch_policies(app: App, dir: std::path::PathBuf) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(POLICY_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        let signalled = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        let dir2 = dir.clone();
        let loaded = match tokio::task::spawn_blocking(move || Policies::load(&dir2)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "policy reload task failed");
                continue;
            }
        };
        match loaded {
            Ok(new) => {
                last_error = None;
                let digest = new.digest().to_owned();
                let warnings: Vec<String> = new.warnings().to_vec();
                match app.install_policies(&Actor::system(), new).await {
                    Ok(true) => {
                        for w in &warnings {
                            tracing::warn!(warning = %w, "policy warning");
                        }
                        tracing::info!(%digest, signalled, "policies reloaded");
                    }
                    Ok(false) if signalled => tracing::info!(%digest, "policies unchanged"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "policies not reloaded: the audit log is unavailable"),
                }
            }
            Err(e) => {
                let message = e.to_string();
                if signalled || last_error.as_deref() != Some(message.as_str()) {
                    tracing::error!(error = %message, dir = %dir.display(), "new policies refused; the previous version stays in force");
                    eprintln!("propusk: new policies refused; the previous version stays in force:\n{message}");
                }
                last_error = Some(message);
            }
        }
    }
}

/// The first administrator's password, printed once to the console (not to the log).
fn print_bootstrap(issued: &IssuedCredential) {
    println!("================================================================");
    println!("propusk: first administrator created / создан первый администратор");
    println!("  login:    {}", issued.account.login);
    println!("  password: {}", issued.password.expose());
    println!("This password is shown only once and must be changed at first sign-in.");
    println!("Пароль показан один раз; при первом входе его нужно сменить.");
    println!("It stops working at {} if unused.", issued.issue.expires_at.to_human());
    println!("================================================================");
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// on the first start, the shipped rules of the environment (`rules/ru.md` and its
/// translation `rules/en.md` in the policies directory) become version 1.
async fn publish_default_rules(app: &App, policies_dir: &std::path::Path) -> anyhow::Result<()> {
    if !app.settings.rules.required || app.current_rules().await.context("cannot read the rules")?.is_some() {
        return Ok(());
    }
    let dir = policies_dir.join("rules");
    let ru = std::fs::read_to_string(dir.join("ru.md"))
        .with_context(|| format!("no rules have been published and {} cannot be read", dir.join("ru.md").display()))?;
    let en = std::fs::read_to_string(dir.join("en.md")).ok();
    if let Some(v) = app.publish_default_rules(&ru, en.as_deref()).await.context("cannot publish the rules")? {
        tracing::info!(version = v, "the shipped rules of the environment published");
    }
    Ok(())
}
