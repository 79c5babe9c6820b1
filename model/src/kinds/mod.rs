//! Backstage's built-in kinds as data — which `apiVersion`s each accepts,
//! what its `spec` must hold, which spec fields are entity references — and
//! one checker, [`check_kind`], that applies them to an [`Entity`].
//!
//! [`Entity::from_json`] has already applied the envelope and metadata rules
//! every entity shares; this adds what depends on the kind. Sources
//! (backstage/backstage):
//! - `packages/catalog-model/src/schema/kinds/{Component,API,Resource,System,
//!   Domain,Group,User,Location}.v1alpha1.schema.json` and
//!   `plugins/scaffolder-common/src/Template.v1beta3.schema.json`: accepted
//!   apiVersions, required spec fields and their types (see `spec.rs`,
//!   `template.rs`).
//! - `packages/catalog-model/src/kinds/util.ts`
//!   (`ajvCompiledJsonSchemaValidator`): a kind's schema applies only when
//!   `kind` and `apiVersion` match exactly, so `kind: component` is not a
//!   Component. Backstage rejects an entity that no kind validator accepts;
//!   [`KindPolicy::extra_kinds`] stands in for the custom processors that
//!   would accept other kinds.
//! - `packages/catalog-model/src/entity/policies/ReservedFieldsEntityPolicy.ts`:
//!   see [`check_reserved_fields`].
//! - `plugins/catalog-backend/src/modules/core/BuiltinKindsEntityProcessor.ts`
//!   and `plugins/scaffolder-backend/src/processor/ScaffolderEntitiesProcessor.ts`:
//!   they turn reference fields into relations with `parseEntityRef`, which
//!   throws (failing the entity's processing) when a reference has an empty
//!   part or no kind and the field implies none. [`check_kind`] reports the
//!   same references as errors. `parseEntityRef` does not check the parts
//!   against the name rules (length, characters), and neither does this: a
//!   reference may name an entity that could never exist, as in Backstage.

mod spec;
#[cfg(test)]
mod spec_tests;
mod template;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::entity::{Entity, EntityError};
use crate::entity_ref::{EntityRef, RefError};
use crate::relation::{field_refs, ref_fields};

/// The apiVersions of Backstage's core kinds.
const CORE_API_VERSIONS: &[&str] = &["backstage.io/v1alpha1", "backstage.io/v1beta1"];
/// The apiVersion of the scaffolder's Template kind (`v1beta2` and older
/// templates are no longer read by Backstage).
const TEMPLATE_API_VERSIONS: &[&str] = &["scaffolder.backstage.io/v1beta3"];

/// Names that may not be keys of `spec`, `metadata.labels` or
/// `metadata.annotations` (`ReservedFieldsEntityPolicy.ts`,
/// `DEFAULT_RESERVED_ENTITY_FIELDS`). Compared case-sensitively, as
/// `hasOwnProperty` does.
pub const RESERVED_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "uid",
    "etag",
    "generation",
    "name",
    "namespace",
    "labels",
    "annotations",
    "spec",
];

/// Which kinds besides the built-in ones the catalog accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindPolicy {
    /// Kinds accepted in addition to the built-in ones, compared
    /// case-insensitively. Entities of these kinds get only the envelope
    /// rules and [`check_reserved_fields`]; their `spec` is free-form.
    pub extra_kinds: Vec<String>,
}

impl KindPolicy {
    /// Whether `kind` is one of [`KindPolicy::extra_kinds`].
    pub fn allows_extra_kind(&self, kind: &str) -> bool {
        self.extra_kinds
            .iter()
            .any(|k| k.eq_ignore_ascii_case(kind))
    }
}

/// Backstage's built-in kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinKind {
    /// A piece of software: a service, website, library (`Component`).
    Component,
    /// An interface a component provides or consumes (`API`).
    Api,
    /// Infrastructure a component needs: a database, bucket, cluster.
    Resource,
    /// A collection of components, APIs and resources.
    System,
    /// A collection of systems sharing a business purpose.
    Domain,
    /// A team or other organisational unit.
    Group,
    /// A person.
    User,
    /// A pointer to more descriptor files.
    Location,
    /// A scaffolder template (`scaffolder.backstage.io/v1beta3`).
    Template,
}

impl BuiltinKind {
    /// Every built-in kind, in the order error messages list them.
    pub const ALL: [Self; 9] = [
        Self::Component,
        Self::Api,
        Self::Resource,
        Self::System,
        Self::Domain,
        Self::Group,
        Self::User,
        Self::Location,
        Self::Template,
    ];

    /// The kind as descriptors spell it (`API`, not `Api`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Component => "Component",
            Self::Api => "API",
            Self::Resource => "Resource",
            Self::System => "System",
            Self::Domain => "Domain",
            Self::Group => "Group",
            Self::User => "User",
            Self::Location => "Location",
            Self::Template => "Template",
        }
    }

    /// The built-in kind spelled exactly `kind`, as Backstage's validators
    /// match it.
    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The built-in kind spelled `kind` in any case, as entity references
    /// (which are lower-cased) name it.
    pub fn parse_ignore_case(kind: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(kind))
    }

    /// The `apiVersion`s the kind's schema accepts (compared exactly).
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            Self::Template => TEMPLATE_API_VERSIONS,
            Self::Component
            | Self::Api
            | Self::Resource
            | Self::System
            | Self::Domain
            | Self::Group
            | Self::User
            | Self::Location => CORE_API_VERSIONS,
        }
    }
}

