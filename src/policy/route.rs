//! Host names, path patterns and URLs of the resource catalogue: their syntax, how a
//! forward-auth request is matched to a rule, and when two rules overlap.
//!
//! Owns the text rules only. Must not know about roles or decisions: a request that
//! matches no rule is simply unmatched, and the caller refuses it.

use std::fmt;

/// A path pattern of a forward-auth rule.
///
/// `/exact` matches only that path; `/prefix/*` matches `/prefix`, `/prefix/` and every
/// path under it; `/*` matches every path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    /// The part before `/*`; empty for `/*`.
    Prefix(String),
}

impl PathPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.starts_with('/') {
            return Err(format!("path pattern {s:?} must start with '/'"));
        }
        let (base, prefix) = match s.strip_suffix("/*") {
            Some(base) => (base, true),
            None => (s, false),
        };
        if base.contains('*') {
            return Err(format!("path pattern {s:?}: '*' is allowed only as a final \"/*\""));
        }
        if !is_clean_path(if base.is_empty() { "/" } else { base }) {
            return Err(format!(
                "path pattern {s:?}: no spaces, '?', '#', '\\', empty segments, \".\" or \"..\" \
                 segments, or escapes of them"
            ));
        }
        Ok(if prefix { PathPattern::Prefix(base.to_owned()) } else { PathPattern::Exact(base.to_owned()) })
    }

    /// Whether this pattern matches `path` (already cleaned by [`clean_request_path`]).
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Prefix(base) => {
                base.is_empty()
                    || path == base
                    || path.strip_prefix(base.as_str()).is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }

    /// Whether some path is matched by both patterns.
    pub fn overlaps(&self, other: &PathPattern) -> bool {
        match (self, other) {
            (PathPattern::Exact(a), PathPattern::Exact(b)) => a == b,
            (PathPattern::Exact(a), p @ PathPattern::Prefix(_))
            | (p @ PathPattern::Prefix(_), PathPattern::Exact(a)) => p.matches(a),
            (PathPattern::Prefix(a), PathPattern::Prefix(b)) => {
                a.is_empty() || b.is_empty() || self.matches(b) || other.matches(a)
            }
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::Exact(p) => f.write_str(p),
            PathPattern::Prefix(base) => write!(f, "{base}/*"),
        }
    }
}

/// A path without query, fragment, backslashes, empty segments, dot segments or
/// percent-escapes that could hide any of those: anything a server might read differently
/// from us. Other escapes (Cyrillic group names, say) are fine.
fn is_clean_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '\\'))
        && escapes_are_harmless(p)
        && (p == "/" || p[1..].split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".."))
}

/// Every `%` starts a two-digit hex escape that is not `.`, `/`, `\`, `%` or NUL.
fn escapes_are_harmless(p: &str) -> bool {
    let b = p.as_bytes();
    b.iter().enumerate().filter(|(_, c)| **c == b'%').all(|(i, _)| match (b.get(i + 1), b.get(i + 2)) {
        (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
            let code = [h.to_ascii_uppercase(), l.to_ascii_uppercase()];
            !matches!(&code, b"2E" | b"2F" | b"5C" | b"25" | b"00")
        }
        _ => false,
    })
}

/// The path of a forward-auth request in the form rules are matched against: the query
/// and fragment dropped. `None` when the path could be read differently by the backend
/// (dot segments, empty segments, percent-escapes, backslashes): such a request matches
/// no rule and is refused.
pub fn clean_request_path(raw: &str) -> Option<&str> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    let trimmed = match path.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => path,
    };
    is_clean_path(trimmed).then_some(trimmed)
}

/// A host name of a forward-auth rule: lowercase DNS labels, at least two of them.
pub fn check_host(h: &str) -> Result<(), String> {
    let labels: Vec<&str> = h.split('.').collect();
    let ok = h.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "host {h:?} is not a lowercase DNS name such as \"timetable.college.example\" \
             (no port, no wildcard)"
        ))
    }
}

