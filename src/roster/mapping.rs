//! The mapping file (`deploy/roster-mapping.example.toml`): which column of a register
//! file holds which of propusk's fields, how the file writes statuses and roles, its
//! dates, delimiter and encoding. Loaded in two stages (raw serde, then checked); an
//! error names the key that fixes it.

use std::collections::HashMap;
use std::path::Path;

use chrono::format::{Item, StrftimeItems};

use crate::domain::account::Role;
use crate::domain::roster::RosterStatus;

/// One of propusk's fields that a column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    ExternalId,
    FullName,
    LastName,
    FirstName,
    MiddleName,
    Role,
    Unit,
    Email,
    Status,
    Effective,
    OrderNumber,
    OrderDate,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::ExternalId,
        Field::FullName,
        Field::LastName,
        Field::FirstName,
        Field::MiddleName,
        Field::Role,
        Field::Unit,
        Field::Email,
        Field::Status,
        Field::Effective,
        Field::OrderNumber,
        Field::OrderDate,
    ];

    /// The key under `[columns]`, also the name in row errors and in propusk's own JSON.
    pub fn name(self) -> &'static str {
        match self {
            Field::ExternalId => "external_id",
            Field::FullName => "full_name",
            Field::LastName => "last_name",
            Field::FirstName => "first_name",
            Field::MiddleName => "middle_name",
            Field::Role => "role",
            Field::Unit => "unit",
            Field::Email => "email",
            Field::Status => "status",
            Field::Effective => "effective",
            Field::OrderNumber => "order_number",
            Field::OrderDate => "order_date",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How the bytes of a CSV file are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Encoding {
    /// UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), otherwise Windows-1251.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "windows-1251")]
    Windows1251,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumns {
    external_id: Option<String>,
    full_name: Option<String>,
    last_name: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    role: Option<String>,
    unit: Option<String>,
    email: Option<String>,
    status: Option<String>,
    effective: Option<String>,
    order_number: Option<String>,
    order_date: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    encoding: Encoding,
    delimiter: Option<String>,
    sheet: Option<String>,
    date_formats: Option<Vec<String>>,
    default_role: Option<String>,
    columns: RawColumns,
    #[serde(default)]
    statuses: HashMap<String, String>,
    #[serde(default)]
    roles: HashMap<String, String>,
}

/// Why a mapping file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read the mapping file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the mapping file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("mapping key {key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> MappingError {
    MappingError::Invalid { key: key.into(), problem: problem.into() }
}

/// A checked mapping: the column header of each mapped field, value tables and formats.
#[derive(Debug, Clone)]
pub struct Mapping {
    columns: [Option<String>; 12],
    /// Whether every mapped column must be in the file (a mapping file) or only the
    /// required ones (propusk's own field names, [`Mapping::default`]).
    all_columns_required: bool,
    pub(crate) encoding: Encoding,
    pub(crate) delimiter: u8,
    pub(crate) sheet: Option<String>,
    pub(crate) date_formats: Vec<String>,
    pub(crate) default_role: Option<Role>,
    statuses: HashMap<String, RosterStatus>,
    roles: HashMap<String, Role>,
}

/// Formats tried in order when none are configured: 1C writes `01.09.2024` or
/// `01.09.2024 0:00:00`; ISO dates come from other systems and JSON.
pub const DEFAULT_DATE_FORMATS: [&str; 4] = ["%d.%m.%Y", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"];

/// How a header or a value is compared: trimmed, lower case, ё as е, single spaces.
pub(crate) fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase).map(|c| if c == 'ё' { 'е' } else { c }));
    }
    out
}

