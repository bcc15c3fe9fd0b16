//! JSON register files: an array of objects whose keys are the file's column names (as
//! the mapping gives them) or propusk's own field names ([`Mapping::default`]). A row's
//! line is its index in the array + 1.

use std::borrow::Cow;

use serde_json::Value;

use super::FileError;
use super::mapping::{Field, Mapping, normalise};
use super::row::{Cell, Cells, RowBuilder};
use crate::domain::roster::{RosterRow, RowError};

pub(crate) fn read(bytes: &[u8], mapping: &Mapping) -> Result<Vec<Result<RosterRow, RowError>>, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| FileError::Json(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    let Value::Array(items) = value else {
        return Err(FileError::Json("the file is not an array of objects".into()));
    };

    // Columns are checked against the keys of all objects together: a key absent from
    // one object is an empty value there, a key absent from every object is missing.
    let mut keys: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        if let Value::Object(o) = item {
            for k in o.keys() {
                if seen.insert(k.as_str()) {
                    keys.push(k.as_str());
                }
            }
        }
    }
    if items.is_empty() {
        return Ok(Vec::new());
    }
    mapping.locate(keys.iter().copied())?;
    let wanted: Vec<(Field, String)> =
        Field::ALL.into_iter().filter_map(|f| mapping.column(f).map(|c| (f, normalise(c)))).collect();

    let mut builder = RowBuilder::new(mapping);
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let line = i + 1;
        let Value::Object(object) = item else {
            rows.push(Err(RowError { line, field: None, problem: "not an object".into() }));
            continue;
        };
        let mut cells: Cells<'_> = Default::default();
        let mut bad = None;
        for (key, value) in object {
            let key = normalise(key);
            let Some((field, _)) = wanted.iter().find(|(_, c)| *c == key) else { continue };
            cells[field.index()] = match value {
                Value::Null => Cell::Empty,
                Value::String(s) => Cell::Text(Cow::Borrowed(s)),
                Value::Number(n) => Cell::Text(Cow::Owned(n.to_string())),
                Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                    bad = Some(*field);
                    break;
                }
            };
        }
        if let Some(field) = bad {
            rows.push(Err(RowError { line, field: Some(field.name()), problem: "not a text or a number".into() }));
            continue;
        }
        rows.push(builder.build(line, &cells));
    }
    Ok(rows)
}
