//! `propusk roster …`, `propusk lifecycle …` and `propusk report …`: register imports,
//! the deprovisioning scheduler, manual tasks and the compliance reports.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::user::{actor, open};
use super::{fail, json};
use crate::app::{App, ImportOptions, ImportReport, IssuedCredential};
use crate::config::Config;
use crate::roster::{Format, Mapping};

/// Exit code of a report that found violations (for monitoring).
const VIOLATIONS: u8 = 6;

#[derive(Subcommand)]
pub enum RosterCommand {
    /// Import a register or HR file (CSV as 1C writes it, XLSX or JSON).
    Import {
        file: PathBuf,
        /// Print the changes; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The file lists everyone: people missing from it are listed for review.
        #[arg(long)]
        full_snapshot: bool,
        /// Apply nothing if any row is bad.
        #[arg(long)]
        strict: bool,
        /// The column mapping (default: lifecycle.roster_mapping_file for CSV and XLSX;
        /// propusk's own field names for JSON).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// csv, xlsx or json (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// Write new people's credential slips to this file (created, mode 0600) instead
        /// of printing them.
        #[arg(long)]
        slips: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum LifecycleCommand {
    /// Run the deprovisioning steps that are due (for cron; `serve` runs it each minute).
    Run {
        #[arg(long)]
        json: bool,
    },
    /// Deprovisioning cases: the open ones, or all with --all.
    Cases {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Open manual tasks (D-8), the most urgent first.
    Tasks {
        #[arg(long)]
        json: bool,
    },
    /// Mark a manual task done.
    Done {
        case: String,
        step: String,
        /// What was done, for the record.
        #[arg(long)]
        note: String,
    },
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Every deprovisioning case with its deadlines; exits 6 when a deadline was missed.
    Deprovisioning {
        #[arg(long)]
        json: bool,
    },
    /// Accounts and register records that disagree; exits 6 when there is anything.
    Reconcile {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_roster(config: &Config, cmd: RosterCommand) -> ExitCode {
    let RosterCommand::Import { file, dry_run, full_snapshot, strict, mapping, format, slips, json: as_json } = cmd;
    let rows = match read_file(&file, format.as_deref(), mapping.as_deref(), config) {
        Ok(rows) => rows,
        Err(msg) => {
            eprintln!("propusk: {msg}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &slips {
        if path.exists() {
            eprintln!("propusk: {} exists; slips are written to a new file only", path.display());
            return ExitCode::from(2);
        }
    }
    let app = match open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let opts = ImportOptions { dry_run, full_snapshot, strict, source: file.display().to_string() };
    let report = match app.import_roster(&actor(), rows, &opts).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if !report.issued.is_empty() {
        let written = match &slips {
            Some(path) => write_slips(path, &report.issued, &app.issuer),
            None => {
                print_slips(&report.issued, &app.issuer);
                Ok(())
            }
        };
        if let Err(e) = written {
            // The accounts exist; their passwords are lost: they must be issued again.
            eprintln!(
                "propusk: the slips could not be written ({e}); issue the passwords again with `user reset-password`"
            );
            return ExitCode::FAILURE;
        }
    }
    let code = if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(VIOLATIONS) };
    if as_json {
        json(&report);
    } else {
        print_import(&report, dry_run);
    }
    code
}

fn read_file(
    file: &Path,
    format: Option<&str>,
    mapping: Option<&Path>,
    config: &Config,
) -> Result<Vec<Result<crate::domain::roster::RosterRow, crate::domain::roster::RowError>>, String> {
    let format = match format {
        Some(f) => f.parse::<Format>().map_err(|_| format!("--format {f:?}: csv, xlsx or json"))?,
        None => Format::from_path(file)
            .ok_or_else(|| format!("{}: cannot tell the format from the name; use --format", file.display()))?,
    };
    // The configured mapping is for CSV and XLSX exports; JSON uses propusk's own names
    // unless --mapping says otherwise.
    let configured = config.lifecycle.roster_mapping_file.as_deref().filter(|_| !matches!(format, Format::Json));
    let mapping = match mapping.or(configured) {
        Some(m) => Mapping::load(m).map_err(|e| format!("{}: {e}", m.display()))?,
        None => Mapping::default(),
    };
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    crate::roster::read(&bytes, format, &mapping).map_err(|e| format!("{}: {e}", file.display()))
}

fn print_import(r: &ImportReport, dry_run: bool) {
    for c in &r.changes {
        let what = serde_json::to_value(&c.action)
            .ok()
            .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_owned))
            .unwrap_or_default();
        println!("line {:>6}  {:<14} {:<24} {what}", c.line, c.external_id, c.login.as_deref().unwrap_or("-"));
    }
    for e in &r.errors {
        eprintln!("propusk: {e}");
    }
    for m in &r.missing {
        println!("missing from the file: {} ({}, {})", m.login, m.external_id, m.status);
    }
    let verb = if r.applied {
        "applied"
    } else if dry_run {
        "would apply (dry run)"
    } else {
        "applied nothing (--strict and bad rows)"
    };
    println!(
        "{} rows: {} changes {verb}, {} unchanged, {} bad, {} missing from the file",
        r.rows,
        r.changes.len(),
        r.unchanged,
        r.errors.len(),
        r.missing.len()
    );
}

fn slip_lines(issued: &[IssuedCredential], issuer: &str) -> Vec<String> {
    let mut lines = vec!["login;full_name;group;password;lock_code;expires;sign_in".to_owned()];
    for i in issued {
        let a = &i.account;
        let unit = a.study_group.as_deref().or(a.department.as_deref()).unwrap_or("");
        lines.push(format!(
            "{};{};{};{};{};{};{issuer}",
            a.login.as_str(),
            a.full_name.replace(';', ","),
            unit.replace(';', ","),
            i.password.expose(),
            i.lock_code,
            i.issue.expires_at.to_human(),
        ));
    }
    lines
}

fn print_slips(issued: &[IssuedCredential], issuer: &str) {
    println!("credential slips (shown once; hand each over and mark it in the journal):");
    for line in slip_lines(issued, issuer) {
        println!("{line}");
    }
}

fn write_slips(path: &Path, issued: &[IssuedCredential], issuer: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = std::io::BufWriter::new(options.open(path)?);
    for line in slip_lines(issued, issuer) {
        writeln!(f, "{line}")?;
    }
    f.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()
}

pub async fn run_lifecycle(config: &Config, cmd: LifecycleCommand) -> ExitCode {
    let app = match open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    match cmd {
        LifecycleCommand::Run { json: as_json } => match app.run_lifecycle().await {
            Ok(r) if as_json => json(&r),
            Ok(r) => {
                println!(
                    "{} steps done, {} failed (retried later), {} taken by another node, {} cases closed",
                    r.steps_done, r.steps_failed, r.steps_skipped, r.cases_closed
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        LifecycleCommand::Cases { all, json: as_json } => cases(&app, all, as_json).await,
        LifecycleCommand::Tasks { json: as_json } => match app.manual_tasks().await {
            Ok(t) if as_json => json(&t),
            Ok(tasks) => {
                for t in &tasks {
                    println!(
                        "{} {} {:<20} {:<12} due {}{}  {}",
                        t.case_id,
                        t.step,
                        t.subject,
                        t.resource.as_deref().unwrap_or("-"),
                        t.due_at.to_human(),
                        if t.overdue { " OVERDUE" } else { "" },
                        t.task_en
                    );
                }
                println!("{} open tasks", tasks.len());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        LifecycleCommand::Done { case, step, note } => match app.complete_task(&actor(), &case, &step, &note).await {
            Ok(()) => {
                println!("task {step} of case {case} marked done");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

async fn cases(app: &App, all: bool, as_json: bool) -> ExitCode {
    let filter = if all { crate::ports::lifecycle::CaseFilter::All } else { crate::ports::lifecycle::CaseFilter::Open };
    match app.store.list_cases(filter).await {
        Ok(c) if as_json => json(&c),
        Ok(cases) => {
            for c in &cases {
                let done = c.steps.iter().filter(|s| s.done_at.is_some()).count();
                println!(
                    "{} {:<20} {:<10} block by {}  {done}/{} steps{}",
                    c.case.id,
                    c.case.subject,
                    c.case.reason,
                    c.case.block_by.to_human(),
                    c.steps.len(),
                    if c.closed_at.is_some() { "  closed" } else { "" }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.into()),
    }
}

pub async fn run_report(config: &Config, cmd: ReportCommand) -> ExitCode {
    let app = match open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    match cmd {
        ReportCommand::Deprovisioning { json: as_json } => {
            let report = match app.compliance_report().await {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            if as_json {
                json(&report);
            } else {
                for c in &report.cases {
                    let k = &c.case.case;
                    println!(
                        "{} {} {} order {} effective {} block by {} erase by {}{}",
                        k.id,
                        k.subject,
                        k.reason,
                        k.order.as_ref().map_or_else(|| "-".to_owned(), |o| format!("{} of {}", o.number, o.date)),
                        k.effective,
                        k.block_by.to_human(),
                        k.erase_by.map_or_else(|| "-".to_owned(), |t| t.to_human()),
                        if c.case.closed_at.is_some() { " (closed)" } else { "" }
                    );
                    for s in &c.case.steps {
                        let took = s.done_at.map(|d| format!("{} min", d.since(k.opened_at).as_secs() / 60));
                        println!(
                            "    {:<20} {:<9} due {}  {}",
                            s.name,
                            s.state.as_str(),
                            s.due_at.to_human(),
                            took.unwrap_or_default()
                        );
                    }
                    for v in &c.violations {
                        println!("    VIOLATION: {v}");
                    }
                }
                println!("{} open cases, {} violations", report.open_cases, report.violations);
            }
            if report.violations > 0 { ExitCode::from(VIOLATIONS) } else { ExitCode::SUCCESS }
        }
        ReportCommand::Reconcile { json: as_json } => {
            let r = match app.reconcile().await {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            if as_json {
                json(&r);
            } else {
                for m in &r.active_without_record {
                    println!("active, not in the register as studying or employed: {} ({})", m.login, m.external_id);
                }
                for e in &r.records_without_account {
                    println!("in the register, no account: {e}");
                }
                for t in &r.overdue_tasks {
                    println!("manual task overdue: {} {} ({})", t.case_id, t.step, t.subject);
                }
            }
            if r.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(VIOLATIONS) }
        }
    }
}
