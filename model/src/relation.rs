//! Relations derived from spec fields, as Backstage's `BuiltinKindsEntityProcessor`
//! derives them: for each reference in a known field, both the relation and
//! its inverse are emitted.
//!
//! The field table (`ref_fields`) follows
//! `plugins/catalog-backend/src/modules/core/BuiltinKindsEntityProcessor.ts`
//! and, for Template `owner`, the scaffolder's `ScaffolderEntitiesProcessor.ts`.
//! Two fields come from newer Backstage than some processor versions show:
//! Component `dependencyOf` (in `ComponentEntity`'s spec type next to
//! `dependsOn`) and Domain `subdomainOf` (Domain schema; `partOf`/`hasPart`
//! per `descriptor-format.md`). Resource `partOf`/`hasPart` lists, proposed
//! upstream but not part of the processor, are not read.

use serde_json::Value;

use crate::entity::Entity;
use crate::entity_ref::EntityRef;
use crate::kinds::BuiltinKind;

/// The well-known relation types (`well-known-relations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelationType {
    /// `ownedBy`: the source is owned by the target (a group or user).
    OwnedBy,
    /// `ownerOf`: inverse of `ownedBy`.
    OwnerOf,
    /// `consumesApi`: the source component consumes the target API.
    ConsumesApi,
    /// `apiConsumedBy`: inverse of `consumesApi`.
    ApiConsumedBy,
    /// `providesApi`: the source component provides the target API.
    ProvidesApi,
    /// `apiProvidedBy`: inverse of `providesApi`.
    ApiProvidedBy,
    /// `dependsOn`: the source needs the target to function.
    DependsOn,
    /// `dependencyOf`: inverse of `dependsOn`.
    DependencyOf,
    /// `parentOf`: the source group is the parent of the target group.
    ParentOf,
    /// `childOf`: inverse of `parentOf`.
    ChildOf,
    /// `memberOf`: the source user is a member of the target group.
    MemberOf,
    /// `hasMember`: inverse of `memberOf`.
    HasMember,
    /// `partOf`: the source is part of the target (system, domain, component).
    PartOf,
    /// `hasPart`: inverse of `partOf`.
    HasPart,
}

impl RelationType {
    /// Every relation type.
    pub const ALL: [Self; 14] = [
        Self::OwnedBy,
        Self::OwnerOf,
        Self::ConsumesApi,
        Self::ApiConsumedBy,
        Self::ProvidesApi,
        Self::ApiProvidedBy,
        Self::DependsOn,
        Self::DependencyOf,
        Self::ParentOf,
        Self::ChildOf,
        Self::MemberOf,
        Self::HasMember,
        Self::PartOf,
        Self::HasPart,
    ];

    /// Parses a relation type name case-insensitively (`ownedby`, `ownedBy`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The name used in `relations[].type` and in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OwnedBy => "ownedBy",
            Self::OwnerOf => "ownerOf",
            Self::ConsumesApi => "consumesApi",
            Self::ApiConsumedBy => "apiConsumedBy",
            Self::ProvidesApi => "providesApi",
            Self::ApiProvidedBy => "apiProvidedBy",
            Self::DependsOn => "dependsOn",
            Self::DependencyOf => "dependencyOf",
            Self::ParentOf => "parentOf",
            Self::ChildOf => "childOf",
            Self::MemberOf => "memberOf",
            Self::HasMember => "hasMember",
            Self::PartOf => "partOf",
            Self::HasPart => "hasPart",
        }
    }

    /// The same relation seen from the other end.
    pub fn inverse(self) -> Self {
        match self {
            Self::OwnedBy => Self::OwnerOf,
            Self::OwnerOf => Self::OwnedBy,
            Self::ConsumesApi => Self::ApiConsumedBy,
            Self::ApiConsumedBy => Self::ConsumesApi,
            Self::ProvidesApi => Self::ApiProvidedBy,
            Self::ApiProvidedBy => Self::ProvidesApi,
            Self::DependsOn => Self::DependencyOf,
            Self::DependencyOf => Self::DependsOn,
            Self::ParentOf => Self::ChildOf,
            Self::ChildOf => Self::ParentOf,
            Self::MemberOf => Self::HasMember,
            Self::HasMember => Self::MemberOf,
            Self::PartOf => Self::HasPart,
            Self::HasPart => Self::PartOf,
        }
    }
}

