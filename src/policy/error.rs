//! The one error type of the policy room, and the position of a problem in a file.
//!
//! Owns turning byte offsets (from TOML spans and Cedar diagnostics) into 1-based lines
//! and columns. Must not decide anything about access; it only describes what is wrong.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the policy files: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a place in the file.
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    /// A problem at byte `offset` of `text`, the contents of `file`.
    pub(crate) fn at(file: impl Into<PathBuf>, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_and_column(text, offset);
        Self { file: file.into(), line: Some(line), column: Some(column), message: message.into() }
    }

    /// A problem with the file as a whole (a missing part, an unreadable file).
    pub(crate) fn in_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { file: file.into(), line: None, column: None, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Why the policy files could not be loaded, or why an input is not a resource id.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, in file order; never empty.
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
    #[error(
        "not a resource id: {0:?} (1 to 64 lowercase Latin letters, digits and '-', \
         starting with a letter or digit)"
    )]
    ResourceId(String),
}

impl PolicyError {
    /// The problems found in the files (empty for the other kinds of error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid(p) => p,
            PolicyError::Read { .. } | PolicyError::ResourceId(_) => &[],
        }
    }
}

fn list(problems: &[Problem]) -> String {
    let mut out =
        format!("the policy files have {} problem{}:", problems.len(), if problems.len() == 1 { "" } else { "s" });
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// 1-based line and column (in characters) of byte `offset` in `text`. An offset past
/// the end, or inside a character, is clamped to a character boundary before it.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "ab\nвгд\n\nx";
        let cases = [
            (0, (1, 1)),
            (2, (1, 3)),
            (3, (2, 1)),
            (5, (2, 2)),
            (6, (2, 2)), // inside "г": clamped back
            (10, (3, 1)),
            (11, (4, 1)),
            (99, (4, 2)),
        ];
        for (offset, want) in cases {
            assert_eq!(line_and_column(text, offset), want, "offset {offset}");
        }
    }

    #[test]
    fn problems_print_as_file_line_column() {
        let p = Problem::at("p/resources.toml", "a\nbc", 3, "bad");
        assert_eq!(p.to_string(), "p/resources.toml:2:2: bad");
        let e = PolicyError::Invalid(vec![p, Problem::in_file("p/x.cedar", "empty")]);
        assert_eq!(e.to_string(), "the policy files have 2 problems:\n  p/resources.toml:2:2: bad\n  p/x.cedar: empty");
    }
}
