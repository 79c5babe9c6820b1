//! An entity flattened into filterable fields, the way Backstage's
//! `buildEntitySearch.ts` flattens it for its `search` table.
//!
//! Every leaf becomes `(dotted path, value)`: object keys are joined with
//! `.`, array items keep their array's path, and an array of strings also
//! yields `path.<item> = "true"` (so `metadata.tags.java` works). Keys are
//! lower-cased; values are the original scalars as text (`true`, `42`).
//! Keys longer than [`MAX_KEY_LENGTH`] are skipped; values longer than
//! [`MAX_VALUE_LENGTH`] are kept as `None`, so the key exists but cannot be
//! matched. `relations`, `status`, `attachments`, `metadata.uid` and
//! `metadata.etag` are not flattened: relations live in their own table and
//! the rest are assigned by the catalog, not the descriptor.
//!
//! Because keys are the whole dotted path, a key that itself contains dots
//! (`metadata.annotations.backstage.io/techdocs-ref`) is unambiguous.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::entity::Entity;

/// Longest flattened key kept (Backstage's `MAX_KEY_LENGTH`).
pub const MAX_KEY_LENGTH: usize = 200;
/// Longest value that can be matched (Backstage's `MAX_VALUE_LENGTH`).
pub const MAX_VALUE_LENGTH: usize = 200;

/// Paths that are never flattened.
const SKIPPED: &[&str] = &[
    "attachments",
    "relations",
    "status",
    "metadata.uid",
    "metadata.etag",
];

/// Flattened fields: lower-cased key → distinct values in first-seen order
/// (`None` for null or over-long values).
pub type Fields = BTreeMap<String, Vec<Option<String>>>;

/// Flattens `entity`. `metadata.namespace` is always present (`default` when
/// the descriptor leaves it out).
pub fn entity_fields(entity: &Entity) -> Fields {
    let mut fields = Fields::new();
    visit(&mut fields, "", &Value::Object(entity.as_json().clone()));
    if !fields.contains_key("metadata.namespace") {
        push(&mut fields, "metadata.namespace", Some(entity.namespace()));
    }
    fields
}

fn visit(fields: &mut Fields, path: &str, value: &Value) {
    if SKIPPED.contains(&path) {
        return;
    }
    match value {
        Value::Null => push(fields, path, None),
        Value::Bool(b) => push(fields, path, Some(if *b { "true" } else { "false" })),
        Value::Number(n) => push(fields, path, Some(&n.to_string())),
        Value::String(s) => push(fields, path, Some(s)),
        Value::Array(items) => {
            for item in items {
                visit(fields, path, item);
                if let Value::String(s) = item {
                    push(fields, &format!("{path}.{s}"), Some("true"));
                }
            }
        }
        Value::Object(map) => {
            for (key, value) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                visit(fields, &child, value);
            }
        }
    }
}

fn push(fields: &mut Fields, key: &str, value: Option<&str>) {
    let key = key.to_lowercase();
    if key.is_empty() || key.chars().count() > MAX_KEY_LENGTH {
        return;
    }
    let value = value
        .filter(|v| v.chars().count() <= MAX_VALUE_LENGTH)
        .map(str::to_string);
    let values = fields.entry(key).or_default();
    if !values.contains(&value) {
        values.push(value);
    }
}

/// Whether `fields` satisfy the Backstage condition `key` (exists) or
/// `key=value` for any of `values`, case-insensitively. The in-memory
/// meaning of a filter condition, used as the reference for the SQL one.
pub fn fields_match(fields: &Fields, key: &str, values: &[String]) -> bool {
    let Some(found) = fields.get(&key.to_lowercase()) else {
        return false;
    };
    if values.is_empty() {
        return true;
    }
    found.iter().flatten().any(|v| {
        let v = v.to_lowercase();
        values.iter().any(|want| want.to_lowercase() == v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(v: Value) -> Entity {
        Entity::from_json(v).expect("valid entity")
    }

    #[test]
    fn flattens_like_backstage() {
        let e = entity(json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "Artist-Lookup",
                "tags": ["java", "data"],
                "title": "Artist Lookup",
                "annotations": {"backstage.io/techdocs-ref": "dir:."},
                "links": [{"url": "https://x.example", "title": "X"}]
            },
            "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}
        }));
        let f = entity_fields(&e);
        assert_eq!(f["kind"], vec![Some("Component".to_string())]);
        assert_eq!(f["metadata.name"], vec![Some("Artist-Lookup".to_string())]);
        assert_eq!(f["metadata.namespace"], vec![Some("default".to_string())]);
        assert_eq!(
            f["metadata.tags"],
            vec![Some("java".to_string()), Some("data".to_string())]
        );
        assert_eq!(f["metadata.tags.data"], vec![Some("true".to_string())]);
        assert_eq!(
            f["metadata.annotations.backstage.io/techdocs-ref"],
            vec![Some("dir:.".to_string())]
        );
        assert_eq!(
            f["metadata.links.url"],
            vec![Some("https://x.example".to_string())]
        );
        assert!(fields_match(&f, "Spec.Type", &["SERVICE".into()]));
        assert!(fields_match(&f, "metadata.tags", &["DATA".into()]));
        assert!(fields_match(
            &f,
            "metadata.title",
            &["artist lookup".into()]
        ));
        assert!(fields_match(&f, "spec.owner", &[]));
        assert!(!fields_match(&f, "spec.system", &[]));
        assert!(!fields_match(&f, "spec.type", &["website".into()]));
    }

    #[test]
    fn long_values_exist_but_never_match_and_long_keys_are_dropped() {
        let long = "x".repeat(MAX_VALUE_LENGTH + 1);
        let key = "k".repeat(MAX_KEY_LENGTH);
        let e = entity(json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "a", "description": long},
            "spec": {"type": "service", "lifecycle": "x", "owner": "y", "flag": true, "n": 3,
                     "extra": {key.clone(): "v"}}
        }));
        let f = entity_fields(&e);
        assert_eq!(f["metadata.description"], vec![None]);
        assert!(fields_match(&f, "metadata.description", &[]));
        assert!(!fields_match(
            &f,
            "metadata.description",
            std::slice::from_ref(&long)
        ));
        assert!(!f.keys().any(|k| k.ends_with(&key)));
        assert_eq!(f["spec.flag"], vec![Some("true".to_string())]);
        assert_eq!(f["spec.n"], vec![Some("3".to_string())]);
    }
}
