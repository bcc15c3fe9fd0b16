//! The resource catalogue (`resources.toml`): which connected services exist, what each
//! is for, who owns it and how it takes part in single sign-on.
//!
//! Owns the catalogue's types and its validation, with every problem placed at a file
//! line. Must not decide who may use a resource: that is the role policies' job.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use super::deprovision::{Deprovision, RawDeprovision};
use super::error::{PolicyError, Problem};
use super::route::{PathPattern, check_host, check_url};

/// A resource's id in the catalogue, the policies and the launcher: `[a-z0-9-]+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && !s.starts_with('-')
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(PolicyError::ResourceId(s.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ResourceId {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who answers for a resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owner {
    pub name: String,
    pub contact: String,
}

/// How a resource takes part in single sign-on (REQUIREMENTS.md, "What each resource
/// can do").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integration {
    /// An OpenID Connect client of propusk.
    Oidc { client_id: String },
    /// A self-hosted app behind a reverse proxy that asks propusk about each request.
    /// `identity` lists what it is told besides the login: `name`, `email`,
    /// `groups` (the roles).
    ForwardAuth { hosts: Vec<String>, paths: Vec<PathPattern>, identity: Vec<String> },
    /// Binds to propusk's LDAP directory.
    Ldap,
    /// No single sign-on: the launcher only links to it.
    Link,
}

impl Integration {
    pub const KINDS: [&'static str; 4] = ["oidc", "forward_auth", "ldap", "link"];

    /// The kind as written in the catalogue and seen by the policies.
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Oidc { .. } => "oidc",
            Integration::ForwardAuth { .. } => "forward_auth",
            Integration::Ldap => "ldap",
            Integration::Link => "link",
        }
    }
}

/// What a forward-auth resource is told about a person besides the login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Release {
    pub name: bool,
    pub email: bool,
    pub groups: bool,
}

impl Release {
    pub const ATTRIBUTES: [&'static str; 3] = ["name", "email", "groups"];
}

impl Resource {
    /// The identity attributes released to this resource through forward-auth.
    pub fn releases(&self) -> Release {
        let Integration::ForwardAuth { identity, .. } = &self.integration else {
            return Release::default();
        };
        let has = |a: &str| identity.iter().any(|i| i == a);
        Release { name: has("name"), email: has("email"), groups: has("groups") }
    }
}

/// One connected service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    pub title_ru: String,
    pub title_en: String,
    pub description_ru: String,
    pub description_en: String,
    /// Where the launcher sends people.
    pub url: String,
    /// Why the college runs it.
    pub purpose: String,
    pub owner: Owner,
    /// Tags the role policies grant access by ("everyone", "library", …).
    pub audience: Vec<String>,
    pub integration: Integration,
    /// How the resource is told that a person has left (`None`: nothing to do there).
    pub deprovision: Option<Deprovision>,
    /// The line of `resources.toml` where its `[[resource]]` table starts.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    resource: Vec<Spanned<RawResource>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    id: Spanned<String>,
    title_ru: Spanned<String>,
    title_en: Spanned<String>,
    description_ru: Spanned<String>,
    description_en: Spanned<String>,
    url: Spanned<String>,
    purpose: Spanned<String>,
    owner: RawOwner,
    audience: Vec<Spanned<String>>,
    integration: Spanned<RawIntegration>,
    deprovision: Option<Spanned<RawDeprovision>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwner {
    name: Spanned<String>,
    contact: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    kind: Spanned<String>,
    client_id: Option<Spanned<String>>,
    hosts: Option<Spanned<Vec<Spanned<String>>>>,
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    identity: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Collects problems placed in one file.
struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn at(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push(Problem::at(self.file, self.text, offset, message));
    }

    fn line(&self, offset: usize) -> usize {
        super::error::line_and_column(self.text, offset).0
    }
}

/// Parses and checks `text`, the contents of `file`. Every problem is reported, not just
/// the first.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Vec<Resource>, Vec<Problem>> {
    let raw: RawCatalogue = toml::from_str(text).map_err(|e| {
        vec![match e.span() {
            Some(span) => Problem::at(file, text, span.start, e.message()),
            None => Problem::in_file(file, e.message()),
        }]
    })?;
    let mut report = Report { file, text, problems: Vec::new() };
    if raw.resource.is_empty() {
        report.problems.push(Problem::in_file(file, "no [[resource]] is defined"));
    }
    let mut resources = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut clients: HashMap<String, (String, usize)> = HashMap::new();
    let mut paths_at: HashMap<ResourceId, usize> = HashMap::new();
    for spanned in raw.resource {
        let start = spanned.span().start;
        let raw = spanned.into_inner();
        let integration = raw.integration.get_ref();
        let paths_offset = integration.paths.as_ref().map_or(start, |p| p.span().start);
        let client_offset = integration.client_id.as_ref().map_or(start, |c| c.span().start);
        if let Some(first) = ids.get(raw.id.get_ref()) {
            report.at(
                raw.id.span().start,
                format!("duplicate resource id {:?}: already defined at line {first}", raw.id.get_ref()),
            );
        } else {
            ids.insert(raw.id.get_ref().clone(), report.line(raw.id.span().start));
        }
        if let Some(r) = resource(&mut report, start, raw) {
            if let Integration::Oidc { client_id } = &r.integration {
                match clients.get(client_id) {
                    Some((other, line)) => report.at(
                        client_offset,
                        format!(
                            "resource {:?}: OIDC client_id {client_id:?} is already used by \
                             {other:?} at line {line}",
                            r.id.as_str()
                        ),
                    ),
                    None => {
                        clients.insert(client_id.clone(), (r.id.to_string(), r.line));
                    }
                }
            }
            paths_at.insert(r.id.clone(), paths_offset);
            resources.push(r);
        }
    }
    check_overlaps(&mut report, &resources, &paths_at);
    if report.problems.is_empty() { Ok(resources) } else { Err(report.problems) }
}