/// A directed relation between two entities.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relation {
    /// The entity the relation starts from.
    pub source: EntityRef,
    /// What the source is to the target.
    pub relation: RelationType,
    /// The entity the relation points at (which may not exist).
    pub target: EntityRef,
}

/// A spec field holding entity references, and the relation each reference
/// implies. Follows `BuiltinKindsEntityProcessor.ts` (plugins/catalog-backend)
/// and, for Template `owner`, `ScaffolderEntitiesProcessor.ts`
/// (plugins/scaffolder-backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefField {
    /// The key in `spec`: a string, or a list of strings.
    pub field: &'static str,
    /// The kind of a reference that names none; `None` means the reference
    /// must name its kind (`dependsOn`, `dependencyOf`).
    pub default_kind: Option<BuiltinKind>,
    /// The relation from the entity to the target; the target gets its inverse.
    pub relation: RelationType,
}

const fn field(
    field: &'static str,
    default_kind: Option<BuiltinKind>,
    relation: RelationType,
) -> RefField {
    RefField {
        field,
        default_kind,
        relation,
    }
}

const OWNER: RefField = field("owner", Some(BuiltinKind::Group), RelationType::OwnedBy);
const SYSTEM: RefField = field("system", Some(BuiltinKind::System), RelationType::PartOf);
const DEPENDS_ON: RefField = field("dependsOn", None, RelationType::DependsOn);
const DEPENDENCY_OF: RefField = field("dependencyOf", None, RelationType::DependencyOf);

const COMPONENT: &[RefField] = &[
    OWNER,
    SYSTEM,
    field(
        "subcomponentOf",
        Some(BuiltinKind::Component),
        RelationType::PartOf,
    ),
    field(
        "providesApis",
        Some(BuiltinKind::Api),
        RelationType::ProvidesApi,
    ),
    field(
        "consumesApis",
        Some(BuiltinKind::Api),
        RelationType::ConsumesApi,
    ),
    DEPENDS_ON,
    DEPENDENCY_OF,
];
const API: &[RefField] = &[OWNER, SYSTEM];
const RESOURCE: &[RefField] = &[OWNER, SYSTEM, DEPENDS_ON, DEPENDENCY_OF];
const SYSTEM_KIND: &[RefField] = &[
    OWNER,
    field("domain", Some(BuiltinKind::Domain), RelationType::PartOf),
];
const DOMAIN: &[RefField] = &[
    OWNER,
    field(
        "subdomainOf",
        Some(BuiltinKind::Domain),
        RelationType::PartOf,
    ),
];
const GROUP: &[RefField] = &[
    field("parent", Some(BuiltinKind::Group), RelationType::ChildOf),
    field("children", Some(BuiltinKind::Group), RelationType::ParentOf),
    field("members", Some(BuiltinKind::User), RelationType::HasMember),
];
const USER: &[RefField] = &[field(
    "memberOf",
    Some(BuiltinKind::Group),
    RelationType::MemberOf,
)];
const TEMPLATE: &[RefField] = &[OWNER];

/// The reference-bearing spec fields of a built-in kind.
pub(crate) fn ref_fields(kind: BuiltinKind) -> &'static [RefField] {
    match kind {
        BuiltinKind::Component => COMPONENT,
        BuiltinKind::Api => API,
        BuiltinKind::Resource => RESOURCE,
        BuiltinKind::System => SYSTEM_KIND,
        BuiltinKind::Domain => DOMAIN,
        BuiltinKind::Group => GROUP,
        BuiltinKind::User => USER,
        // Location targets are locations (`url:…`), not entity references.
        BuiltinKind::Location => &[],
        BuiltinKind::Template => TEMPLATE,
    }
}

