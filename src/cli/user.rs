//! `propusk user …` and `propusk journal …`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{fail, json};
use crate::app::{Actor, App, IssuedCredential};
use crate::config::Config;
use crate::domain::account::{Account, AccountStatus, NewAccount, Role, Roles};
use crate::domain::journal::{Channel, JournalEntry};
use crate::ports::AccountFilter;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Register a person and issue an initial password (printed once, journaled).
    Add(AddArgs),
    /// List accounts.
    List(ListArgs),
    /// Show one account with its credential journal.
    Show {
        login: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace an account's roles (comma-separated).
    SetRoles {
        login: String,
        roles: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new password (printed once, journaled); ends the person's sessions.
    ResetPassword {
        login: String,
        #[arg(long, default_value = "cli", value_parser = parse_channel)]
        channel: Channel,
        #[arg(long)]
        json: bool,
    },
    /// Suspend an account; its sessions end at once.
    Suspend {
        login: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an account's second factor (D-5): its sessions end and the person enrols
    /// again at the next sign-in; journaled in the audit log with the reason.
    ResetSecondFactor {
        login: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Make an account usable again.
    Activate {
        login: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Lift every lock of an account (after failed sign-ins), journaled.
    Unlock {
        login: String,
        #[arg(long)]
        json: bool,
    },
    /// Restore a compromised or locked account: new password and lock code.
    Restore {
        login: String,
        #[arg(long, default_value = "cli", value_parser = parse_channel)]
        channel: Channel,
        #[arg(long)]
        json: bool,
    },
    /// Cut a person off from one resource without blocking the account, journaled.
    Restrict(super::policy::RestrictArgs),
    /// Lift a restriction, journaled.
    Unrestrict(super::policy::UnrestrictArgs),
    /// The security officers' queue: spraying, locks, compromise reports, restorations.
    Events {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AddArgs {
    login: String,
    /// Full name, e.g. "Иванов Иван Иванович".
    #[arg(long)]
    name: String,
    /// Repeat for several roles.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    roles: Vec<Role>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    group: Option<String>,
    #[arg(long)]
    department: Option<String>,
    /// Student-register or personnel number.
    #[arg(long)]
    external_id: Option<String>,
    /// How the password will reach the person: cli, in_person or slip.
    #[arg(long, default_value = "cli", value_parser = parse_channel)]
    channel: Channel,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long, value_parser = parse_role)]
    role: Option<Role>,
    #[arg(long, value_parser = parse_status)]
    status: Option<AccountStatus>,
    #[arg(long)]
    group: Option<String>,
    /// Part of a login or name.
    #[arg(long)]
    search: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[arg(long, default_value_t = 0)]
    offset: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Entries of the credential journal, newest first.
    List {
        #[arg(long)]
        login: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: crate::domain::account::UnknownRole| e.to_string())
}

fn parse_status(s: &str) -> Result<AccountStatus, String> {
    s.parse().map_err(|e: crate::domain::account::UnknownStatus| e.to_string())
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    match Channel::parse(s) {
        Some(Channel::Console) | None => Err("expected cli, in_person or slip".into()),
        Some(c) => Ok(c),
    }
}

/// The operating-system user running the command, as the journal's issuer.
pub(super) fn actor() -> Actor {
    let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
    Actor { name: format!("os:{user}"), ip: None }
}

pub(super) async fn open(config: &Config) -> Result<App, ExitCode> {
    let issuer = crate::server::default_issuer(config, config.listen);
    crate::server::build_app(config, issuer).await.map(|(app, _)| app).map_err(|e| {
        eprintln!("propusk: {e:#}");
        ExitCode::from(5)
    })
}

pub async fn run_user(config: &Config, cmd: UserCommand) -> ExitCode {
    let app = match open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let actor = actor();
    match cmd {
        UserCommand::Add(a) => {
            let new = NewAccount {
                login: a.login,
                full_name: a.name,
                email: a.email,
                roles: a.roles,
                study_group: a.group,
                department: a.department,
                external_id: a.external_id,
            };
            match app.add_user(&actor, new, a.channel).await {
                Ok(issued) => print_issued("Account created", &issued, a.json),
                Err(e) => fail(&e),
            }
        }
        UserCommand::List(l) => {
            let filter = AccountFilter {
                role: l.role,
                status: l.status,
                study_group: l.group,
                text: l.search,
                limit: l.limit.min(10_000),
                offset: l.offset,
            };
            match app.list_users(&filter).await {
                Ok(list) if l.json => json(&list),
                Ok(list) => {
                    println!("{:<24} {:<12} {:<28} {:<10} NAME", "LOGIN", "STATUS", "ROLES", "GROUP");
                    for a in &list {
                        println!(
                            "{:<24} {:<12} {:<28} {:<10} {}",
                            a.login,
                            a.status,
                            a.roles.to_csv(),
                            a.study_group.as_deref().unwrap_or("-"),
                            a.full_name
                        );
                    }
                    println!("({} accounts)", list.len());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        UserCommand::Show { login, json: as_json } => match app.user_details(&login).await {
            Ok(d) if as_json => json(&d),
            Ok(d) => {
                print_account(&d.account);
                println!("live sessions:  {}", d.live_sessions);
                if let Some(last) = d.sign_ins.iter().find(|r| !r.outcome.is_failure()) {
                    println!("last sign-in:   {} from {}", last.at.to_human(), last.ip.as_deref().unwrap_or("?"));
                }
                println!("credential journal:");
                print_journal(&d.journal);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        UserCommand::SetRoles { login, roles, json: as_json } => {
            let roles = match Roles::parse_csv(&roles) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("propusk: {e}");
                    return ExitCode::from(2);
                }
            };
            done(app.set_roles(&actor, &login, roles).await, as_json, "Roles set")
        }
        UserCommand::ResetPassword { login, channel, json: as_json } => {
            match app.reset_password(&actor, &login, channel).await {
                Ok(issued) => print_issued("Password reset", &issued, as_json),
                Err(e) => fail(&e),
            }
        }
        UserCommand::Suspend { login, reason, json: as_json } => {
            done(app.suspend(&actor, &login, &reason).await, as_json, "Suspended")
        }
        UserCommand::ResetSecondFactor { login, reason, json: as_json } => {
            match app.reset_second_factor(&actor, &login, &reason).await {
                Ok(()) if as_json => json(&serde_json::json!({ "login": login, "second_factor": "reset" })),
                Ok(()) => {
                    println!(
                        "Second factor reset: {login} enrols again at the next sign-in; their sessions have ended."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        UserCommand::Activate { login, reason, json: as_json } => {
            done(app.activate(&actor, &login, &reason).await, as_json, "Activated")
        }
        UserCommand::Restrict(a) => super::policy::restrict(&app, &actor, a).await,
        UserCommand::Unrestrict(a) => super::policy::unrestrict(&app, &actor, a).await,
        UserCommand::Unlock { login, json: as_json } => done(app.unlock(&actor, &login).await, as_json, "Unlocked"),
        UserCommand::Restore { login, channel, json: as_json } => match app.restore(&actor, &login, channel).await {
            Ok(issued) => print_issued("Restored", &issued, as_json),
            Err(e) => fail(&e),
        },
        UserCommand::Events { limit, json: as_json } => match app.security_events(limit.min(10_000)).await {
            Ok(events) if as_json => json(&events),
            Ok(events) => {
                println!("{:>5} {:<21} {:<11} {:<38} {:<20} DETAIL", "SEQ", "TIME", "KIND", "ACCOUNT", "NETWORK");
                for e in &events {
                    println!(
                        "{:>5} {:<21} {:<11} {:<38} {:<20} {}",
                        e.seq,
                        e.at.to_human(),
                        e.kind,
                        e.account_id.as_ref().map_or("-", |a| a.as_str()),
                        e.network.as_deref().unwrap_or("-"),
                        e.detail
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

pub async fn run_journal(config: &Config, cmd: JournalCommand) -> ExitCode {
    let app = match open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let JournalCommand::List { login, limit, json: as_json } = cmd;
    match app.list_journal(login.as_deref(), limit.min(10_000)).await {
        Ok(entries) if as_json => json(&entries),
        Ok(entries) => {
            print_journal(&entries);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn done(r: Result<Account, crate::app::AppError>, as_json: bool, what: &str) -> ExitCode {
    match r {
        Ok(a) if as_json => json(&a),
        Ok(a) => {
            println!("{what}: {}", a.login);
            print_account(&a);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn print_issued(what: &str, i: &IssuedCredential, as_json: bool) -> ExitCode {
    if as_json {
        return json(&serde_json::json!({
            "account": i.account,
            "password": i.password.expose(),
            "lock_code": i.lock_code,
            "journal": i.issue,
        }));
    }
    println!("{what}: {} ({})", i.account.login, i.account.full_name);
    println!("Password (shown once): {}", i.password.expose());
    println!("Lock code (shown once, only blocks the account if it is compromised): {}", i.lock_code);
    println!("It must be changed at first sign-in and stops working at {} if unused.", i.issue.expires_at.to_human());
    println!("Journal: issued by {}, channel {}.", i.issue.issued_by, i.issue.channel.as_str());
    ExitCode::SUCCESS
}

fn print_account(a: &Account) {
    println!("login:          {}", a.login);
    println!("id:             {}", a.id);
    println!("name:           {}", a.full_name);
    println!("email:          {}", a.email.as_deref().unwrap_or("-"));
    println!("roles:          {}", a.roles.to_csv());
    println!("group:          {}", a.study_group.as_deref().unwrap_or("-"));
    println!("department:     {}", a.department.as_deref().unwrap_or("-"));
    println!("external id:    {}", a.external_id.as_deref().unwrap_or("-"));
    println!("status:         {}", a.status);
    println!("must change pw: {}", if a.password_must_change { "yes" } else { "no" });
    println!("created:        {}", a.created_at.to_human());
}

fn print_journal(entries: &[JournalEntry]) {
    println!("{:>5} {:<21} {:<20} {:<10} {:<10} {:<16} RECEIVED", "SEQ", "ISSUED", "TO", "KIND", "CHANNEL", "BY");
    for e in entries {
        println!(
            "{:>5} {:<21} {:<20} {:<10} {:<10} {:<16} {}",
            e.seq,
            e.issue.issued_at.to_human(),
            e.issue.subject_login,
            e.issue.kind.as_str(),
            e.issue.channel.as_str(),
            e.issue.issued_by,
            e.received_at.map_or_else(|| "-".to_owned(), |t| t.to_human())
        );
    }
}
