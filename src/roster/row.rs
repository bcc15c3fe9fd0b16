//! From the mapped cells of one record to a checked [`RosterRow`] or a [`RowError`]:
//! required values, statuses and roles through the mapping, dates, emails, lengths, and
//! external ids repeated in the file. Dates are not compared with the clock here (the
//! import use case does that).

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};

use super::mapping::{Field, Mapping};
use crate::domain::roster::{Order, RosterRow, RowError};

/// The longest value accepted in any field, in characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// One cell as a reader found it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Cell<'a> {
    #[default]
    Empty,
    Text(Cow<'a, str>),
    /// A date cell of a spreadsheet.
    Date(NaiveDate),
}

/// The cells of one record, by [`Field::index`].
pub(crate) type Cells<'a> = [Cell<'a>; 12];

/// Builds rows in file order and remembers the external ids already seen.
pub(crate) struct RowBuilder<'m> {
    mapping: &'m Mapping,
    seen: HashMap<String, usize>,
}

fn err(line: usize, field: Field, problem: impl Into<String>) -> RowError {
    RowError { line, field: Some(field.name()), problem: problem.into() }
}

impl<'m> RowBuilder<'m> {
    pub(crate) fn new(mapping: &'m Mapping) -> Self {
        Self { mapping, seen: HashMap::new() }
    }

    pub(crate) fn build(&mut self, line: usize, cells: &Cells<'_>) -> Result<RosterRow, RowError> {
        let text = |f: Field| -> Result<Option<String>, RowError> { text(line, f, &cells[f.index()]) };
        let required = |f: Field| -> Result<String, RowError> {
            text(f)?.ok_or_else(|| err(line, f, "missing: the row has no value here"))
        };

        let external_id = required(Field::ExternalId)?;
        if let Some(&first) = self.seen.get(&external_id) {
            return Err(err(line, Field::ExternalId, format!("{external_id:?} is repeated: first on line {first}")));
        }
        self.seen.insert(external_id.clone(), line);

        let full_name = if self.mapping.column(Field::FullName).is_some() {
            collapse(&required(Field::FullName)?)
        } else {
            let mut parts = vec![collapse(&required(Field::LastName)?), collapse(&required(Field::FirstName)?)];
            parts.extend(text(Field::MiddleName)?.map(|m| collapse(&m)));
            let joined = parts.join(" ");
            if joined.chars().count() > MAX_VALUE_CHARS {
                return Err(err(
                    line,
                    Field::LastName,
                    format!("the name is longer than {MAX_VALUE_CHARS} characters"),
                ));
            }
            joined
        };

        let role = match text(Field::Role)? {
            Some(v) => self.mapping.role(&v).ok_or_else(|| err(line, Field::Role, format!("unknown role {v:?}")))?,
            None => self.mapping.default_role.ok_or_else(|| err(line, Field::Role, "missing, and no default_role"))?,
        };

        let unit = text(Field::Unit)?.map(|u| collapse(&u));
        let email = match text(Field::Email)? {
            Some(e) if !is_email(&e) => return Err(err(line, Field::Email, format!("{e:?} is not an email address"))),
            e => e,
        };

        let status_text = required(Field::Status)?;
        let status = self
            .mapping
            .status(&status_text)
            .ok_or_else(|| err(line, Field::Status, format!("unknown status {status_text:?}")))?;

        let effective = self
            .date(line, Field::Effective, &cells[Field::Effective.index()])?
            .ok_or_else(|| err(line, Field::Effective, "missing: the row has no value here"))?;

        let number = text(Field::OrderNumber)?;
        let date = self.date(line, Field::OrderDate, &cells[Field::OrderDate.index()])?;
        let order = match (number, date) {
            (Some(number), Some(date)) => Some(Order { number, date }),
            (None, None) => None,
            (Some(_), None) => return Err(err(line, Field::OrderDate, "missing: an order number needs its date")),
            (None, Some(_)) => return Err(err(line, Field::OrderNumber, "missing: an order date needs its number")),
        };

        Ok(RosterRow { line, external_id, full_name, role, unit, email, status, effective, order })
    }

    fn date(&self, line: usize, field: Field, cell: &Cell<'_>) -> Result<Option<NaiveDate>, RowError> {
        match cell {
            Cell::Date(d) => Ok(Some(*d)),
            Cell::Empty => Ok(None),
            Cell::Text(t) => {
                let t = t.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                parse_date(t, &self.mapping.date_formats).map(Some).ok_or_else(|| {
                    err(
                        line,
                        field,
                        format!("{t:?} is not a date in a known format ({})", self.mapping.date_formats.join(", ")),
                    )
                })
            }
        }
    }
}

/// The trimmed text of a cell; empty is `None`; too long or with control characters is
/// an error.
fn text(line: usize, field: Field, cell: &Cell<'_>) -> Result<Option<String>, RowError> {
    let t = match cell {
        Cell::Empty => return Ok(None),
        Cell::Date(d) => return Ok(Some(d.format("%d.%m.%Y").to_string())),
        Cell::Text(t) => t.trim(),
    };
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > MAX_VALUE_CHARS {
        return Err(err(line, field, format!("longer than {MAX_VALUE_CHARS} characters")));
    }
    // Names and units are collapsed to single spaces; elsewhere a line break is a mistake.
    let collapses =
        matches!(field, Field::FullName | Field::LastName | Field::FirstName | Field::MiddleName | Field::Unit);
    if t.chars().any(|c| c.is_control() && !(collapses && c.is_whitespace())) {
        return Err(err(line, field, "contains a line break or another control character"));
    }
    Ok(Some(t.to_owned()))
}

/// Inner runs of spaces collapsed to one.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A date in the first of `formats` that reads it whole; a format with a time of day
/// gives its date.
pub(crate) fn parse_date(s: &str, formats: &[String]) -> Option<NaiveDate> {
    formats.iter().find_map(|f| {
        NaiveDate::parse_from_str(s, f).ok().or_else(|| NaiveDateTime::parse_from_str(s, f).ok().map(|dt| dt.date()))
    })
}

/// The shape of an address: one `@`, a local part, a dotted domain, no spaces.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '@' | '<' | '>' | ',' | ';' | '"'))
        && domain.contains('.')
        && domain.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let good = ["a@b.ru", "ivanov.ip@college.ru", "x+tag@mail.example.org", "студент@колледж.рф"];
        let bad =
            ["", "a", "a@b", "@b.ru", "a@.ru", "a@b..ru", "a b@c.ru", "a@b@c.ru", "a@-b.ru", ".a@b.ru", "a..b@c.ru"];
        for e in good {
            assert!(is_email(e), "{e}");
        }
        for e in bad {
            assert!(!is_email(e), "{e}");
        }
    }

    #[test]
    fn dates_in_the_default_formats() {
        let formats: Vec<String> = super::super::mapping::DEFAULT_DATE_FORMATS.map(String::from).to_vec();
        let d = NaiveDate::from_ymd_opt(2024, 9, 1);
        for s in
            ["01.09.2024", "1.9.2024", "01.09.2024 0:00:00", "01.09.2024 00:00:00", "2024-09-01", "2024-09-01T00:00:00"]
        {
            assert_eq!(parse_date(s, &formats), d, "{s}");
        }
        for s in ["31.02.2024", "2024/09/01", "01.09.24x", "вчера", "01.09.2024 25:00:00"] {
            assert_eq!(parse_date(s, &formats), None, "{s}");
        }
    }
}
