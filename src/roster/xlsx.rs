//! XLSX register files (calamine): the first sheet or the mapping's `sheet`, the first
//! row of its used range is the header, a row's line is its row number in the sheet.
//! Dates may be date cells or text; numbers standing for ids lose a trailing `.0`.

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;

use super::FileError;
use super::mapping::{Field, Mapping};
use super::row::{Cell, Cells, RowBuilder};
use crate::domain::roster::{RosterRow, RowError};

fn cell(data: &Data) -> Cell<'_> {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Int(i) => Cell::Text(Cow::Owned(i.to_string())),
        // Whole numbers are ids or numbers typed into a cell formatted as a number.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Cell::Text(Cow::Owned(format!("{f:.0}"))),
        Data::Float(f) => Cell::Text(Cow::Owned(f.to_string())),
        Data::Bool(b) => Cell::Text(Cow::Owned(b.to_string())),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            match NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d)) {
                Some(date) => Cell::Date(date),
                None => Cell::Text(Cow::Owned(dt.as_f64().to_string())),
            }
        }
        Data::DateTime(dt) => Cell::Text(Cow::Owned(dt.as_f64().to_string())),
        Data::DateTimeIso(s) => match s.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
            Some(date) => Cell::Date(date),
            None => Cell::Text(Cow::Borrowed(s)),
        },
        Data::DurationIso(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Error(e) => Cell::Text(Cow::Owned(format!("#{e}"))),
    }
}

fn is_blank(data: &Data) -> bool {
    match data {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

pub(crate) fn read(bytes: &[u8], mapping: &Mapping) -> Result<Vec<Result<RosterRow, RowError>>, FileError> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| FileError::Xlsx(format!("not a readable XLSX workbook: {e}")))?;
    let name = match &mapping.sheet {
        Some(name) => {
            let names = book.sheet_names();
            names
                .iter()
                .find(|n| n.trim() == name.trim())
                .cloned()
                .ok_or_else(|| FileError::NoSheet { name: name.clone(), found: names.join(", ") })?
        }
        None => book.sheet_names().first().cloned().ok_or(FileError::Empty)?,
    };
    let range = book.worksheet_range(&name).map_err(|e| FileError::Xlsx(format!("sheet {name:?}: {e}")))?;
    let first_row = range.start().map_or(0, |(r, _)| r as usize);

    let mut rows_iter = range.rows().enumerate().filter(|(_, r)| !r.iter().all(is_blank));
    let Some((_, header)) = rows_iter.next() else { return Err(FileError::Empty) };
    let header_text: Vec<String> =
        header.iter().map(|d| if is_blank(d) { String::new() } else { d.to_string() }).collect();
    let at = mapping.locate(header_text.iter().map(String::as_str))?;

    let mut builder = RowBuilder::new(mapping);
    let mut rows = Vec::new();
    for (i, record) in rows_iter {
        let line = first_row + i + 1;
        let mut cells: Cells<'_> = Default::default();
        for f in Field::ALL {
            if let Some(data) = at[f.index()].and_then(|i| record.get(i)) {
                cells[f.index()] = cell(data);
            }
        }
        rows.push(builder.build(line, &cells));
    }
    Ok(rows)
}
