//! The command line: `serve`, and the administrators' commands, each a call into `app`
//! on the same store the server uses.
//!
//! Output is for people by default and JSON with `--json`. Exit codes: 0 done, 1 error,
//! 2 bad usage, 3 not found, 4 already exists or not allowed, 5 store unavailable, 6 a report
//! found violations (or an import found bad rows).

mod audit;
mod backup;
mod client;
mod lifecycle;
mod policy;
mod rules;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::AppError;
use crate::config::Config;

#[derive(Parser)]
#[command(name = "propusk", version, about = "Single sign-on gateway for a college's learning environment")]
pub struct Cli {
    /// Configuration file (TOML); every key can also be set by a PROPUSK_… variable.
    #[arg(long, global = true, env = "PROPUSK_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Manage accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// The credential journal.
    #[command(subcommand)]
    Journal(user::JournalCommand),
    /// OpenID Connect clients (connected services).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// OpenID Connect signing keys.
    #[command(subcommand)]
    Keys(client::KeysCommand),
    /// The role policies and resource catalogue: check, explain.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Register imports (R-6, D-9).
    #[command(subcommand)]
    Roster(lifecycle::RosterCommand),
    /// Deprovisioning: the scheduler, cases and manual tasks.
    #[command(subcommand)]
    Lifecycle(lifecycle::LifecycleCommand),
    /// Compliance reports.
    #[command(subcommand)]
    Report(lifecycle::ReportCommand),
    /// The rules of the environment that people accept.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// The audit log and credential journal: verify their chains, export, prune (R-22, D-10).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Back up the embedded SQLite store and the master key into one file while the server runs.
    Backup(backup::BackupArgs),
    /// Restore a backup made by `propusk backup` (the server stopped).
    Restore(backup::RestoreArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("propusk: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("propusk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve => {
            crate::telemetry::init(config.log_format, &config.log_level);
            let result = runtime.block_on(crate::server::serve(
                config,
                |addr, scheme| println!("propusk: listening on {scheme}://{addr}"),
                crate::server::shutdown_signal(),
            ));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("propusk: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::User(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(user::run_user(&config, cmd))
        }
        Command::Journal(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(user::run_journal(&config, cmd))
        }
        Command::Client(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(async {
                match user::open(&config).await {
                    Ok(app) => client::run_client(&app, &user::actor(), cmd).await,
                    Err(code) => code,
                }
            })
        }
        Command::Keys(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(client::run_keys(&config, cmd))
        }
        Command::Policy(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(policy::run_policy(&config, cmd))
        }
        Command::Roster(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(lifecycle::run_roster(&config, cmd))
        }
        Command::Lifecycle(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(lifecycle::run_lifecycle(&config, cmd))
        }
        Command::Backup(args) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(backup::run_backup(&config, args))
        }
        Command::Restore(args) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(backup::run_restore(&config, args))
        }
        Command::Audit(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(audit::run_audit(&config, cmd))
        }
        Command::Report(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(lifecycle::run_report(&config, cmd))
        }
        Command::Rules(cmd) => {
            crate::telemetry::init(config.log_format, "warn");
            runtime.block_on(rules::run_rules(&config, cmd))
        }
    }
}

/// Prints an error for a person and gives its exit code.
fn fail(e: &AppError) -> ExitCode {
    let (code, msg) = match e {
        AppError::NotFound(what) => (3, format!("{what} not found")),
        AppError::Conflict(what) => (4, format!("{what} already exists")),
        AppError::Profile(p) => (2, p.to_string()),
        AppError::Client(p) => (2, p.to_string()),
        AppError::BadLogoutRequest => (2, e.to_string()),
        AppError::Invalid(why) => (2, why.clone()),
        AppError::PasswordRejected(p) => (2, p.to_string()),
        AppError::Unavailable(why) => (5, format!("the account store is unavailable: {why}")),
        AppError::DirectoryUnavailable(why) => (5, format!("the directory is unavailable: {why}")),
        AppError::Busy | AppError::TooManyAttempts(_) => (5, e.to_string()),
        AppError::InvalidCredentials
        | AppError::AccountDisabled(_)
        | AppError::IssuedPasswordExpired
        | AppError::DirectoryPasswordExpired
        | AppError::WrongCurrentPassword
        | AppError::Forbidden => (4, e.to_string()),
        AppError::Internal(why) => (1, format!("internal error: {why}")),
    };
    eprintln!("propusk: {msg}");
    ExitCode::from(code)
}

/// Prints a value as pretty JSON for scripts.
fn json(v: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("propusk: {e}");
            ExitCode::FAILURE
        }
    }
}