/// The host of a forward-auth request as rules name it: lower case, no port, no final dot.
pub fn clean_request_host(raw: &str) -> String {
    let host = raw.trim();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Checks a resource URL (`https://host[:port]/path…`) and returns its host.
pub fn check_url(u: &str) -> Result<&str, String> {
    let bad = |why: &str| Err(format!("url {u:?}: {why}"));
    let Some(rest) = u.strip_prefix("https://") else {
        return bad("must start with \"https://\"");
    };
    if u.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\')) {
        return bad("must not contain spaces, control characters, quotes, '<', '>' or '\\'");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return bad("must not carry a user name or password");
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) => {
            if !port.parse::<u16>().is_ok_and(|p| p > 0) {
                return bad("the port must be a number from 1 to 65535");
            }
            host
        }
        None => authority,
    };
    if check_host(host).is_err() {
        return bad("the host must be a lowercase DNS name such as \"lms.college.example\"");
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).expect(s)
    }

    #[test]
    fn patterns_parse_or_say_why_not() {
        assert_eq!(pat("/"), PathPattern::Exact("/".into()));
        assert_eq!(pat("/*"), PathPattern::Prefix(String::new()));
        assert_eq!(pat("/edit/*"), PathPattern::Prefix("/edit".into()));
        for bad in ["", "edit", "/a*", "/*/x", "/a//b", "/a/../b", "/a/./b", "/a?b", "/%2e"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_match_paths() {
        let cases = [
            ("/*", "/", true),
            ("/*", "/anything/at/all", true),
            ("/edit/*", "/edit", true),
            ("/edit/*", "/edit/week/3", true),
            ("/edit/*", "/editor", false),
            ("/edit/*", "/", false),
            ("/", "/", true),
            ("/", "/x", false),
            ("/status", "/status", true),
            ("/status", "/status/x", false),
        ];
        for (p, path, want) in cases {
            assert_eq!(pat(p).matches(path), want, "{p} vs {path}");
        }
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        let cases = [
            ("/*", "/", true),
            ("/*", "/edit/*", true),
            ("/edit/*", "/edit/week/*", true),
            ("/edit/*", "/edit", true),
            ("/edit/*", "/editor/*", false),
            ("/edit/*", "/view/*", false),
            ("/", "/view/*", false),
            ("/a", "/a", true),
            ("/a", "/b", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(pat(a).overlaps(&pat(b)), want, "{a} vs {b}");
            assert_eq!(pat(b).overlaps(&pat(a)), want, "{b} vs {a}");
        }
    }

    #[test]
    fn request_paths_and_hosts_are_cleaned() {
        let paths = [
            ("/edit/x?week=3", Some("/edit/x")),
            ("/edit/", Some("/edit")),
            ("/", Some("/")),
            ("/#top", Some("/")),
            ("/view/../edit", None),
            ("/view/%2e%2e/edit", None),
            ("/view%2Fedit", None),
            ("/group/%D0%98%D0%A1-21", Some("/group/%D0%98%D0%A1-21")),
            ("/a%zz", None),
            ("//edit", None),
            ("/a\\b", None),
            ("edit", None),
        ];
        for (raw, want) in paths {
            assert_eq!(clean_request_path(raw), want, "{raw:?}");
        }
        assert_eq!(clean_request_host("Timetable.College.Example.:443"), "timetable.college.example");
    }

    #[test]
    fn urls_are_https_with_a_host() {
        assert_eq!(check_url("https://lms.college.example/login?x=1"), Ok("lms.college.example"));
        assert_eq!(check_url("https://lms.college.example:8443"), Ok("lms.college.example"));
        for bad in [
            "http://lms.college.example/",
            "https://",
            "https://lms",
            "https://user@lms.college.example/",
            "https://lms.college.example:0/",
            "https://lms.college.example/a b",
            "https://LMS.college.example/",
            "lms.college.example",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }
}