/// Applies the kind's rules to a validated entity: the kind must be built-in
/// or allowed by `policy`; a built-in kind needs one of its apiVersions, a
/// `spec` that matches its schema, and parseable references in its relation
/// fields; and no entity may use a [`RESERVED_FIELDS`] name as a key (see
/// [`check_reserved_fields`]).
///
/// Run it on the entity as it will be stored: Backstage validates kinds after
/// placeholders such as `$text` have been substituted, so an API whose
/// `definition` is still `{$text: ./openapi.yaml}` fails here.
pub fn check_kind(entity: &Entity, policy: &KindPolicy) -> Result<(), EntityError> {
    let kind = entity.kind();
    let Some(builtin) = BuiltinKind::parse(kind) else {
        if let Some(builtin) = BuiltinKind::parse_ignore_case(kind) {
            // Its references would collide with the built-in kind's (they
            // are lower-cased), so extra_kinds cannot admit it either.
            return Err(error(
                "kind",
                format!(
                    "{kind} is not a known kind; kinds are case-sensitive, did you mean {}?",
                    builtin.as_str()
                ),
            ));
        }
        if policy.allows_extra_kind(kind) {
            return check_reserved_fields(entity);
        }
        return Err(error(
            "kind",
            format!(
                "{kind} is not a known kind ({}); allow it with ingest.extra_kinds",
                known_kinds()
            ),
        ));
    };
    let api_version = entity.api_version();
    let accepted = builtin.api_versions();
    if !accepted.contains(&api_version) {
        return Err(error(
            "apiVersion",
            format!(
                "must be {} for kind {}, but found {api_version:?}",
                one_of(accepted),
                builtin.as_str()
            ),
        ));
    }
    check_reserved_fields(entity)?;
    let Some(spec) = entity.spec() else {
        return Err(error(
            "spec",
            format!("is required for kind {}", builtin.as_str()),
        ));
    };
    spec::check_spec(builtin, spec)?;
    check_refs(builtin, spec, entity.namespace())
}

/// Backstage's `ReservedFieldsEntityPolicy`: no [`RESERVED_FIELDS`] name as a
/// key of `spec`, `metadata.labels` or `metadata.annotations` (top-level keys
/// only). Backstage ships the policy but its catalog builder no longer
/// installs it by default; this catalog always applies it, to every kind.
pub fn check_reserved_fields(entity: &Entity) -> Result<(), EntityError> {
    let metadata = entity.as_json().get("metadata");
    let labels = metadata
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object);
    let annotations = metadata
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object);
    let maps = [
        ("spec", entity.spec(), "a spec field"),
        ("metadata.labels", labels, "a label key"),
        ("metadata.annotations", annotations, "an annotation key"),
    ];
    for reserved in RESERVED_FIELDS {
        for (path, map, role) in &maps {
            if map.is_some_and(|m| m.contains_key(*reserved)) {
                return Err(error(
                    format!("{path}.{reserved}"),
                    format!("{reserved} is reserved and may not be used as {role}"),
                ));
            }
        }
    }
    Ok(())
}

/// Every reference in the kind's relation fields must parse with the
/// field's default kind and the entity's namespace (`parseEntityRef`).
fn check_refs(
    kind: BuiltinKind,
    spec: &Map<String, Value>,
    namespace: &str,
) -> Result<(), EntityError> {
    for rule in ref_fields(kind) {
        let Some(value) = spec.get(rule.field) else {
            continue;
        };
        let is_list = value.is_array();
        for (i, target) in field_refs(value).into_iter().enumerate() {
            let default_kind = rule.default_kind.map(BuiltinKind::as_str);
            let path = if is_list {
                format!("spec.{}[{i}]", rule.field)
            } else {
                format!("spec.{}", rule.field)
            };
            match EntityRef::parse_with_defaults(target, default_kind, namespace) {
                Ok(_) => {}
                Err(RefError::MissingKind(_)) => {
                    return Err(error(
                        path,
                        format!(
                            "must name the kind of its target (e.g. \"component:{target}\"), because {} has no default kind; found {target:?}",
                            rule.field
                        ),
                    ));
                }
                Err(RefError::Malformed(_)) => {
                    return Err(error(
                        path,
                        format!(
                            "is not an entity reference of the form [<kind>:][<namespace>/]<name>; found {target:?}"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn error(field: impl Into<String>, problem: impl Into<String>) -> EntityError {
    EntityError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn known_kinds() -> String {
    BuiltinKind::ALL.map(BuiltinKind::as_str).join(", ")
}

/// `"a"`, or `one of "a", "b"`.
fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    match quoted.as_slice() {
        [only] => only.clone(),
        _ => format!("one of {}", quoted.join(", ")),
    }
}
