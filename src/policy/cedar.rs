//! The Cedar side of the role policies: parsing the schema and the `.cedar`
//! files, validating the policies against the schema, turning accounts and resources
//! into Cedar entities, and asking the Cedar authorizer.
//!
//! Owns everything that names a `cedar_policy` type; the rest of the room sees plain
//! Rust. Must not read files or the clock (the caller hands in texts and `now`), and
//! must not grant anything on its own: only the policies grant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::ffi::DetailedError;
use cedar_policy::{
    Authorizer, Context, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    Request, RestrictedExpression, Schema, ValidationMode, Validator,
};

use crate::domain::Timestamp;

use super::catalogue::{Resource, ResourceId};
use super::error::{Problem, line_and_column};
use super::subject::Subject;

/// Where a policy is written and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// Its `@id("…")` annotation: the name decisions and the audit journal use.
    pub id: String,
    pub forbid: bool,
    /// Its `@description("…")` annotation, if any.
    pub description: Option<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// What the Cedar authorizer answered.
pub(crate) struct Answer {
    pub allowed: bool,
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
}

/// A parsed, validated policy set with the entities of the catalogue.
#[derive(Debug)]
pub(crate) struct Engine {
    schema: Schema,
    set: PolicySet,
    info: BTreeMap<String, PolicyInfo>,
    resources: HashMap<ResourceId, Entity>,
    user_type: EntityTypeName,
    resource_type: EntityTypeName,
    action: EntityUid,
    authorizer: Authorizer,
}

/// A Cedar diagnostic as a problem placed in `text` (the contents of `file`).
fn problem_of(file: &Path, text: &str, d: DetailedError) -> Problem {
    let mut message = d.message;
    if let Some(help) = d.help {
        message.push_str(&format!(" ({help})"));
    }
    match d.source_locations.first() {
        Some(l) => Problem::at(file, text, l.loc.start, message),
        None => Problem::in_file(file, message),
    }
}

pub(crate) fn parse_schema(file: &Path, text: &str) -> Result<Schema, Vec<Problem>> {
    Schema::from_cedarschema_str(text)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| vec![problem_of(file, text, DetailedError::from(&e))])
}

