//! CSV as 1C writes it: `;` between fields, quoted fields with `""` inside, UTF-8 with or
//! without a BOM or Windows-1251. Line numbers are the file's physical lines (a quoted
//! field with a line break spans several), the header is line 1. A file cut short (inside
//! a quoted field, or a last record short of fields with no final line break) is refused.

use std::borrow::Cow;

use super::FileError;
use super::mapping::{Encoding, Field, Mapping};
use super::row::{Cell, Cells, RowBuilder};
use crate::domain::roster::{RosterRow, RowError};

/// The text of the file in the mapping's encoding (`auto`: UTF-8 if valid, otherwise
/// Windows-1251), without a byte-order mark.
pub(crate) fn decode(bytes: &[u8], encoding: Encoding) -> Result<Cow<'_, str>, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match encoding {
        Encoding::Windows1251 => Ok(encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes).0),
        Encoding::Utf8 | Encoding::Auto => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(_) if encoding == Encoding::Auto => Ok(encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes).0),
            Err(e) => {
                let at = e.valid_up_to();
                let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
                Err(FileError::Encoding { line, detail: format!("byte {at} is not UTF-8 (encoding = \"utf-8\")") })
            }
        },
    }
}

/// The line where a quoted field opens and is never closed, if the text ends inside one.
/// Follows the reader's rules: a quote opens a quoted field only at the start of a field;
/// inside, `""` is a quote.
fn unterminated_quote(text: &str, delimiter: u8) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut line = 1;
    let mut opened_on = 0;
    for &b in text.as_bytes() {
        state = match (state, b) {
            (State::FieldStart, b'"') => {
                opened_on = line;
                State::Quoted
            }
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b'\n') => State::FieldStart,
            (_, d) if d == delimiter => State::FieldStart,
            (State::FieldStart | State::Unquoted | State::QuoteInQuoted, _) => State::Unquoted,
        };
        if b == b'\n' {
            line += 1;
        }
    }
    (state == State::Quoted).then_some(opened_on)
}

/// Physical line numbers of record starts, counted once through the text as the
/// records go by (the reader's own line count is off with CRLF line ends).
struct LineCounter<'t> {
    text: &'t [u8],
    at: usize,
    line: usize,
}

impl LineCounter<'_> {
    /// The line of the first byte of the record whose position is `start`: the reader
    /// places it on the line break before the record, and skips blank lines.
    fn line_at(&mut self, start: usize) -> usize {
        let mut start = start.min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.at {
            self.line += self.text[self.at..start].iter().filter(|&&b| b == b'\n').count();
            self.at = start;
        }
        self.line
    }
}

pub(crate) fn read(bytes: &[u8], mapping: &Mapping) -> Result<Vec<Result<RosterRow, RowError>>, FileError> {
    let text = decode(bytes, mapping.encoding)?;
    if let Some(line) = unterminated_quote(&text, mapping.delimiter) {
        return Err(FileError::Truncated { line, reason: "it ends inside the quoted field that opens here".into() });
    }
    let ends_with_newline = text.ends_with('\n') || text.ends_with('\r');
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());

    let mut record = ::csv::StringRecord::new();
    let header = loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Err(FileError::Empty),
            Ok(true) if record.iter().all(|f| f.trim().is_empty()) => continue,
            Ok(true) => break record.clone(),
            Err(e) => return Err(FileError::Csv(e.to_string())),
        }
    };
    let at = mapping.locate(header.iter())?;

    let mut builder = RowBuilder::new(mapping);
    let mut rows = Vec::new();
    let mut lines = LineCounter { text: text.as_bytes(), at: 0, line: 1 };
    let mut last: Option<(usize, usize)> = None;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(FileError::Csv(e.to_string())),
        }
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let line = lines.line_at(start);
        last = Some((line, record.len()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() < header.len() && at.iter().flatten().any(|&i| i >= record.len()) {
            rows.push(Err(RowError {
                line,
                field: None,
                problem: format!("{} fields where the header has {}", record.len(), header.len()),
            }));
            continue;
        }
        let mut cells: Cells<'_> = Default::default();
        for f in Field::ALL {
            if let Some(value) = at[f.index()].and_then(|i| record.get(i)) {
                cells[f.index()] = Cell::Text(Cow::Borrowed(value));
            }
        }
        rows.push(builder.build(line, &cells));
    }
    match last {
        Some((line, fields)) if !ends_with_newline && fields < header.len() => Err(FileError::Truncated {
            line,
            reason: format!(
                "the last record has {fields} fields where the header has {} and the file has no final line break",
                header.len()
            ),
        }),
        _ => Ok(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_opened_and_never_closed() {
        let cases: [(&str, Option<usize>); 8] = [
            ("a;b\n1;2\n", None),
            ("a;b\n\"1;\"\"x\"\"\";2\n", None),
            ("a;b\n\"1\n2\";3\n", None),
            ("a;b\n1;\"2", Some(2)),
            ("a;b\n1;2\n\"x\ny\nz", Some(3)),
            ("a;b\n1;\"x\"\"", Some(2)),
            ("a;b\nООО \"Ромашка\";2\n", None),
            ("a;b\n1;\"x\"y;2\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(unterminated_quote(text, b';'), want, "{text:?}");
        }
    }

    #[test]
    fn encodings() {
        let utf8 = "ФИО;Статус\n".as_bytes();
        assert_eq!(decode(utf8, Encoding::Auto).expect("utf-8"), "ФИО;Статус\n");
        let bom = [b"\xEF\xBB\xBF".as_slice(), utf8].concat();
        assert_eq!(decode(&bom, Encoding::Auto).expect("bom"), "ФИО;Статус\n");
        let cp1251 = encoding_rs::WINDOWS_1251.encode("ФИО;Статус;ёЁ\n").0.into_owned();
        assert_eq!(decode(&cp1251, Encoding::Auto).expect("1251"), "ФИО;Статус;ёЁ\n");
        assert_eq!(decode(&cp1251, Encoding::Windows1251).expect("1251"), "ФИО;Статус;ёЁ\n");
        let forced = decode(&[b"a\nb\n".as_slice(), &cp1251].concat(), Encoding::Utf8).expect_err("not utf-8");
        assert!(matches!(forced, FileError::Encoding { line: 3, .. }), "{forced}");
    }
}