/// The references a ref field holds: one for a string, each string of a
/// list (non-strings skipped; validation reports them).
pub(crate) fn field_refs(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Relations implied by the entity's spec, in both directions, sorted and
/// without duplicates. Only built-in kinds imply relations. References that
/// cannot be parsed are skipped here; [`crate::kinds::check_kind`] rejects
/// them before an entity gets this far.
pub fn derive_relations(entity: &Entity) -> Vec<Relation> {
    let me = entity.entity_ref();
    let (Some(kind), Some(spec)) = (BuiltinKind::parse_ignore_case(me.kind()), entity.spec())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rule in ref_fields(kind) {
        let Some(value) = spec.get(rule.field) else {
            continue;
        };
        for target in field_refs(value) {
            let default_kind = rule.default_kind.map(BuiltinKind::as_str);
            let Ok(target) = EntityRef::parse_with_defaults(target, default_kind, me.namespace())
            else {
                continue;
            };
            out.push(Relation {
                source: me.clone(),
                relation: rule.relation,
                target: target.clone(),
            });
            out.push(Relation {
                source: target,
                relation: rule.relation.inverse(),
                target: me.clone(),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rels(e: &Entity) -> Vec<String> {
        derive_relations(e)
            .iter()
            .map(|r| format!("{} {} {}", r.source, r.relation.as_str(), r.target))
            .collect()
    }

    #[test]
    fn component_fields_give_both_directions() {
        let e = Entity::from_json(json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "svc", "namespace": "ns"},
            "spec": {"type": "service", "lifecycle": "production", "owner": "team-a",
                     "system": "default/shop", "providesApis": ["svc-api"], "dependsOn": ["resource:db", "nokind"]}
        }))
        .unwrap();
        let r = rels(&e);
        for want in [
            "component:ns/svc ownedBy group:ns/team-a",
            "group:ns/team-a ownerOf component:ns/svc",
            "component:ns/svc partOf system:default/shop",
            "system:default/shop hasPart component:ns/svc",
            "component:ns/svc providesApi api:ns/svc-api",
            "api:ns/svc-api apiProvidedBy component:ns/svc",
            "component:ns/svc dependsOn resource:ns/db",
            "resource:ns/db dependencyOf component:ns/svc",
        ] {
            assert!(r.contains(&want.to_string()), "missing {want} in {r:?}");
        }
        // `dependsOn` has no default kind: a ref without one is skipped.
        assert_eq!(r.len(), 8);
    }

    #[test]
    fn group_and_user_fields() {
        let g = Entity::from_json(json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "a"},
            "spec": {"type": "team", "parent": "org", "children": ["b"], "members": ["jo"]}
        }))
        .unwrap();
        let r = rels(&g);
        assert!(r.contains(&"group:default/a childOf group:default/org".into()));
        assert!(r.contains(&"group:default/a parentOf group:default/b".into()));
        assert!(r.contains(&"group:default/a hasMember user:default/jo".into()));
        assert!(r.contains(&"user:default/jo memberOf group:default/a".into()));
    }

    /// The relations an entity of `kind` named `me` in namespace `ns` gets
    /// from `spec` (only the given fields; nothing else is set).
    fn rels_of(kind: BuiltinKind, spec: serde_json::Value) -> Vec<String> {
        let e = Entity::from_json(json!({
            "apiVersion": kind.api_versions()[0], "kind": kind.as_str(),
            "metadata": {"name": "me", "namespace": "ns"}, "spec": spec,
        }))
        .unwrap();
        rels(&e)
    }

    /// `(kind, field, value, relations in both directions)`: one row per
    /// reference field of `BuiltinKindsEntityProcessor` (and the scaffolder's
    /// Template `owner`), with the field's default kind and the entity's
    /// namespace filled in.
    #[rustfmt::skip]
    const FIELD_ROWS: &[(BuiltinKind, &str, &str, &[&str])] = &[
        (BuiltinKind::Component, "owner", "team-a", &["component:ns/me ownedBy group:ns/team-a", "group:ns/team-a ownerOf component:ns/me"]),
        (BuiltinKind::Component, "system", "shop", &["component:ns/me partOf system:ns/shop", "system:ns/shop hasPart component:ns/me"]),
        (BuiltinKind::Component, "subcomponentOf", "web", &["component:ns/me partOf component:ns/web", "component:ns/web hasPart component:ns/me"]),
        (BuiltinKind::Component, "providesApis", "petstore", &["component:ns/me providesApi api:ns/petstore", "api:ns/petstore apiProvidedBy component:ns/me"]),
        (BuiltinKind::Component, "consumesApis", "petstore", &["component:ns/me consumesApi api:ns/petstore", "api:ns/petstore apiConsumedBy component:ns/me"]),
        (BuiltinKind::Component, "dependsOn", "resource:db", &["component:ns/me dependsOn resource:ns/db", "resource:ns/db dependencyOf component:ns/me"]),
        (BuiltinKind::Component, "dependencyOf", "component:web", &["component:ns/me dependencyOf component:ns/web", "component:ns/web dependsOn component:ns/me"]),
        (BuiltinKind::Api, "owner", "team-a", &["api:ns/me ownedBy group:ns/team-a", "group:ns/team-a ownerOf api:ns/me"]),
        (BuiltinKind::Api, "system", "shop", &["api:ns/me partOf system:ns/shop", "system:ns/shop hasPart api:ns/me"]),
        (BuiltinKind::Resource, "owner", "team-a", &["resource:ns/me ownedBy group:ns/team-a", "group:ns/team-a ownerOf resource:ns/me"]),
        (BuiltinKind::Resource, "system", "shop", &["resource:ns/me partOf system:ns/shop", "system:ns/shop hasPart resource:ns/me"]),
        (BuiltinKind::Resource, "dependsOn", "resource:disk", &["resource:ns/me dependsOn resource:ns/disk", "resource:ns/disk dependencyOf resource:ns/me"]),
        (BuiltinKind::Resource, "dependencyOf", "component:web", &["resource:ns/me dependencyOf component:ns/web", "component:ns/web dependsOn resource:ns/me"]),
        (BuiltinKind::System, "owner", "team-a", &["system:ns/me ownedBy group:ns/team-a", "group:ns/team-a ownerOf system:ns/me"]),
        (BuiltinKind::System, "domain", "retail", &["system:ns/me partOf domain:ns/retail", "domain:ns/retail hasPart system:ns/me"]),
        (BuiltinKind::Domain, "owner", "team-a", &["domain:ns/me ownedBy group:ns/team-a", "group:ns/team-a ownerOf domain:ns/me"]),
        (BuiltinKind::Domain, "subdomainOf", "commerce", &["domain:ns/me partOf domain:ns/commerce", "domain:ns/commerce hasPart domain:ns/me"]),
        (BuiltinKind::Group, "parent", "org", &["group:ns/me childOf group:ns/org", "group:ns/org parentOf group:ns/me"]),
        (BuiltinKind::Group, "children", "squad", &["group:ns/me parentOf group:ns/squad", "group:ns/squad childOf group:ns/me"]),
        (BuiltinKind::Group, "members", "jo", &["group:ns/me hasMember user:ns/jo", "user:ns/jo memberOf group:ns/me"]),
        (BuiltinKind::User, "memberOf", "team-a", &["user:ns/me memberOf group:ns/team-a", "group:ns/team-a hasMember user:ns/me"]),
        (BuiltinKind::Template, "owner", "team-a", &["template:ns/me ownedBy group:ns/team-a", "group:ns/team-a ownerOf template:ns/me"]),
    ];

    #[test]
    fn each_reference_field_gives_its_relation_pair() {
        for (kind, field, target, want) in FIELD_ROWS {
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want.sort();
            // Like Backstage's `[targets].flat()`, a string and a one-item
            // list give the same relations (validation decides which a field
            // must hold).
            for value in [json!(target), json!([target])] {
                let got = rels_of(*kind, json!({ *field: value }));
                assert_eq!(got, want, "{kind:?}.{field} = {value}");
            }
        }
    }

    #[test]
    fn every_reference_field_has_a_row() {
        for kind in BuiltinKind::ALL {
            for rule in ref_fields(kind) {
                assert!(
                    FIELD_ROWS
                        .iter()
                        .any(|(k, f, _, _)| *k == kind && *f == rule.field),
                    "no row for {kind:?}.{}",
                    rule.field
                );
            }
        }
    }

    #[test]
    fn refs_keep_an_explicit_kind_and_namespace() {
        let got = rels_of(BuiltinKind::Component, json!({"owner": "User:Other/Jo"}));
        assert_eq!(
            got,
            [
                "component:ns/me ownedBy user:other/jo",
                "user:other/jo ownerOf component:ns/me"
            ]
        );
    }

    #[test]
    fn list_fields_give_one_pair_per_item_without_duplicates() {
        let got = rels_of(
            BuiltinKind::User,
            json!({"memberOf": ["a", "group:ns/a", "b"]}),
        );
        assert_eq!(
            got,
            [
                "group:ns/a hasMember user:ns/me",
                "group:ns/b hasMember user:ns/me",
                "user:ns/me memberOf group:ns/a",
                "user:ns/me memberOf group:ns/b",
            ]
        );
    }

    #[test]
    fn kinds_without_reference_fields_give_none() {
        let location = rels_of(
            BuiltinKind::Location,
            json!({"target": "./a.yaml", "owner": "x"}),
        );
        assert!(location.is_empty(), "{location:?}");
        let custom = Entity::from_json(json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"owner": "team-a"}
        }))
        .unwrap();
        assert!(derive_relations(&custom).is_empty());
    }
}