/// Parses one `.cedar` file. Each policy is renamed after its `@id` annotation, which
/// must be present, of the form `[a-z0-9-]+`; templates are refused.
pub(crate) fn parse_policies(file: &Path, text: &str) -> Result<Vec<(Policy, PolicyInfo)>, Vec<Problem>> {
    let set = PolicySet::from_str(text)
        .map_err(|errors| errors.iter().map(|e| problem_of(file, text, DetailedError::from(e))).collect::<Vec<_>>())?;
    let mut problems = Vec::new();
    // The parser names statements policy0, policy1, … in text order; each keeps its
    // source text, which places it in the file.
    let order = |id: &PolicyId| {
        let n = id.to_string();
        let n = n.strip_prefix("policy").and_then(|n| n.parse().ok());
        n.unwrap_or(usize::MAX)
    };
    let mut statements: Vec<(usize, String, Option<&Policy>)> = set
        .policies()
        .map(|p| (order(p.id()), p.to_string(), Some(p)))
        .chain(set.templates().map(|t| (order(t.id()), t.to_string(), None)))
        .collect();
    statements.sort_by_key(|(n, _, _)| *n);
    let mut out = Vec::new();
    let mut cursor = 0;
    for (_, source, policy) in statements {
        let offset = match text.get(cursor..).and_then(|rest| rest.find(&source)) {
            Some(i) => {
                cursor += i + source.len();
                cursor - source.len()
            }
            None => cursor,
        };
        let Some(policy) = policy else {
            problems.push(Problem::at(
                file,
                text,
                offset,
                "policy templates (with ?principal or ?resource) are not used; write the \
                 condition into a static policy",
            ));
            continue;
        };
        let line = line_and_column(text, offset).0;
        let Some(id) = policy.annotation("id") else {
            problems.push(Problem::at(
                file,
                text,
                offset,
                "policy has no @id(\"…\") annotation; every policy needs one, it names \
                 the policy in decisions and the audit journal",
            ));
            continue;
        };
        if ResourceId::parse(id).is_err() {
            problems.push(Problem::at(
                file,
                text,
                offset,
                format!("policy @id {id:?}: lowercase Latin letters, digits and '-' only"),
            ));
            continue;
        }
        let info = PolicyInfo {
            id: id.to_owned(),
            forbid: policy.effect() == Effect::Forbid,
            description: policy.annotation("description").map(str::to_owned),
            file: file.to_path_buf(),
            line,
        };
        out.push((policy.new_id(PolicyId::new(id)), info));
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

fn type_name(s: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(s).map_err(|e| e.to_string())
}

impl Engine {
    /// Puts the parsed parts together and checks them against each other: unique policy
    /// ids, the policies against the schema (strict validation), resource literals in
    /// policies against the catalogue, and the entities propusk builds against the schema.
    /// `texts` holds the contents of every policy file, for placing problems.
    pub(crate) fn build(
        schema: Schema,
        schema_file: &Path,
        policies: Vec<(Policy, PolicyInfo)>,
        texts: &HashMap<PathBuf, String>,
        catalogue: &[Resource],
        catalogue_file: &Path,
    ) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let at = |info: &PolicyInfo, message: String| Problem {
            file: info.file.clone(),
            line: Some(info.line),
            column: None,
            message,
        };
        let mut info: BTreeMap<String, PolicyInfo> = BTreeMap::new();
        let mut set = PolicySet::new();
        let known: HashSet<&str> = catalogue.iter().map(|r| r.id.as_str()).collect();
        for (policy, i) in policies {
            if let Some(first) = info.get(&i.id) {
                let message =
                    format!("duplicate policy @id {:?}: already used at {}:{}", i.id, first.file.display(), first.line);
                problems.push(at(&i, message));
                continue;
            }
            for uid in policy.entity_literals() {
                let unknown = uid.type_name().basename() == "Resource" && !known.contains(uid.id().unescaped());
                if unknown {
                    let message = format!("policy {:?} names {uid}, which is not in the resource catalogue", i.id);
                    problems.push(at(&i, message));
                }
            }
            if let Err(e) = set.add(policy) {
                problems.push(at(&i, e.to_string()));
            }
            info.insert(i.id.clone(), i);
        }
        let validation = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        for e in validation.validation_errors() {
            let id = e.policy_id().to_string();
            let d = DetailedError::from(e);
            problems.push(match info.get(&id) {
                Some(i) => {
                    let text = texts.get(&i.file).map(String::as_str).unwrap_or_default();
                    problem_of(&i.file, text, d)
                }
                None => Problem::in_file(schema_file, d.message),
            });
        }
        let names = (type_name("User"), type_name("Resource"), type_name("Action"));
        let (Ok(user_type), Ok(resource_type), Ok(action_type)) = names else {
            problems.push(Problem::in_file(schema_file, "built-in type names broke"));
            return Err(problems);
        };
        let mut engine = Engine {
            schema,
            set,
            info,
            resources: HashMap::new(),
            user_type,
            resource_type,
            action: EntityUid::from_type_name_and_id(action_type, EntityId::new("access")),
            authorizer: Authorizer::new(),
        };
        for r in catalogue {
            match engine.resource_entity(r) {
                Ok(e) => {
                    engine.resources.insert(r.id.clone(), e);
                }
                Err(e) => problems.push(Problem {
                    file: catalogue_file.to_path_buf(),
                    line: Some(r.line),
                    column: None,
                    message: format!("resource {:?} does not fit {}: {e}", r.id.as_str(), schema_file.display()),
                }),
            }
        }
        // The schema must accept the principals propusk builds, whatever their attributes.
        let probe = Subject {
            study_group: Some("ИС-21".into()),
            department: Some("Кафедра".into()),
            ..Subject::probe(crate::domain::Role::Student)
        };
        if let Err(e) = engine.entities(&probe, Timestamp::from_millis(0), catalogue.iter(), Some(&engine.schema)) {
            problems.push(Problem::in_file(
                schema_file,
                format!("the schema does not accept the User entity propusk builds: {e}"),
            ));
        }
        if problems.is_empty() { Ok(engine) } else { Err(problems) }
    }

    pub(crate) fn info(&self) -> impl Iterator<Item = &PolicyInfo> {
        self.info.values()
    }

    pub(crate) fn policy(&self, id: &str) -> Option<&PolicyInfo> {
        self.info.get(id)
    }

    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    fn resource_entity(&self, r: &Resource) -> Result<Entity, String> {
        let attrs = HashMap::from([
            ("id".to_owned(), RestrictedExpression::new_string(r.id.to_string())),
            ("integration".to_owned(), RestrictedExpression::new_string(r.integration.kind().to_owned())),
            (
                "audience".to_owned(),
                RestrictedExpression::new_set(r.audience.iter().map(|t| RestrictedExpression::new_string(t.clone()))),
            ),
        ]);
        let uid = Self::uid(&self.resource_type, r.id.as_str());
        let entity = Entity::new(uid, attrs, HashSet::new()).map_err(|e| e.to_string())?;
        // Checks the attributes against the schema now rather than at the first request.
        Entities::from_entities([entity.clone()], Some(&self.schema)).map_err(|e| e.to_string())?;
        Ok(entity)
    }

    fn user_entity(&self, s: &Subject, now: Timestamp) -> Result<Entity, String> {
        let text = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let mut attrs = HashMap::from([
            ("roles".to_owned(), RestrictedExpression::new_set(s.roles.iter().map(|r| text(r.as_str())))),
            ("status".to_owned(), text(s.status.as_str())),
            // the restrictions in force now, as references to the resources.
            (
                "restricted".to_owned(),
                RestrictedExpression::new_set(
                    s.restricted_at(now)
                        .into_iter()
                        .map(|id| RestrictedExpression::new_entity_uid(Self::uid(&self.resource_type, id.as_str()))),
                ),
            ),
        ]);
        if let Some(g) = &s.study_group {
            attrs.insert("study_group".to_owned(), text(g));
        }
        if let Some(d) = &s.department {
            attrs.insert("department".to_owned(), text(d));
        }
        let uid = Self::uid(&self.user_type, s.account.as_str());
        Entity::new(uid, attrs, HashSet::new()).map_err(|e| e.to_string())
    }

    /// The principal and the given resources as Cedar entities, checked against the
    /// schema when `schema` is given. Decisions pass `None`: every entity propusk builds
    /// has the same shape, checked against the schema once when the policies are loaded
    /// (`build`), and checking it again on every decision would double its cost.
    fn entities<'a>(
        &self,
        subject: &Subject,
        now: Timestamp,
        resources: impl Iterator<Item = &'a Resource>,
        schema: Option<&Schema>,
    ) -> Result<Entities, String> {
        let mut all = vec![self.user_entity(subject, now)?];
        all.extend(resources.filter_map(|r| self.resources.get(&r.id).cloned()));
        Entities::from_entities(all, schema).map_err(|e| e.to_string())
    }

    /// Decides `subject`'s access to each of `resources` at `now`, in order.
    pub(crate) fn decide_all(&self, subject: &Subject, now: Timestamp, resources: &[&Resource]) -> Vec<Answer> {
        let entities = match self.entities(subject, now, resources.iter().copied(), None) {
            Ok(e) => e,
            Err(e) => {
                let refuse = || Answer {
                    allowed: false,
                    reasons: Vec::new(),
                    errors: vec![format!("the account does not fit the schema: {e}")],
                };
                return resources.iter().map(|_| refuse()).collect();
            }
        };
        let principal = Self::uid(&self.user_type, subject.account.as_str());
        resources
            .iter()
            .map(|r| {
                let resource = Self::uid(&self.resource_type, r.id.as_str());
                // Unchecked for the reason given at `entities`: its types never vary.
                let request = Request::new(principal.clone(), self.action.clone(), resource, Context::empty(), None);
                match request {
                    Ok(request) => self.answer(&request, &entities),
                    Err(e) => Answer {
                        allowed: false,
                        reasons: Vec::new(),
                        errors: vec![format!("the request does not fit the schema: {e}")],
                    },
                }
            })
            .collect()
    }

    fn answer(&self, request: &Request, entities: &Entities) -> Answer {
        let response = self.authorizer.is_authorized(request, &self.set, entities);
        let mut reasons: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
        reasons.sort();
        Answer {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            reasons,
            errors: response.diagnostics().errors().map(ToString::to_string).collect(),
        }
    }
}
