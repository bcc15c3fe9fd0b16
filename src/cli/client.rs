//! `propusk client …` (OpenID Connect relying parties) and `propusk keys …`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::fail;
use crate::app::oidc::{ClientSpec, NewClientSecret};
use crate::app::{Actor, App};
use crate::config::Config;
use crate::domain::account::Roles;
use crate::domain::oidc::{Client, ClientKind, SigningAlg};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Add(AddArgs),
    /// List the registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret (printed once); the old one stops working at once.
    RotateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a client.
    Remove { id: String },
}

#[derive(Args)]
pub struct AddArgs {
    /// The client id, e.g. moodle.
    id: String,
    #[arg(long)]
    name: String,
    /// Repeat for several; exact match is required at sign-in.
    #[arg(long = "redirect-uri", required = true)]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// A browser or native app without a secret (PKCE is then required).
    #[arg(long)]
    public: bool,
    #[arg(long, default_value = "openid profile email roles groups")]
    scopes: String,
    /// Roles allowed to use it (comma-separated); empty: every role.
    #[arg(long, default_value = "")]
    roles: String,
    #[arg(long, default_value = "RS256", value_parser = parse_alg)]
    id_token_alg: SigningAlg,
    #[arg(long, default_value_t = 600)]
    access_token_seconds: u64,
    #[arg(long, default_value_t = 30 * 86_400)]
    refresh_token_seconds: u64,
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create new signing keys: published now, signing after keys.publish_ahead_minutes
    /// (or with --now, when a key may have leaked, as soon as every node publishes them).
    Rotate {
        #[arg(long)]
        now: bool,
    },
    /// Show the published keys (the JWKS).
    List,
}

fn parse_alg(s: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(s).ok_or_else(|| "expected RS256 or ES256".into())
}

pub async fn run_client(app: &App, actor: &Actor, cmd: ClientCommand) -> ExitCode {
    match cmd {
        ClientCommand::Add(a) => {
            let roles = match Roles::parse_csv(&a.roles) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("propusk: {e}");
                    return ExitCode::from(2);
                }
            };
            let spec = ClientSpec {
                id: a.id,
                name: a.name,
                kind: if a.public { ClientKind::Public } else { ClientKind::Confidential },
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                scopes: a.scopes,
                allowed_roles: roles,
                id_token_alg: a.id_token_alg,
                access_token_ttl: Duration::from_secs(a.access_token_seconds),
                refresh_token_ttl: Duration::from_secs(a.refresh_token_seconds),
                backchannel_logout_uri: a.backchannel_logout_uri,
            };
            match app.add_client(actor, spec).await {
                Ok(n) => print_secret("Client registered", &n, a.json),
                Err(e) => fail(&e),
            }
        }
        ClientCommand::List { json } => match app.list_clients().await {
            Ok(list) if json => super::json(&list),
            Ok(list) => {
                println!("{:<24} {:<13} {:<7} NAME", "CLIENT ID", "KIND", "ALG");
                for c in &list {
                    let kind = if c.kind == ClientKind::Public { "public" } else { "confidential" };
                    println!("{:<24} {:<13} {:<7} {}", c.id, kind, c.id_token_alg.as_str(), c.name);
                }
                println!("({} clients)", list.len());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        ClientCommand::Show { id, json } => match app.client(&id).await {
            Ok(c) if json => super::json(&c),
            Ok(c) => {
                print_client(&c);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        ClientCommand::RotateSecret { id, json } => match app.rotate_client_secret(actor, &id).await {
            Ok(n) => print_secret("New secret", &n, json),
            Err(e) => fail(&e),
        },
        ClientCommand::Remove { id } => match app.remove_client(actor, &id).await {
            Ok(()) => {
                println!("Client removed: {id}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

pub async fn run_keys(config: &Config, cmd: KeysCommand) -> ExitCode {
    let issuer = crate::server::default_issuer(config, config.listen);
    let (app, keys) = match crate::server::build_app(config, issuer).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("propusk: {e:#}");
            return ExitCode::from(5);
        }
    };
    match cmd {
        KeysCommand::Rotate { now } => {
            let ahead = if now { Duration::ZERO } else { config.keys.publish_ahead };
            match keys.rotate(app.store.as_ref(), ahead).await {
                Ok(kids) => {
                    println!("New signing keys: {}", kids.join(", "));
                    // A node signs with a key only once every node publishes it (keys.rs).
                    let settle = crate::keys::SETTLE.as_secs();
                    println!(
                        "Every node publishes them within {} s and signs with them from {} on (at the \
                         earliest {settle} s after it first read them); the old keys stay published until \
                         their tokens expire.",
                        crate::keys::REFRESH.as_secs(),
                        app.clock.now().saturating_add(ahead).to_human()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("propusk: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        KeysCommand::List => {
            let jwks = crate::ports::TokenSigner::jwks(keys.as_ref());
            match serde_json::from_str::<serde_json::Value>(&jwks) {
                Ok(doc) => super::json(&doc),
                Err(e) => {
                    eprintln!("propusk: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn print_secret(what: &str, n: &NewClientSecret, as_json: bool) -> ExitCode {
    if as_json {
        return super::json(&serde_json::json!({ "client": n.client, "client_secret": n.secret }));
    }
    println!("{what}: {}", n.client.id);
    if let Some(s) = &n.secret {
        println!("Client secret (shown once): {s}");
    }
    print_client(&n.client);
    ExitCode::SUCCESS
}

fn print_client(c: &Client) {
    println!("client id:      {}", c.id);
    println!("name:           {}", c.name);
    println!("kind:           {}", if c.kind == ClientKind::Public { "public (PKCE)" } else { "confidential" });
    println!("redirect URIs:  {}", c.redirect_uris.join(" "));
    println!("logout URIs:    {}", c.post_logout_redirect_uris.join(" "));
    println!("scopes:         {}", c.scopes.to_space_separated());
    println!("roles:          {}", if c.allowed_roles.is_empty() { "all".into() } else { c.allowed_roles.to_csv() });
    println!("ID token alg:   {}", c.id_token_alg.as_str());
    println!("token lifetime: access {} s, refresh {} s", c.access_token_ttl.as_secs(), c.refresh_token_ttl.as_secs());
    println!("back-channel:   {}", c.backchannel_logout_uri.as_deref().unwrap_or("-"));
}
