//! The student register and HR lists as propusk reads them (R-6, R-11, R-12, D-9): one row
//! per person, with the status the register gives and the order it came from.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use super::account::Role;

/// A person's status in the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterStatus {
    Studying,
    AcademicLeave,
    Graduated,
    Expelled,
    Transferred,
    Employed,
    Dismissed,
}

impl RosterStatus {
    pub const ALL: [RosterStatus; 7] = [
        RosterStatus::Studying,
        RosterStatus::AcademicLeave,
        RosterStatus::Graduated,
        RosterStatus::Expelled,
        RosterStatus::Transferred,
        RosterStatus::Employed,
        RosterStatus::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RosterStatus::Studying => "studying",
            RosterStatus::AcademicLeave => "academic_leave",
            RosterStatus::Graduated => "graduated",
            RosterStatus::Expelled => "expelled",
            RosterStatus::Transferred => "transferred",
            RosterStatus::Employed => "employed",
            RosterStatus::Dismissed => "dismissed",
        }
    }

    /// Whether the person leaves the college with this status (a deprovisioning case).
    pub fn is_departure(self) -> bool {
        matches!(self, RosterStatus::Graduated | RosterStatus::Expelled | RosterStatus::Dismissed)
    }
}

impl fmt::Display for RosterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}; known: studying, academic_leave, graduated, expelled, transferred, employed, dismissed")]
pub struct UnknownStatus(pub String);

impl FromStr for RosterStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        RosterStatus::ALL.into_iter().find(|r| r.as_str() == t).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// The order (приказ) a status comes from (D-9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Order {
    pub number: String,
    pub date: NaiveDate,
}

/// One person's row of a register file, already checked for shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RosterRow {
    /// The line (CSV) or row (XLSX) or array index + 1 (JSON) it was read from.
    pub line: usize,
    /// The student-register or personnel number: the person's identity across imports.
    pub external_id: String,
    /// "Фамилия Имя Отчество", as the register writes it.
    pub full_name: String,
    pub role: Role,
    /// The study group (students) or department (staff, teachers).
    pub unit: Option<String>,
    pub email: Option<String>,
    pub status: RosterStatus,
    /// The day the status takes effect.
    pub effective: NaiveDate,
    pub order: Option<Order>,
}

/// A row that could not be read, with its line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub line: usize,
    /// The mapped column (propusk's field name) at fault, when one is.
    pub field: Option<&'static str>,
    pub problem: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "line {}: {}: {}", self.line, field, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}
