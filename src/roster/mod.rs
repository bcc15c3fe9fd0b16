//! Register files read into rows (R-6, R-11, R-12, D-9): the student register
//! (1С:Колледж, regional contingent systems) and HR lists, as CSV, XLSX or JSON, their
//! columns mapped by a mapping file. Each row becomes a checked
//! [`RosterRow`](crate::domain::roster::RosterRow) or a
//! [`RowError`](crate::domain::roster::RowError) with its line; a problem with the whole
//! file (encoding, missing column, truncation) is a [`FileError`].
//!
//! Pure parsing: no store, no clock (dates far past or in the future are the import use
//! case's to judge), no HTTP. Everything is linear in the size of the file.

mod csv;
mod json;
pub mod mapping;
mod row;
mod xlsx;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::str::FromStr;

pub use mapping::{Encoding, Field, Mapping, MappingError};
pub use row::MAX_VALUE_CHARS;

use crate::domain::roster::{RosterRow, RowError};

/// The kind of a register file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Json,
}

impl Format {
    /// The format a file name's extension suggests (`.csv` or `.txt`, `.xlsx`, `.json`).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown register format {other:?}; known: csv, xlsx, json")),
        }
    }
}

/// A problem with the whole file: nothing in it is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file has no header row")]
    Empty,
    #[error("line {line}: the file is not in the expected encoding: {detail}")]
    Encoding { line: usize, detail: String },
    #[error("the file has no column {column:?} (mapped to {field})")]
    MissingColumn { column: String, field: &'static str },
    #[error("the file has the column {column:?} more than once")]
    DuplicateColumn { column: String },
    #[error("the file looks truncated at line {line}: {reason}; refusing it")]
    Truncated { line: usize, reason: String },
    #[error("the CSV file cannot be read: {0}")]
    Csv(String),
    #[error("the XLSX file cannot be read: {0}")]
    Xlsx(String),
    #[error("the workbook has no sheet {name:?} (it has: {found})")]
    NoSheet { name: String, found: String },
    #[error("the JSON file cannot be read: {0}")]
    Json(String),
}

/// Reads a register file: each data row, in file order, as a checked row or the error
/// that stops it (with its line). An external id seen on an earlier line makes the
/// later row an error naming the first line.
pub fn read(bytes: &[u8], format: Format, mapping: &Mapping) -> Result<Vec<Result<RosterRow, RowError>>, FileError> {
    match format {
        Format::Csv => csv::read(bytes, mapping),
        Format::Xlsx => xlsx::read(bytes, mapping),
        Format::Json => json::read(bytes, mapping),
    }
}