fn resource(report: &mut Report<'_>, start: usize, raw: RawResource) -> Option<Resource> {
    let before = report.problems.len();
    let id = match ResourceId::parse(raw.id.get_ref()) {
        Ok(id) => Some(id),
        Err(e) => {
            report.at(raw.id.span().start, e.to_string());
            None
        }
    };
    let mut text = |field: &str, v: &Spanned<String>, max: usize| -> String {
        let s = v.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
            report.at(v.span().start, format!("{field}: required, at most {max} characters, no control characters"));
        }
        s
    };
    let title_ru = text("title_ru", &raw.title_ru, 80);
    let title_en = text("title_en", &raw.title_en, 80);
    let description_ru = text("description_ru", &raw.description_ru, 500);
    let description_en = text("description_en", &raw.description_en, 500);
    let purpose = text("purpose", &raw.purpose, 500);
    let owner = Owner {
        name: text("owner.name", &raw.owner.name, 200),
        contact: text("owner.contact", &raw.owner.contact, 200),
    };
    let url_host = match check_url(raw.url.get_ref()) {
        Ok(host) => Some(host.to_owned()),
        Err(e) => {
            report.at(raw.url.span().start, e);
            None
        }
    };
    let mut audience: Vec<String> = Vec::new();
    for tag in &raw.audience {
        if ResourceId::parse(tag.get_ref()).is_err() {
            report.at(
                tag.span().start,
                format!("audience tag {:?}: lowercase Latin letters, digits and '-' only", tag.get_ref()),
            );
        } else if audience.contains(tag.get_ref()) {
            report.at(tag.span().start, format!("audience tag {:?} is listed twice", tag.get_ref()));
        } else {
            audience.push(tag.get_ref().clone());
        }
    }
    let integration = integration(report, raw.integration, url_host.as_deref());
    let deprovision = raw.deprovision.map(|d| {
        super::deprovision::parse(d).map_err(|problems| {
            for (offset, message) in problems {
                report.at(offset, message);
            }
        })
    });
    let line = report.line(start);
    if report.problems.len() > before {
        return None;
    }
    Some(Resource {
        id: id?,
        title_ru,
        title_en,
        description_ru,
        description_en,
        url: raw.url.into_inner(),
        purpose,
        owner,
        audience,
        integration: integration?,
        deprovision: deprovision.transpose().ok()?,
        line,
    })
}

