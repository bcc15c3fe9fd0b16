//! `propusk audit …`: checking the audit log's and the credential journal's hash chains
//! exporting a period (CSV or JSON) and the retention prune (D-10).

use std::io::Write as _;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::Subcommand;

use super::user::{actor, open};
use super::{fail, json};
use crate::app::{ChainReport, ExportFormat};
use crate::config::Config;
use crate::domain::chain::ChainLog;
use crate::domain::time::Timestamp;

/// Exit code of a check that found a broken chain (the "report found violations" code).
pub const BROKEN: u8 = 6;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check both chains; exits 6 and names the entry where a chain breaks.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Write the entries of a period (UTC days, both included) to standard output.
    Export {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// audit (the audit log) or journal (the credential journal).
        #[arg(long, default_value = "audit")]
        log: String,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Remove audit entries older than audit.retention_days (what `serve` does daily).
    Prune {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_audit(config: &Config, cmd: AuditCommand) -> ExitCode {
    // Bad input is refused before the store is opened.
    let export = match &cmd {
        AuditCommand::Export { from, to, log, format } => match export_args(from, to, log, format) {
            Ok(args) => Some(args),
            Err(msg) => {
                eprintln!("propusk: {msg}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let app = match open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    match cmd {
        AuditCommand::Verify { json: as_json } => match app.verify_journals().await {
            Ok(reports) => {
                let intact = reports.iter().all(|r| r.intact);
                if as_json {
                    json(&reports);
                } else {
                    reports.iter().for_each(print_report);
                }
                if intact { ExitCode::SUCCESS } else { ExitCode::from(BROKEN) }
            }
            Err(e) => fail(&e),
        },
        AuditCommand::Export { .. } => {
            let Some((log, from, to, format)) = export else {
                return ExitCode::FAILURE;
            };
            let mut out = std::io::BufWriter::new(std::io::stdout());
            match app.export_journal(&actor(), log, from, to, format, &mut out).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    let _ = out.flush();
                    fail(&e)
                }
            }
        }
        AuditCommand::Prune { json: as_json } => match app.prune_audit(&actor(), config.audit.retention).await {
            Ok(r) if as_json => json(&r),
            Ok(r) => {
                match r.through_seq {
                    Some(seq) => println!(
                        "{} audit entries written before {} removed (through seq {seq}, now the chain's anchor)",
                        r.removed,
                        r.before.to_human()
                    ),
                    None => println!("nothing written before {} to remove", r.before.to_human()),
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

type ExportArgs = (ChainLog, Timestamp, Timestamp, ExportFormat);

fn export_args(from: &str, to: &str, log: &str, format: &str) -> Result<ExportArgs, String> {
    let day = |flag: &str, s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("{flag} {s:?}: expected a date YYYY-MM-DD"))
    };
    let (first, last) = (day("--from", from)?, day("--to", to)?);
    if first > last {
        return Err(format!("--from {first} is after --to {last}"));
    }
    let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| Timestamp::from_millis(t.and_utc().timestamp_millis()));
    let next = last.succ_opt().ok_or("--to: the date is out of range")?;
    let (Some(from), Some(to)) = (start(first), start(next)) else {
        return Err("the dates are out of range".into());
    };
    let log = ChainLog::parse(log).ok_or_else(|| format!("--log {log:?}: audit or journal"))?;
    let format = match format {
        "csv" => ExportFormat::Csv,
        "json" => ExportFormat::Json,
        other => return Err(format!("--format {other:?}: csv or json")),
    };
    Ok((log, from, to, format))
}

fn print_report(r: &ChainReport) {
    let name = match r.log {
        ChainLog::Audit => "audit log",
        ChainLog::Journal => "credential journal",
    };
    match &r.first_break {
        None => println!(
            "{name}: intact, {} entries checked (head: entry {}, hash {})",
            r.entries_checked, r.head.last_index, r.head.last_hash
        ),
        Some(b) => println!(
            "{name}: BROKEN at seq {} ({}): {}; {} entries before it are intact",
            b.seq,
            b.kind.as_str(),
            b.what,
            r.entries_checked
        ),
    }
}
