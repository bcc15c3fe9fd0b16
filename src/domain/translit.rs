//! Logins made from Russian names: transliteration by ГОСТ 7.79-2000 system B or ICAO
//! Doc 9303, and the configurable login pattern with collision suffixes (R-6).
//!
//! Pure: no I/O, no store. The caller knows which logins are taken and takes the first
//! free one from [`login_candidates`].

use std::fmt;
use std::str::FromStr;

use super::ids::Login;

/// A transliteration system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// ГОСТ 7.79-2000, system B (Table 1, "система Б"): щ → shh, х → x, ц → c/cz, й → j.
    #[default]
    GostB,
    /// ICAO Doc 9303 Part 3 §6 (Russian passports since 2013): щ → shch, х → kh, ц → ts.
    Icao,
}

impl FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "gost_b" => Ok(Scheme::GostB),
            "icao" => Ok(Scheme::Icao),
            other => Err(format!("unknown transliteration scheme {other:?}; known: gost_b, icao")),
        }
    }
}

/// ГОСТ 7.79-2000 system B, Table 1, for a lower-case letter, as the standard writes it
/// (with its ` and ' marks). `ц` is resolved by [`transliterate`], which looks ahead.
/// Ukrainian and Belarusian letters of the same table are included for names from there.
fn gost_b(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' => "e",
        'ё' => "yo",
        'ж' => "zh",
        'з' => "z",
        'и' => "i",
        'й' => "j",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "x",
        'ц' => "cz",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shh",
        'ъ' => "``",
        'ы' => "y'",
        'ь' => "`",
        'э' => "e`",
        'ю' => "yu",
        'я' => "ya",
        // Ukrainian and Belarusian (same table).
        'і' => "i",
        'ї' => "yi",
        'є' => "ye",
        'ґ' => "g`",
        'ў' => "u`",
        _ => return None,
    })
}

/// ICAO Doc 9303 Part 3, §6 table of Cyrillic characters (Russian, with the Ukrainian and
/// Belarusian letters of the same table), for a lower-case letter.
fn icao(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' => "e",
        'ё' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' => "i",
        'й' => "i",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' => "ie",
        'ы' => "y",
        'ь' => "",
        'э' => "e",
        'ю' => "iu",
        'я' => "ia",
        'і' => "i",
        'ї' => "i",
        'є' => "ie",
        'ґ' => "g",
        'ў' => "u",
        _ => return None,
    })
}

fn letter(c: char, scheme: Scheme) -> Option<&'static str> {
    match scheme {
        Scheme::GostB => gost_b(c),
        Scheme::Icao => icao(c),
    }
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// The lower-case transliteration of `text` as the scheme writes it (GOST's ` and ' marks
/// included). Latin letters are lower-cased; every other character is kept as it is.
pub fn transliterate(text: &str, scheme: Scheme) -> String {
    let chars: Vec<char> = text.chars().map(lower).collect();
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for (i, &c) in chars.iter().enumerate() {
        if c == 'ц' && scheme == Scheme::GostB {
            // ГОСТ 7.79-2000, Table 1 note: c before i, e, y, j; cz elsewhere.
            let next = chars.get(i + 1).map(|&n| letter(n, scheme).map_or(n, |s| s.chars().next().unwrap_or(' ')));
            out.push_str(if matches!(next, Some('i' | 'e' | 'y' | 'j')) { "c" } else { "cz" });
        } else if let Some(s) = letter(c, scheme) {
            out.push_str(s);
        } else {
            out.push(c);
        }
    }
    out
}

/// One name part as it goes into a login: transliterated, only `[a-z0-9]` kept, a hyphen
/// kept between the pieces of a double name (Римский-Корсаков → rimskij-korsakov).
fn login_part(name: &str, scheme: Scheme) -> String {
    let pieces: Vec<String> = name
        .split(|c: char| c == '-' || c == '‐' || c == '–' || c.is_whitespace())
        .map(|p| transliterate(p, scheme).chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).collect())
        .filter(|p: &String| !p.is_empty())
        .collect();
    pieces.join("-")
}

/// A name split the Russian way: «Фамилия Имя Отчество». One part is a surname alone; a
/// patronymic of several words (Гусейн оглы) stays whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName<'a> {
    pub last: &'a str,
    pub first: Option<&'a str>,
    pub middle: Option<&'a str>,
}

impl<'a> PersonName<'a> {
    pub fn split(full_name: &'a str) -> Self {
        let s = full_name.trim();
        let (last, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let rest = rest.trim_start();
        let (first, middle) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let middle = middle.trim();
        Self { last, first: Some(first).filter(|f| !f.is_empty()), middle: Some(middle).filter(|m| !m.is_empty()) }
    }
}

/// One piece of a login pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Last,
    First,
    Middle,
    FirstInitial,
    MiddleInitial,
}

