//! The `[lifecycle]` section: deprovisioning deadlines (D-7), academic leave, the
//! scheduler, and how roster imports read files and make logins.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, err};
use crate::app::LifecycleSettings;
use crate::domain::lifecycle::LifecyclePolicy;
use crate::domain::translit::{LoginPattern, Scheme};
use crate::policy::ResourceId;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLifecycle {
    /// Expelled students and dismissed staff: hours from the effective date's start to
    /// the block deadline (D-7: 24; at most 72, R-12). Graduates are blocked on the date.
    pub block_within_hours: u32,
    /// Graduates' personal data are erased this many hours after the effective date's
    /// start (at most 72, R-11; the deadline is 72).
    pub erase_graduates_after_hours: u32,
    /// Expelled and dismissed people's data: erased this many days after the effective
    /// date; 0 keeps them, blocked, for a possible reinstatement.
    pub erase_others_after_days: u32,
    /// The college's offset from UTC: an effective date starts at its local midnight.
    pub utc_offset: String,
    /// Resources restricted during academic leave (library and mail stay).
    pub academic_leave_restricts: Vec<String>,
    /// How often `serve` runs the scheduler; 0: only `propusk lifecycle run` (cron).
    pub scheduler_interval_seconds: u32,
    /// This node's name on the work it claims; empty: host name and process id.
    pub node_name: String,
    /// The column mapping for register files (`deploy/roster-mapping.example.toml`).
    pub roster_mapping_file: String,
    /// How logins are made from names: `{last}`, `{first}`, `{middle}`, `{f}`, `{m}`.
    pub login_pattern: String,
    /// `gost` (ГОСТ 7.79-2000 system B) or `icao` (as in passports).
    pub transliteration: String,
    /// OpenID Connect clients whose service tokens (`client_credentials`) may POST
    /// register files to `/api/roster/import`.
    pub import_clients: Vec<String>,
}

impl Default for RawLifecycle {
    fn default() -> Self {
        Self {
            block_within_hours: 24,
            erase_graduates_after_hours: 48,
            erase_others_after_days: 0,
            utc_offset: "+03:00".into(),
            academic_leave_restricts: vec!["moodle".into()],
            scheduler_interval_seconds: 60,
            node_name: String::new(),
            roster_mapping_file: String::new(),
            login_pattern: "{last}.{f}{m}".into(),
            transliteration: "gost".into(),
            import_clients: Vec::new(),
        }
    }
}

/// The validated section.
#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    pub settings: LifecycleSettings,
    pub scheduler_interval: Option<Duration>,
    pub roster_mapping_file: Option<PathBuf>,
}

pub(super) fn lifecycle_config(raw: &RawLifecycle) -> Result<LifecycleConfig, ConfigError> {
    let hours = |h: u32| Duration::from_secs(u64::from(h) * 3600);
    let utc_offset = parse_offset(&raw.utc_offset)
        .ok_or_else(|| err("lifecycle.utc_offset", "an offset such as \"+03:00\" or \"+07:00\""))?;
    let policy = LifecyclePolicy {
        block_within: hours(raw.block_within_hours),
        erase_graduates_after: hours(raw.erase_graduates_after_hours),
        erase_others_after: (raw.erase_others_after_days > 0)
            .then(|| Duration::from_secs(u64::from(raw.erase_others_after_days) * 86_400)),
        utc_offset,
    };
    if raw.block_within_hours == 0 || raw.block_within_hours > 72 {
        return Err(err("lifecycle.block_within_hours", "from 1 to 72 (the regulation's 3 days, R-12)"));
    }
    if raw.erase_graduates_after_hours > 72 {
        return Err(err("lifecycle.erase_graduates_after_hours", "at most 72 (the regulation's 3 days, R-11)"));
    }
    policy.check().map_err(|m| err("lifecycle", m))?;
    let leave_restricts = raw
        .academic_leave_restricts
        .iter()
        .map(|r| ResourceId::parse(r.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err("lifecycle.academic_leave_restricts", e.to_string()))?;
    let transliteration = match raw.transliteration.trim() {
        "gost" => Scheme::GostB,
        "icao" => Scheme::Icao,
        _ => return Err(err("lifecycle.transliteration", "\"gost\" or \"icao\"")),
    };
    let login_pattern =
        LoginPattern::parse(&raw.login_pattern).map_err(|e| err("lifecycle.login_pattern", e.to_string()))?;
    let roster_mapping_file = Some(raw.roster_mapping_file.trim()).filter(|f| !f.is_empty()).map(PathBuf::from);
    let node = match raw.node_name.trim() {
        "" => format!("{}-{}", host_name(), std::process::id()),
        n => n.to_owned(),
    };
    Ok(LifecycleConfig {
        settings: LifecycleSettings {
            policy,
            leave_restricts,
            node,
            login_pattern,
            transliteration,
            roster_mapping_file: roster_mapping_file.clone(),
            import_clients: raw.import_clients.iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect(),
        },
        scheduler_interval: (raw.scheduler_interval_seconds > 0)
            .then(|| Duration::from_secs(u64::from(raw.scheduler_interval_seconds))),
        roster_mapping_file,
    })
}

fn parse_offset(s: &str) -> Option<chrono::FixedOffset> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "propusk".into())
}