impl Default for Mapping {
    /// propusk's own field names as column names, with propusk's own status and role
    /// values: what a JSON file without a mapping uses.
    fn default() -> Self {
        let mut columns: [Option<String>; 12] = Default::default();
        for f in Field::ALL {
            if !matches!(f, Field::LastName | Field::FirstName | Field::MiddleName) {
                columns[f.index()] = Some(f.name().to_owned());
            }
        }
        Self {
            columns,
            all_columns_required: false,
            encoding: Encoding::Auto,
            delimiter: b';',
            sheet: None,
            date_formats: DEFAULT_DATE_FORMATS.map(String::from).to_vec(),
            default_role: None,
            statuses: HashMap::new(),
            roles: HashMap::new(),
        }
    }
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Self, MappingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| MappingError::Read { path: path.display().to_string(), source })?;
        Self::from_toml(&text)
    }

    /// Checks a mapping given as TOML text.
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let raw: RawMapping = toml::from_str(text)?;
        let c = raw.columns;
        let columns = [
            c.external_id,
            c.full_name,
            c.last_name,
            c.first_name,
            c.middle_name,
            c.role,
            c.unit,
            c.email,
            c.status,
            c.effective,
            c.order_number,
            c.order_date,
        ];
        let mut seen: HashMap<String, Field> = HashMap::new();
        for f in Field::ALL {
            if let Some(header) = &columns[f.index()] {
                let key = normalise(header);
                if key.is_empty() {
                    return Err(invalid(format!("columns.{}", f.name()), "an empty column name"));
                }
                if let Some(other) = seen.insert(key, f) {
                    return Err(invalid(
                        format!("columns.{}", f.name()),
                        format!("column {header:?} is already mapped to columns.{}", other.name()),
                    ));
                }
            }
        }
        let has = |f: Field| columns[f.index()].is_some();
        for f in [Field::ExternalId, Field::Status, Field::Effective] {
            if !has(f) {
                return Err(invalid(format!("columns.{}", f.name()), "required: the column that holds it"));
            }
        }
        match (has(Field::FullName), has(Field::LastName) || has(Field::FirstName) || has(Field::MiddleName)) {
            (true, true) => {
                return Err(invalid("columns.full_name", "map either full_name or last_name/first_name/middle_name"));
            }
            (false, false) => {
                return Err(invalid("columns.full_name", "required (or columns.last_name and columns.first_name)"));
            }
            (false, true) if !has(Field::LastName) || !has(Field::FirstName) => {
                return Err(invalid("columns.last_name", "last_name and first_name are mapped together"));
            }
            _ => {}
        }
        if has(Field::OrderNumber) != has(Field::OrderDate) {
            return Err(invalid("columns.order_date", "order_number and order_date are mapped together"));
        }
        let default_role = match raw.default_role {
            Some(r) => Some(r.parse::<Role>().map_err(|e| invalid("default_role", e.to_string()))?),
            None => None,
        };
        if !has(Field::Role) && default_role.is_none() {
            return Err(invalid("default_role", "required when columns.role is not mapped"));
        }
        let delimiter = match raw.delimiter.as_deref() {
            None => b';',
            Some(d) if d.len() == 1 && d.is_ascii() && !matches!(d, "\"" | "\n" | "\r") => d.as_bytes()[0],
            Some(d) => return Err(invalid("delimiter", format!("{d:?} is not one ASCII character"))),
        };
        let date_formats = raw.date_formats.unwrap_or_else(|| DEFAULT_DATE_FORMATS.map(String::from).to_vec());
        if date_formats.is_empty() {
            return Err(invalid("date_formats", "at least one format"));
        }
        for f in &date_formats {
            if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                return Err(invalid("date_formats", format!("{f:?} is not a chrono strftime format")));
            }
        }
        let mut statuses = HashMap::new();
        for (value, status) in raw.statuses {
            let s =
                status.parse::<RosterStatus>().map_err(|e| invalid(format!("statuses.{value:?}"), e.to_string()))?;
            statuses.insert(normalise(&value), s);
        }
        let mut roles = HashMap::new();
        for (value, role) in raw.roles {
            let r = role.parse::<Role>().map_err(|e| invalid(format!("roles.{value:?}"), e.to_string()))?;
            roles.insert(normalise(&value), r);
        }
        if raw.sheet.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(invalid("sheet", "an empty sheet name"));
        }
        Ok(Self {
            columns,
            all_columns_required: true,
            encoding: raw.encoding,
            delimiter,
            sheet: raw.sheet,
            date_formats,
            default_role,
            statuses,
            roles,
        })
    }

    /// The column header mapped to `field`, if any.
    pub fn column(&self, field: Field) -> Option<&str> {
        self.columns[field.index()].as_deref()
    }

    /// Whether a file without the column of `field` is refused.
    pub(crate) fn requires(&self, field: Field) -> bool {
        self.all_columns_required
            || matches!(field, Field::ExternalId | Field::FullName | Field::Status | Field::Effective)
            || (field == Field::Role && self.default_role.is_none())
    }

    /// The status a file's value stands for: the mapped value, or propusk's own name.
    pub(crate) fn status(&self, value: &str) -> Option<RosterStatus> {
        let key = normalise(value);
        self.statuses.get(&key).copied().or_else(|| key.parse().ok())
    }

    /// The role a file's value stands for: the mapped value, or propusk's own name.
    pub(crate) fn role(&self, value: &str) -> Option<Role> {
        let key = normalise(value);
        self.roles.get(&key).copied().or_else(|| key.parse().ok())
    }

    /// The mapped fields and their column positions in a file with `headers`; a mapped
    /// column the file lacks is an error naming it.
    pub(crate) fn locate<'h>(
        &self,
        headers: impl IntoIterator<Item = &'h str>,
    ) -> Result<[Option<usize>; 12], super::FileError> {
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        for (i, h) in headers.into_iter().enumerate() {
            let key = normalise(h.trim_start_matches('\u{feff}'));
            if !key.is_empty() && by_name.insert(key.clone(), i).is_some() {
                duplicates.push(key);
            }
        }
        let mut at = [None; 12];
        for f in Field::ALL {
            let Some(header) = self.column(f) else { continue };
            let key = normalise(header);
            if duplicates.contains(&key) {
                return Err(super::FileError::DuplicateColumn { column: header.to_owned() });
            }
            match by_name.get(&key) {
                Some(&i) => at[f.index()] = Some(i),
                None if self.requires(f) => {
                    return Err(super::FileError::MissingColumn { column: header.to_owned(), field: f.name() });
                }
                None => {}
            }
        }
        Ok(at)
    }
}
