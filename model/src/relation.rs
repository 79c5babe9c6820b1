//! Relations derived from spec fields, as Backstage's `BuiltinKindsEntityProcessor`
//! derives them: for each reference in a known field, both the relation and
//! its inverse are emitted.

use serde_json::Value;

use crate::entity::Entity;
use crate::entity_ref::EntityRef;

/// The well-known relation types (`well-known-relations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelationType {
    OwnedBy,
    OwnerOf,
    ConsumesApi,
    ApiConsumedBy,
    ProvidesApi,
    ApiProvidedBy,
    DependsOn,
    DependencyOf,
    ParentOf,
    ChildOf,
    MemberOf,
    HasMember,
    PartOf,
    HasPart,
}

impl RelationType {
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
    pub source: EntityRef,
    pub relation: RelationType,
    pub target: EntityRef,
}

/// (kinds the field applies to, field, default target kind, relation).
/// `None` as default kind means the ref must name its kind.
type FieldRule = (
    &'static [&'static str],
    &'static str,
    Option<&'static str>,
    RelationType,
);

const FIELD_RULES: &[FieldRule] = &[
    (
        &[
            "component",
            "api",
            "resource",
            "system",
            "domain",
            "template",
        ],
        "owner",
        Some("group"),
        RelationType::OwnedBy,
    ),
    (
        &["component", "api", "resource"],
        "system",
        Some("system"),
        RelationType::PartOf,
    ),
    (
        &["component"],
        "subcomponentOf",
        Some("component"),
        RelationType::PartOf,
    ),
    (
        &["component"],
        "providesApis",
        Some("api"),
        RelationType::ProvidesApi,
    ),
    (
        &["component"],
        "consumesApis",
        Some("api"),
        RelationType::ConsumesApi,
    ),
    (
        &["component", "resource"],
        "dependsOn",
        None,
        RelationType::DependsOn,
    ),
    (
        &["component", "resource"],
        "dependencyOf",
        None,
        RelationType::DependencyOf,
    ),
    (&["system"], "domain", Some("domain"), RelationType::PartOf),
    (
        &["domain"],
        "subdomainOf",
        Some("domain"),
        RelationType::PartOf,
    ),
    (&["user"], "memberOf", Some("group"), RelationType::MemberOf),
    (&["group"], "parent", Some("group"), RelationType::ChildOf),
    (
        &["group"],
        "children",
        Some("group"),
        RelationType::ParentOf,
    ),
    (&["group"], "members", Some("user"), RelationType::HasMember),
];

/// Relations implied by the entity's spec, in both directions, sorted and
/// without duplicates. References that cannot be parsed are skipped (they are
/// reported by validation, not here).
pub fn derive_relations(entity: &Entity) -> Vec<Relation> {
    let me = entity.entity_ref();
    let Some(spec) = entity.spec() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kinds, field, default_kind, relation) in FIELD_RULES {
        if !kinds.contains(&me.kind()) {
            continue;
        }
        let targets: Vec<&str> = match spec.get(*field) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        for target in targets {
            let Ok(target) = EntityRef::parse_with_defaults(target, *default_kind, me.namespace())
            else {
                continue;
            };
            out.push(Relation {
                source: me.clone(),
                relation: *relation,
                target: target.clone(),
            });
            out.push(Relation {
                source: target,
                relation: relation.inverse(),
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
}
