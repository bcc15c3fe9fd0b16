//! Escaping values before they go into an LDAP search filter (RFC 4515) or a
//! distinguished name (RFC 4514). Pure functions: no I/O.

/// Escapes `value` for use as an assertion value in a search filter.
///
/// RFC 4515 §3: `*`, `(`, `)`, `\` and NUL must be written as `\XX`. Every other byte
/// outside printable ASCII is escaped too, so a filter is plain ASCII whatever the input
/// (the directory decodes `\XX` back to the same UTF-8 bytes).
pub fn filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for b in value.bytes() {
        match b {
            b'*' | b'(' | b')' | b'\\' | 0 => out.push_str(&format!("\\{b:02x}")),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:02x}")),
        }
    }
    out
}

/// Escapes `value` for use as an attribute value in a distinguished name.
///
/// RFC 4514 §2.4: `"`, `+`, `,`, `;`, `<`, `>` and `\` are escaped with a backslash
/// anywhere, a leading space or `#` and a trailing space too, and NUL as `\00`.
pub fn dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\00"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            _ => out.push(c),
        }
    }
    out
}

/// The first RDN's value of a DN (`cn=students,ou=groups,…` gives `students`), with
/// backslash escapes of the forms `\c` and `\XX` undone; `None` if it has no `=`.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let (_, rest) = dn.split_once('=')?;
    let mut bytes = Vec::new();
    let mut it = rest.bytes().peekable();
    while let Some(b) = it.next() {
        match b {
            b'\\' => {
                let Some(n) = it.next() else { break };
                let hex = |x: u8| char::from(x).to_digit(16);
                match (hex(n), it.peek().copied().and_then(hex)) {
                    (Some(h), Some(l)) => {
                        it.next();
                        bytes.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    }
                    _ => bytes.push(n),
                }
            }
            b',' | b'+' => break,
            _ => bytes.push(b),
        }
    }
    Some(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// A DN compared loosely: lower case, no spaces around separators.
pub fn normalise_dn(dn: &str) -> String {
    dn.split(',').map(|rdn| rdn.trim().replace(" = ", "=").to_lowercase()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_escaped_per_rfc_4515() {
        let cases = [
            ("ivanov.ii", "ivanov.ii"),
            ("*", "\\2a"),
            ("a*)(uid=*", "a\\2a\\29\\28uid=\\2a"),
            ("x\\y", "x\\5cy"),
            ("nul\0", "nul\\00"),
            ("*)(|(objectClass=*)", "\\2a\\29\\28|\\28objectClass=\\2a\\29"),
            ("Иван", "\\d0\\98\\d0\\b2\\d0\\b0\\d0\\bd"),
            ("tab\there", "tab\\09here"),
        ];
        for (input, want) in cases {
            assert_eq!(filter_value(input), want, "{input:?}");
        }
    }

    #[test]
    fn dn_values_are_escaped_per_rfc_4514() {
        let cases = [
            ("ivanov.ii", "ivanov.ii"),
            ("Smith, John", "Smith\\, John"),
            (" lead", "\\ lead"),
            ("trail ", "trail\\ "),
            ("#hash", "\\#hash"),
            ("a+b=c;d<e>f\"g\\", "a\\+b\\=c\\;d\\<e\\>f\\\"g\\\\"),
            ("nul\0", "nul\\00"),
            ("Иванов", "Иванов"),
        ];
        for (input, want) in cases {
            assert_eq!(dn_value(input), want, "{input:?}");
        }
    }

    #[test]
    fn the_first_rdn_value_is_read_back() {
        assert_eq!(first_rdn_value("cn=students,ou=groups,dc=x").as_deref(), Some("students"));
        assert_eq!(first_rdn_value("CN=Smith\\, John,OU=People").as_deref(), Some("Smith, John"));
        assert_eq!(first_rdn_value("cn=\\d0\\98\\d0\\a1-21,ou=g").as_deref(), Some("ИС-21"));
        assert_eq!(first_rdn_value("no rdn"), None);
        assert_eq!(normalise_dn("CN=Students, OU=Groups,DC=X"), "cn=students,ou=groups,dc=x");
    }
}
