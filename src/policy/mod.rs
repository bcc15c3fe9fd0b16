//! Role policies and the resource catalogue: which connected services exist and
//! who may use each of them, with per-account restrictions.
//!
//! Owns loading and validating a policy directory (`resources.toml`,
//! `schema.cedarschema`, `*.cedar`), its digest for the audit journal, and pure,
//! synchronous decisions: one resource, the launcher's list, the forward-auth lookup and
//! a readable explanation. Must not do I/O beyond [`Policies::load`], read the clock,
//! touch the store or HTTP, or keep a previous version: whoever reloads on change keeps
//! the old `Policies` when a new load fails. Imports no framework crate.

mod catalogue;
mod cedar;
mod deprovision;
mod error;
mod route;
mod subject;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::domain::{AccountStatus, Role, Timestamp};

pub use catalogue::{Integration, Owner, Release, Resource, ResourceId};
pub use cedar::PolicyInfo;
pub use deprovision::Deprovision;
pub use error::{PolicyError, Problem};
pub use route::{PathPattern, clean_request_host};
pub use subject::{Restriction, Subject};

use cedar::Engine;

/// The outcome of one access question.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The `@id`s of the policies that determined it: the permits that allowed it, or the
    /// forbids that refused it. Empty when nothing permitted it (refused by default).
    pub reasons: Vec<String>,
    /// Problems met while deciding (a policy that failed to evaluate is skipped, and so
    /// cannot grant).
    pub errors: Vec<String>,
}

/// A loaded, validated policy directory.
#[derive(Debug)]
pub struct Policies {
    resources: Vec<Resource>,
    index: HashMap<ResourceId, usize>,
    engine: Engine,
    digest: String,
    warnings: Vec<String>,
    catalogue_file: PathBuf,
}

impl Policies {
    pub const CATALOGUE_FILE: &'static str = "resources.toml";
    pub const SCHEMA_FILE: &'static str = "schema.cedarschema";
    pub const POLICY_EXTENSION: &'static str = "cedar";

