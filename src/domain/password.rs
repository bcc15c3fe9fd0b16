//! The password policy of D-2 and the generation of issued passwords.
//!
//! A password is refused when it is too short, when it is in the shipped list of common
//! and breached passwords (also after mapping the Russian keyboard layout to Latin keys,
//! the classic "gfhjkm" for "пароль"), when the zxcvbn estimator finds it guessable in
//! under a million tries, or when it contains the login or a part of the person's name.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use rand::Rng;

/// A password as typed or issued. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a new password is refused. The variants are shown to the person choosing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("the password is shorter than {0} characters")]
    TooShort(usize),
    #[error("the password is longer than {0} characters")]
    TooLong(usize),
    #[error("the password is among commonly used or leaked passwords")]
    Common,
    #[error("the password is too easy to guess")]
    Guessable,
    #[error("the password contains the login")]
    ContainsLogin,
    #[error("the password contains a part of the name")]
    ContainsName,
    #[error("the new password is the same as the current one")]
    Unchanged,
    #[error("the two new passwords differ")]
    Mismatch,
}

/// The configurable part of D-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8, max_length: 128 }
    }
}

impl PasswordPolicy {
    /// Checks a password chosen by `login` whose name is `full_name`.
    pub fn check(&self, password: &str, login: &str, full_name: &str) -> Result<(), PasswordProblem> {
        let len = password.chars().count();
        if len < self.min_length {
            return Err(PasswordProblem::TooShort(self.min_length));
        }
        if len > self.max_length {
            return Err(PasswordProblem::TooLong(self.max_length));
        }
        let lower = password.to_lowercase();
        let latin = latin_keys(&lower);
        if is_common(&lower) || is_common(&latin) || is_common(strip_digits_and_marks(&lower)) {
            return Err(PasswordProblem::Common);
        }
        // The whole login, and each part of it such as "ivanov" in "ivanov.ii".
        let login_l = login.to_lowercase();
        let login_parts =
            std::iter::once(login_l.as_str()).chain(login_l.split(['.', '_', '-']).filter(|p| p.len() >= 4));
        for part in login_parts {
            if part.len() >= 3 && (lower.contains(part) || latin.contains(part)) {
                return Err(PasswordProblem::ContainsLogin);
            }
        }
        let name_parts: Vec<String> = full_name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| p.chars().count() >= 3)
            .map(str::to_lowercase)
            .collect();
        if name_parts.iter().any(|p| lower.contains(p.as_str()) || latin.contains(&latin_keys(p))) {
            return Err(PasswordProblem::ContainsName);
        }
        let mut inputs: Vec<&str> = vec![login];
        inputs.extend(name_parts.iter().map(String::as_str));
        if zxcvbn::zxcvbn(password, &inputs).guesses_log10() < 6.0 {
            return Err(PasswordProblem::Guessable);
        }
        Ok(())
    }
}

/// Letters for issued passwords: no 0/o, 1/l/i, so a printed slip cannot be misread.
const ISSUE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A password for an administrator to hand over: four groups of four characters
/// from a 31-letter alphabet, about 79 bits, easy to type from paper.
pub fn generate_issued(rng: &mut impl Rng) -> Password {
    let groups: Vec<String> = (0..4)
        .map(|_| (0..4).map(|_| char::from(ISSUE_ALPHABET[rng.gen_range(0..ISSUE_ALPHABET.len())])).collect())
        .collect();
    Password(groups.join("-"))
}

fn common_list() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

fn is_common(lower: &str) -> bool {
    common_list().contains(lower)
}

/// "Password123!" is as common as "password": drop trailing digits and punctuation.
fn strip_digits_and_marks(s: &str) -> &str {
    s.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
}

/// Maps letters typed with the Russian ЙЦУКЕН layout to the Latin keys under them.
fn latin_keys(s: &str) -> String {
    const RU: &str = "йцукенгшщзхъфывапролджэячсмитьбюё";
    const EN: &str = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`";
    s.chars().map(|c| RU.chars().position(|r| r == c).and_then(|i| EN.chars().nth(i)).unwrap_or(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn policy_table() {
        let p = PasswordPolicy::default();
        let login = "ivanov.ii";
        let name = "Иванов Иван Ильич";
        let cases: &[(&str, Result<(), PasswordProblem>)] = &[
            ("short1!", Err(PasswordProblem::TooShort(8))),
            ("password", Err(PasswordProblem::Common)),
            ("Password123!", Err(PasswordProblem::Common)),
            ("QWERTY123", Err(PasswordProblem::Common)),
            ("gfhjkm123", Err(PasswordProblem::Common)),
            ("пароль123", Err(PasswordProblem::Common)),
            ("йцукенгшщз", Err(PasswordProblem::Common)),
            ("x-ivanov.ii-9", Err(PasswordProblem::ContainsLogin)),
            ("Иванов-лучший-2024", Err(PasswordProblem::ContainsName)),
            ("bdfyjd-krjr-88", Err(PasswordProblem::ContainsName)), // "иванов" on Latin keys
            ("Ivanov-forever-88", Err(PasswordProblem::ContainsLogin)),
            ("aaaaaaaaaaaa", Err(PasswordProblem::Guessable)),
            ("1234512345", Err(PasswordProblem::Guessable)),
            ("correct horse battery", Ok(())),
            ("Сирень-за-окном-42", Ok(())),
            ("t7#kQ!2vLm", Ok(())),
        ];
        for (pw, want) in cases {
            assert_eq!(p.check(pw, login, name), *want, "{pw:?}");
        }
        let long = "Zq7!".repeat(40);
        assert_eq!(p.check(&long, login, name), Err(PasswordProblem::TooLong(128)));
    }

    #[test]
    fn issued_passwords_are_strong_unambiguous_and_pass_the_policy() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let pw = generate_issued(&mut rng);
            let s = pw.expose();
            assert_eq!(s.len(), 19);
            assert!(s.split('-').all(|g| g.len() == 4));
            assert!(!s.contains(['0', 'o', '1', 'l', 'i']));
            assert_eq!(PasswordPolicy::default().check(s, "student.x", "Студент Икс"), Ok(()));
            assert!(seen.insert(s.to_owned()));
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        assert!(!format!("{:?}", Password::new("hunter2-secret")).contains("hunter2"));
    }

    #[test]
    fn the_shipped_list_is_loaded() {
        assert!(common_list().len() > 250);
        assert_eq!(latin_keys("пароль"), "gfhjkm");
    }
}
