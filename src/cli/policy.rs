//! `propusk policy check|explain` and `propusk user restrict|unrestrict` (R-3, R-4,
//! validating a policy directory without starting, explaining a decision, and
//! managing one person's restrictions, journaled in the audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{fail, json};
use crate::app::{Actor, App};
use crate::config::Config;
use crate::domain::time::Timestamp;
use crate::policy::Policies;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate the catalogue and policies without starting; exit 2 with every problem
    /// at its file and line.
    Check {
        /// The directory to check (default: policies.dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print the decision for LOGIN on RESOURCE and the policies that made it.
    Explain { login: String, resource: String },
}

#[derive(Args)]
pub struct RestrictArgs {
    login: String,
    /// The resource id from the catalogue (resources.toml).
    resource: String,
    #[arg(long)]
    reason: String,
    /// The last day (UTC) the restriction holds, YYYY-MM-DD; without it, until lifted.
    #[arg(long, value_parser = parse_day_end)]
    until: Option<Timestamp>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct UnrestrictArgs {
    login: String,
    resource: String,
    #[arg(long)]
    reason: String,
    #[arg(long)]
    json: bool,
}

pub async fn run_policy(config: &Config, cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check { dir, json: as_json } => check(dir.as_deref().unwrap_or(&config.policies_dir), as_json),
        PolicyCommand::Explain { login, resource } => {
            let app = match super::user::open(config).await {
                Ok(a) => a,
                Err(code) => return code,
            };
            match app.explain_access(&login, &resource).await {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
    }
}

fn check(dir: &std::path::Path, as_json: bool) -> ExitCode {
    match Policies::load(dir) {
        Ok(p) if as_json => json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "digest": p.digest(),
            "resources": p.catalogue().len(),
            "warnings": p.warnings(),
        })),
        Ok(p) => {
            println!(
                "{}: valid; {} resources, {} policies; digest {}",
                dir.display(),
                p.catalogue().len(),
                p.policies().count(),
                p.digest()
            );
            for w in p.warnings() {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("propusk: {} is not valid:\n{e}", dir.display());
            ExitCode::from(2)
        }
    }
}

pub async fn restrict(app: &App, actor: &Actor, a: RestrictArgs) -> ExitCode {
    match app.restrict(actor, &a.login, &a.resource, &a.reason, a.until).await {
        Ok(r) if a.json => json(&r),
        Ok(r) => {
            let until = r.until.map_or_else(|| "until lifted".to_owned(), |t| format!("until {}", t.to_human()));
            println!("Restricted {} from {} ({until}): {}", a.login, r.resource, r.reason);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

pub async fn unrestrict(app: &App, actor: &Actor, a: UnrestrictArgs) -> ExitCode {
    match app.unrestrict(actor, &a.login, &a.resource, &a.reason).await {
        Ok(()) if a.json => json(&serde_json::json!({ "login": a.login, "resource": a.resource, "lifted": true })),
        Ok(()) => {
            println!("Lifted the restriction of {} on {}", a.login, a.resource);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `YYYY-MM-DD` → the end of that day in UTC (the first instant of the next day).
fn parse_day_end(s: &str) -> Result<Timestamp, String> {
    let bad = || format!("expected a date YYYY-MM-DD, got {s:?}");
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return Err(bad());
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(Timestamp::from_millis((days + 1) * 86_400_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_dates_end_at_the_end_of_the_day_utc() {
        assert_eq!(parse_day_end("1970-01-01"), Ok(Timestamp::from_millis(86_400_000)));
        // 2026-12-31T00:00:00Z is 1798675200 s.
        assert_eq!(parse_day_end("2026-12-31"), Ok(Timestamp::from_millis((1_798_675_200 + 86_400) * 1000)));
        assert_eq!(parse_day_end("2028-02-29").map(|t| t.as_millis() % 86_400_000), Ok(0));
        for bad in ["2027-02-29", "2026-13-01", "2026-1", "31.12.2026", "2026-12-31-1", "1969-12-31"] {
            assert!(parse_day_end(bad).is_err(), "{bad}");
        }
    }
}