    /// Reads and checks `dir`: the catalogue, the schema and every `*.cedar` file in it
    /// (other files and subdirectories are ignored). Every problem found is reported, each
    /// with its file and, where it has one, its line.
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| PolicyError::Read { path: path.to_path_buf(), source })
        };
        let catalogue_file = dir.join(Self::CATALOGUE_FILE);
        let schema_file = dir.join(Self::SCHEMA_FILE);
        let catalogue_text = read(&catalogue_file)?;
        let schema_text = read(&schema_file)?;
        let mut policy_files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| PolicyError::Read { path: dir.to_path_buf(), source })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == Self::POLICY_EXTENSION))
            .collect();
        policy_files.sort();
        let mut texts: HashMap<PathBuf, String> = HashMap::new();
        for f in &policy_files {
            texts.insert(f.clone(), read(f)?);
        }

        let mut problems = Vec::new();
        let resources = catalogue::parse(&catalogue_file, &catalogue_text).map_err(|p| problems.extend(p)).ok();
        let schema = cedar::parse_schema(&schema_file, &schema_text).map_err(|p| problems.extend(p)).ok();
        if policy_files.is_empty() {
            problems.push(Problem::in_file(dir, "no *.cedar policy file"));
        }
        let mut policies = Vec::new();
        for f in &policy_files {
            let text = texts.get(f).map(String::as_str).unwrap_or_default();
            match cedar::parse_policies(f, text) {
                Ok(p) => policies.extend(p),
                Err(p) => problems.extend(p),
            }
        }
        let (Some(resources), Some(schema), true) = (resources, schema, problems.is_empty()) else {
            return Err(PolicyError::Invalid(problems));
        };
        let engine = Engine::build(schema, &schema_file, policies, &texts, &resources, &catalogue_file)
            .map_err(PolicyError::Invalid)?;

        let mut files: Vec<(String, &str)> =
            vec![(Self::CATALOGUE_FILE.to_owned(), &catalogue_text), (Self::SCHEMA_FILE.to_owned(), &schema_text)];
        for f in &policy_files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
            let text = texts.get(f).map(String::as_str).unwrap_or_default();
            files.push((name.unwrap_or_default(), text));
        }
        let index = resources.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        let mut loaded = Self { resources, index, engine, digest: digest(files), warnings: Vec::new(), catalogue_file };
        let broken = loaded.guard_breaches(dir);
        if !broken.is_empty() {
            return Err(PolicyError::Invalid(broken));
        }
        loaded.warnings = loaded.unreachable();
        Ok(loaded)
    }

    /// SHA-256 (hex) of the directory's files as loaded, for the audit journal: which
    /// rules were in force. Any change to any file, comments included, gives
    /// a new digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Every resource, in catalogue order.
    pub fn catalogue(&self) -> &[Resource] {
        &self.resources
    }

    pub fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.index.get(id).and_then(|&i| self.resources.get(i))
    }

    /// Every policy, by `@id`.
    pub fn policies(&self) -> impl Iterator<Item = &PolicyInfo> {
        self.engine.info()
    }

    /// Things that load but are probably mistakes, such as a resource that no role
    /// reaches.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// May `subject` use `resource` at `now`? An unknown resource is refused.
    pub fn decide(&self, subject: &Subject, resource: &ResourceId, now: Timestamp) -> Decision {
        let Some(r) = self.resource(resource) else {
            return Decision {
                allowed: false,
                reasons: Vec::new(),
                errors: vec![format!("resource {:?} is not in the catalogue", resource.as_str())],
            };
        };
        self.decide_many(subject, &[r], now).pop().unwrap_or_else(|| Decision {
            allowed: false,
            reasons: Vec::new(),
            errors: vec!["no answer".to_owned()],
        })
    }

    fn decide_many(&self, subject: &Subject, resources: &[&Resource], now: Timestamp) -> Vec<Decision> {
        self.engine
            .decide_all(subject, now, resources)
            .into_iter()
            .map(|a| Decision { allowed: a.allowed, reasons: a.reasons, errors: a.errors })
            .collect()
    }

    /// The resources `subject` may use at `now`, in catalogue order: the launcher's list
    ///
    pub fn allowed_resources(&self, subject: &Subject, now: Timestamp) -> Vec<&Resource> {
        let all: Vec<&Resource> = self.resources.iter().collect();
        let decisions = self.decide_many(subject, &all, now);
        all.into_iter().zip(decisions).filter_map(|(r, d)| d.allowed.then_some(r)).collect()
    }

    /// The forward-auth resource a proxied request belongs to, if any. `host` may carry a
    /// port; `path` may carry a query. A path that could be read differently by the
    /// backend (dot segments, escaped separators) belongs to none, and so is refused.
    pub fn resource_for_request(&self, host: &str, path: &str) -> Option<&Resource> {
        let host = route::clean_request_host(host);
        let path = route::clean_request_path(path)?;
        self.resources.iter().find(|r| match &r.integration {
            Integration::ForwardAuth { hosts, paths, .. } => {
                hosts.contains(&host) && paths.iter().any(|p| p.matches(path))
            }
            _ => false,
        })
    }

    /// The decision in words, with the policies that made it and the restrictions that
    /// apply: for administrators answering "why can't I get in?".
    pub fn explain(&self, subject: &Subject, resource: &ResourceId, now: Timestamp) -> String {
        let d = self.decide(subject, resource, now);
        let roles = subject.roles.iter().map(Role::as_str).collect::<Vec<_>>();
        let mut out = format!(
            "{} (account {}; roles: {}; status: {}) → {:?} at {}: {}.\n",
            subject.login,
            subject.account,
            if roles.is_empty() { "none".to_owned() } else { roles.join(", ") },
            subject.status,
            resource.as_str(),
            now.to_human(),
            if d.allowed { "allowed" } else { "refused" },
        );
        if d.reasons.is_empty() {
            if !d.allowed {
                out.push_str("No policy permits it; access is refused unless one does.\n");
            }
        } else {
            out.push_str(if d.allowed { "Permitted by:\n" } else { "Forbidden by:\n" });
            for id in &d.reasons {
                let _ = match self.engine.policy(id) {
                    Some(p) => writeln!(
                        out,
                        "  {id} ({}:{}){}",
                        p.file.display(),
                        p.line,
                        p.description.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
                    ),
                    None => writeln!(out, "  {id}"),
                };
            }
        }
        let in_force: Vec<&Restriction> = subject.restrictions_of(resource, now).collect();
        for r in &in_force {
            let _ = writeln!(
                out,
                "Restricted by {} ({}): {}.",
                r.set_by,
                r.until.map_or_else(|| "until lifted".to_owned(), |t| format!("until {}", t.to_human())),
                r.reason
            );
        }
        for e in &d.errors {
            let _ = writeln!(out, "Error: {e}");
        }
        out
    }

    /// Rules that hold whatever the policy files say: an account that is not active
    /// reaches nothing, and a restriction in force refuses its resource. Probes with
    /// every role check them against every resource; a breach is a load error.
    fn guard_breaches(&self, dir: &Path) -> Vec<Problem> {
        let now = Timestamp::from_millis(0);
        let everyone = Subject { roles: crate::domain::Roles::new(Role::ALL), ..Subject::probe(Role::Student) };
        let mut problems = Vec::new();
        for status in AccountStatus::ALL.into_iter().filter(|s| *s != AccountStatus::Active) {
            let s = Subject { status, ..everyone.clone() };
            for r in self.allowed_resources(&s, now) {
                problems.push(Problem::in_file(
                    dir,
                    format!(
                        "the policies let a {status} account reach {:?}; only an active \
                         account may use resources (keep the forbid \"only-active-accounts\")",
                        r.id.as_str()
                    ),
                ));
            }
        }
        let restrictions: Vec<Restriction> = self
            .resources
            .iter()
            .map(|r| Restriction { resource: r.id.clone(), reason: String::new(), until: None, set_by: String::new() })
            .collect();
        let s = Subject { restrictions, ..everyone };
        for r in self.allowed_resources(&s, now) {
            problems.push(Problem::in_file(
                dir,
                format!(
                    "the policies let an account reach {:?} although it is restricted (R-4); keep \
                     the forbid \"personal-restriction\"",
                    r.id.as_str()
                ),
            ));
        }
        problems
    }

    /// A warning for each resource that no single role reaches: its audience is probably
    /// misspelt, or the policy meant to grant it is missing.
    fn unreachable(&self) -> Vec<String> {
        let probes: Vec<Subject> = Role::ALL.into_iter().map(Subject::probe).collect();
        let now = Timestamp::from_millis(0);
        let mut reached = vec![false; self.resources.len()];
        for p in &probes {
            for r in self.allowed_resources(p, now) {
                if let Some(&i) = self.index.get(&r.id) {
                    reached[i] = true;
                }
            }
        }
        self.resources
            .iter()
            .zip(reached)
            .filter(|(_, reached)| !reached)
            .map(|(r, _)| {
                format!(
                    "{}:{}: resource {:?} is reachable by no role; check its audience and \
                     the policies",
                    self.catalogue_file.display(),
                    r.line,
                    r.id.as_str()
                )
            })
            .collect()
    }
}

/// SHA-256 over the files sorted by name, each as name, NUL, length, NUL, contents.
fn digest(mut files: Vec<(String, &str)>) -> String {
    files.sort();
    let mut h = Sha256::new();
    for (name, text) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.len().to_string().as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
    }
    hex::encode(h.finalize())
}