fn integration(report: &mut Report<'_>, raw: Spanned<RawIntegration>, url_host: Option<&str>) -> Option<Integration> {
    let at = raw.span().start;
    let raw = raw.into_inner();
    let kind = raw.kind.get_ref().as_str();
    let mut unwanted = |name: &str, present: Option<usize>| {
        if let Some(offset) = present {
            report.at(offset, format!("integration kind {kind:?} takes no {name}"));
        }
    };
    let span_of = |s: &Option<Spanned<String>>| s.as_ref().map(|v| v.span().start);
    let span_of_list = |s: &Option<Spanned<Vec<Spanned<String>>>>| s.as_ref().map(|v| v.span().start);
    match kind {
        "oidc" => {
            unwanted("identity", span_of_list(&raw.identity));
            unwanted("hosts", span_of_list(&raw.hosts));
            unwanted("paths", span_of_list(&raw.paths));
            let Some(client_id) = raw.client_id else {
                report.at(at, "integration kind \"oidc\" needs a client_id");
                return None;
            };
            let c = client_id.get_ref();
            let ok = !c.is_empty()
                && c.len() <= 128
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                report.at(
                    client_id.span().start,
                    format!("client_id {c:?}: 1 to 128 Latin letters, digits, '-', '_' and '.'"),
                );
                return None;
            }
            Some(Integration::Oidc { client_id: client_id.into_inner() })
        }
        "forward_auth" => {
            unwanted("client_id", span_of(&raw.client_id));
            let (Some(hosts), Some(paths)) = (raw.hosts, raw.paths) else {
                report.at(at, "integration kind \"forward_auth\" needs both hosts and paths");
                return None;
            };
            forward_auth(report, hosts, paths, raw.identity, url_host)
        }
        "ldap" | "link" => {
            unwanted("identity", span_of_list(&raw.identity));
            unwanted("client_id", span_of(&raw.client_id));
            unwanted("hosts", span_of_list(&raw.hosts));
            unwanted("paths", span_of_list(&raw.paths));
            Some(if kind == "ldap" { Integration::Ldap } else { Integration::Link })
        }
        other => {
            report.at(
                raw.kind.span().start,
                format!("unknown integration kind {other:?}; known kinds: {}", Integration::KINDS.join(", ")),
            );
            None
        }
    }
}

fn forward_auth(
    report: &mut Report<'_>,
    hosts: Spanned<Vec<Spanned<String>>>,
    paths: Spanned<Vec<Spanned<String>>>,
    identity: Option<Spanned<Vec<Spanned<String>>>>,
    url_host: Option<&str>,
) -> Option<Integration> {
    let before = report.problems.len();
    let mut released: Vec<String> = Vec::new();
    for a in identity.iter().flat_map(|i| i.get_ref()) {
        if !Release::ATTRIBUTES.contains(&a.get_ref().as_str()) {
            report.at(
                a.span().start,
                format!("identity: unknown attribute {:?}; known: {}", a.get_ref(), Release::ATTRIBUTES.join(", ")),
            );
        } else if !released.contains(a.get_ref()) {
            released.push(a.get_ref().clone());
        }
    }
    if hosts.get_ref().is_empty() {
        report.at(hosts.span().start, "hosts: at least one host is required");
    }
    if paths.get_ref().is_empty() {
        report.at(paths.span().start, "paths: at least one pattern is required");
    }
    let mut host_list: Vec<String> = Vec::new();
    for h in hosts.get_ref() {
        if let Err(e) = check_host(h.get_ref()) {
            report.at(h.span().start, e);
        } else if host_list.contains(h.get_ref()) {
            report.at(h.span().start, format!("host {:?} is listed twice", h.get_ref()));
        } else {
            host_list.push(h.get_ref().clone());
        }
    }
    if let Some(u) = url_host.filter(|u| !host_list.is_empty() && !host_list.iter().any(|h| h == u)) {
        report.at(hosts.span().start, format!("the url's host {u:?} is not one of this resource's forward_auth hosts"));
    }
    let mut patterns = Vec::new();
    for p in paths.get_ref() {
        match PathPattern::parse(p.get_ref()) {
            Ok(pat) => patterns.push(pat),
            Err(e) => report.at(p.span().start, e),
        }
    }
    (report.problems.len() == before).then_some(Integration::ForwardAuth {
        hosts: host_list,
        paths: patterns,
        identity: released,
    })
}

/// Two resources must never claim the same request: a forward-auth request is decided
/// for exactly one resource, or refused.
fn check_overlaps(report: &mut Report<'_>, resources: &[Resource], paths_at: &HashMap<ResourceId, usize>) {
    let mut seen: Vec<(&Resource, &str, &PathPattern)> = Vec::new();
    for r in resources {
        let Integration::ForwardAuth { hosts, paths, .. } = &r.integration else {
            continue;
        };
        let mut clash: Option<String> = None;
        for host in hosts {
            for path in paths {
                let other = seen.iter().find(|(o, h, p)| o.id != r.id && *h == host.as_str() && p.overlaps(path));
                if let (None, Some((o, _, p))) = (&clash, other) {
                    clash = Some(format!(
                        "forward_auth rule {host} {path} of resource {:?} overlaps rule \
                         {host} {p} of resource {:?} (line {}): a request could belong to \
                         either",
                        r.id.as_str(),
                        o.id.as_str(),
                        o.line
                    ));
                }
            }
        }
        for host in hosts {
            for path in paths {
                seen.push((r, host, path));
            }
        }
        if let Some(message) = clash {
            report.at(paths_at.get(&r.id).copied().unwrap_or_default(), message);
        }
    }
}