/// A login pattern such as `{last}.{f}{m}`: placeholders `{last}`, `{first}`, `{middle}`,
/// `{f}` and `{m}` (initials) between literal `[a-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPattern {
    source: String,
    pieces: Vec<Piece>,
}

/// Why a login pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("unknown placeholder {{{0}}}; known: {{last}}, {{first}}, {{middle}}, {{f}}, {{m}}")]
    UnknownPlaceholder(String),
    #[error("a '{{' without its '}}'")]
    Unclosed,
    #[error("a '}}' without its '{{'")]
    Unopened,
    #[error("{0:?} cannot be in a login: only a-z, 0-9, '.', '_' and '-' between placeholders")]
    Character(char),
    #[error("a login pattern needs {{last}} or {{first}}")]
    NoName,
}

impl LoginPattern {
    /// `{last}.{f}{m}`: «Иванов Иван Петрович» → `ivanov.ip`.
    pub const DEFAULT: &'static str = "{last}.{f}{m}";

    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let mut pieces = Vec::new();
        let mut rest = source.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let (name, tail) = after.split_once('}').ok_or(PatternError::Unclosed)?;
                pieces.push(match name.trim() {
                    "last" => Piece::Last,
                    "first" => Piece::First,
                    "middle" => Piece::Middle,
                    "f" => Piece::FirstInitial,
                    "m" => Piece::MiddleInitial,
                    other => return Err(PatternError::UnknownPlaceholder(other.to_owned())),
                });
                rest = tail;
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let text = rest[..end].to_ascii_lowercase();
                if text.contains('}') {
                    return Err(PatternError::Unopened);
                }
                if let Some(c) = text
                    .chars()
                    .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
                {
                    return Err(PatternError::Character(c));
                }
                pieces.push(Piece::Text(text));
                rest = &rest[end..];
            }
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Last | Piece::First)) {
            return Err(PatternError::NoName);
        }
        Ok(Self { source: source.trim().to_owned(), pieces })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The login the pattern gives for `full_name`, before any collision suffix; `None`
    /// when the name has no letter that makes a login.
    pub fn base_login(&self, full_name: &str, scheme: Scheme) -> Option<String> {
        let name = PersonName::split(full_name);
        let part = |p: Option<&str>| p.map(|p| login_part(p, scheme)).unwrap_or_default();
        let initial = |p: Option<&str>| part(p).chars().find(char::is_ascii_lowercase).map(String::from);
        let mut raw = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => raw.push_str(t),
                Piece::Last => raw.push_str(&part(Some(name.last))),
                Piece::First => raw.push_str(&part(name.first)),
                Piece::Middle => raw.push_str(&part(name.middle)),
                Piece::FirstInitial => raw.push_str(&initial(name.first).unwrap_or_default()),
                Piece::MiddleInitial => raw.push_str(&initial(name.middle).unwrap_or_default()),
            }
        }
        let login = tidy(&raw, Login::MAX_LEN);
        (!login.is_empty()).then_some(login)
    }
}

impl FromStr for LoginPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Default for LoginPattern {
    fn default() -> Self {
        Self {
            source: Self::DEFAULT.to_owned(),
            pieces: vec![Piece::Last, Piece::Text(".".into()), Piece::FirstInitial, Piece::MiddleInitial],
        }
    }
}

impl fmt::Display for LoginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for LoginPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, '.' | '_' | '-')
}

/// Lower case, only `[a-z0-9._-]`, starting with a letter, no doubled or trailing
/// separators (a missing part leaves none behind), at most `max` characters.
fn tidy(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().map(|c| c.to_ascii_lowercase()) {
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || is_separator(c);
        if !keep || (out.is_empty() && !c.is_ascii_lowercase()) {
            continue;
        }
        if is_separator(c) && out.ends_with(is_separator) {
            continue;
        }
        out.push(c);
    }
    out.truncate(max);
    while out.ends_with(is_separator) {
        out.pop();
    }
    out
}

/// The logins to try for a new person, best first: the pattern's login, then the same
/// with 2, 3, … appended (shortened to fit [`Login::MAX_LEN`]). The caller takes the
/// first one not taken. Empty when the name has no letter that makes a login.
pub fn login_candidates(
    full_name: &str,
    pattern: &LoginPattern,
    scheme: Scheme,
) -> impl Iterator<Item = Login> + use<> {
    let base = pattern.base_login(full_name, scheme);
    base.into_iter().flat_map(|base| {
        (1..=u32::MAX).filter_map(move |n| {
            if n == 1 {
                return Login::parse(&base).ok();
            }
            let suffix = n.to_string();
            let stem = tidy(&base, Login::MAX_LEN - suffix.len());
            Login::parse(&format!("{stem}{suffix}")).ok()
        })
    })
}

#[cfg(test)]
#[path = "translit_tests.rs"]
mod tests;
