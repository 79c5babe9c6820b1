//! A validated entity descriptor in Backstage's shape.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::entity_ref::{DEFAULT_NAMESPACE, EntityRef};
use crate::validate;

/// Root keys a descriptor may have (Backstage's `NoForeignRootFieldsEntityPolicy`).
const ROOT_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "relations",
    "status",
];
/// Root keys the catalog computes; a descriptor's own values are dropped.
const OUTPUT_ROOT_KEYS: &[&str] = &["relations", "status"];
/// Metadata keys the catalog assigns; a descriptor's own values are dropped.
const OUTPUT_METADATA_KEYS: &[&str] = &["uid", "etag", "generation"];

/// A descriptor that passed validation. Holds the document as JSON, with the
/// namespace filled in and output-only fields removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    entity_ref: EntityRef,
    doc: Map<String, Value>,
}

/// Why a document is not a valid entity: the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field:?} {problem}")]
pub struct EntityError {
    /// Dotted path of the offending field, e.g. `metadata.name`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> EntityError {
    EntityError {
        field: field.into(),
        problem: problem.into(),
    }
}

impl Entity {
    /// Validates a descriptor document.
    pub fn from_json(value: Value) -> Result<Self, EntityError> {
        let Value::Object(mut doc) = value else {
            return Err(err(
                "(root)",
                "must be a mapping with apiVersion, kind and metadata",
            ));
        };
        // PostgreSQL's jsonb (and most consumers) cannot hold U+0000.
        if let Some(field) = find_nul(&doc, "") {
            return Err(err(
                field,
                "contains a NUL character (U+0000), which is not allowed",
            ));
        }
        if let Some(key) = doc.keys().find(|k| !ROOT_KEYS.contains(&k.as_str())) {
            return Err(err(key.clone(), "is not allowed at the root of an entity"));
        }
        for key in OUTPUT_ROOT_KEYS {
            doc.remove(*key);
        }
        let api_version = required_str(&doc, "apiVersion")?;
        if !validate::is_valid_api_version(api_version) {
            return Err(invalid(
                "apiVersion",
                api_version,
                "[<dns-subdomain>/]<version of [a-zA-Z0-9]>",
            ));
        }
        let kind = required_str(&doc, "kind")?.to_string();
        if !validate::is_valid_kind(&kind) {
            return Err(invalid(
                "kind",
                &kind,
                "a letter followed by letters and digits, at most 63 characters",
            ));
        }
        if let Some(spec) = doc.get("spec")
            && !spec.is_object()
        {
            return Err(err("spec", "must be a mapping"));
        }
        let metadata = match doc.get_mut("metadata") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(err("metadata", "must be a mapping")),
            None => return Err(err("metadata", "is required")),
        };
        for key in OUTPUT_METADATA_KEYS {
            metadata.remove(*key);
        }
        let (name, namespace) = validate_metadata(metadata)?;
        metadata
            .entry("namespace")
            .or_insert_with(|| Value::String(DEFAULT_NAMESPACE.to_string()));
        Ok(Self {
            entity_ref: EntityRef::new(&kind, &namespace, &name),
            doc,
        })
    }

    /// Parses and validates an entity from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, EntityError> {
        let value = serde_json::from_str(text)
            .map_err(|e| err("(root)", format!("is not valid JSON: {e}")))?;
        Self::from_json(value)
    }

    /// The entity's canonical reference.
    pub fn entity_ref(&self) -> &EntityRef {
        &self.entity_ref
    }

    /// The descriptor as JSON (object).
    pub fn as_json(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// The descriptor as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.doc.clone())
    }

    /// `kind` as written in the descriptor.
    pub fn kind(&self) -> &str {
        self.doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `metadata.name` as written in the descriptor.
    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or_default()
    }

    /// `metadata.namespace` (defaulted).
    pub fn namespace(&self) -> &str {
        self.metadata_str("namespace").unwrap_or(DEFAULT_NAMESPACE)
    }

    /// A string field of `metadata`.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.doc.get("metadata")?.get(key)?.as_str()
    }

    /// The `spec` mapping, if any.
    pub fn spec(&self) -> Option<&Map<String, Value>> {
        self.doc.get("spec")?.as_object()
    }

    /// A string field of `spec`.
    pub fn spec_str(&self, key: &str) -> Option<&str> {
        self.spec()?.get(key)?.as_str()
    }

    /// Canonical JSON of the descriptor (keys sorted, no whitespace).
    pub fn canonical_json(&self) -> String {
        // serde_json's Map is ordered by key, so serialisation is canonical.
        Value::Object(self.doc.clone()).to_string()
    }

    /// Hex SHA-256 of the canonical JSON: equal hashes mean equal content.
    pub fn content_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }
}

/// The dotted path of the first key or string value containing NUL.
fn find_nul(map: &Map<String, Value>, prefix: &str) -> Option<String> {
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if k.contains('\0') {
            return Some(path);
        }
        if let Some(found) = find_nul_value(v, &path) {
            return Some(found);
        }
    }
    None
}

fn find_nul_value(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\0') => Some(path.to_string()),
        Value::Object(m) => find_nul(m, path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_nul_value(item, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn required_str<'a>(doc: &'a Map<String, Value>, key: &str) -> Result<&'a str, EntityError> {
    match doc.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(err(key, "must be a string")),
        None => Err(err(key, "is required")),
    }
}

fn invalid(field: &str, value: &str, expected: &str) -> EntityError {
    err(
        field,
        format!("is not valid; expected {expected} but found {value:?}"),
    )
}

const NAME_RULE: &str = "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";

fn validate_metadata(m: &Map<String, Value>) -> Result<(String, String), EntityError> {
    let name = match m.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(err("metadata.name", "must be a string")),
        None => return Err(err("metadata.name", "is required")),
    };
    if !validate::is_valid_object_name(&name) {
        return Err(invalid("metadata.name", &name, NAME_RULE));
    }
    let namespace = match m.get("namespace") {
        None => DEFAULT_NAMESPACE.to_string(),
        Some(Value::String(s)) if validate::is_valid_dns_label(s) => s.clone(),
        Some(Value::String(s)) => {
            return Err(invalid(
                "metadata.namespace",
                s,
                "a lower-case DNS label ([a-z0-9] separated by single -), at most 63 characters",
            ));
        }
        Some(_) => return Err(err("metadata.namespace", "must be a string")),
    };
    for key in ["title", "description"] {
        if let Some(v) = m.get(key)
            && !v.is_string()
        {
            return Err(err(format!("metadata.{key}"), "must be a string"));
        }
    }
    validate_string_map(m, "labels", validate::is_valid_label_value, NAME_RULE)?;
    validate_string_map(m, "annotations", |_| true, "a string")?;
    if let Some(tags) = m.get("tags") {
        let tags = tags
            .as_array()
            .ok_or_else(|| err("metadata.tags", "must be a list of strings"))?;
        for (i, tag) in tags.iter().enumerate() {
            let field = format!("metadata.tags[{i}]");
            let tag = tag
                .as_str()
                .ok_or_else(|| err(&field, "must be a string"))?;
            if !validate::is_valid_tag(tag) {
                return Err(invalid(
                    &field,
                    tag,
                    "1-63 characters of [a-z0-9:+#] separated by single -",
                ));
            }
        }
    }
    if let Some(links) = m.get("links") {
        let links = links
            .as_array()
            .ok_or_else(|| err("metadata.links", "must be a list"))?;
        for (i, link) in links.iter().enumerate() {
            let field = format!("metadata.links[{i}].url");
            match link.get("url") {
                Some(Value::String(u)) if !u.trim().is_empty() => {}
                _ => return Err(err(field, "is required and must be a non-empty string")),
            }
        }
    }
    Ok((name, namespace))
}

fn validate_string_map(
    m: &Map<String, Value>,
    key: &str,
    value_ok: impl Fn(&str) -> bool,
    value_rule: &str,
) -> Result<(), EntityError> {
    let Some(v) = m.get(key) else { return Ok(()) };
    let map = v
        .as_object()
        .ok_or_else(|| err(format!("metadata.{key}"), "must be a mapping of strings"))?;
    for (k, v) in map {
        let field = format!("metadata.{key}.{k}");
        if !validate::is_valid_metadata_key(k) {
            return Err(err(
                field,
                "has an invalid key; expected [<dns-subdomain>/]<name of [a-zA-Z0-9] separated by [-_.]>",
            ));
        }
        match v.as_str() {
            Some(s) if value_ok(s) => {}
            Some(s) => return Err(invalid(&field, s, value_rule)),
            None => return Err(err(field, "must be a string")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn component(name: &str) -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": name}, "spec": {"type": "service", "owner": "team-a", "lifecycle": "production"}
        })
    }

    #[test]
    fn valid_entity_gets_default_namespace_and_ref() {
        let e = Entity::from_json(component("My.Service")).unwrap();
        assert_eq!(e.entity_ref().to_string(), "component:default/my.service");
        assert_eq!(e.name(), "My.Service");
        assert_eq!(e.namespace(), "default");
        assert_eq!(e.spec_str("type"), Some("service"));
    }

    #[test]
    fn output_only_fields_are_dropped_and_hash_is_stable() {
        let mut doc = component("a");
        doc["relations"] = json!([{"type": "ownedBy", "targetRef": "group:default/x"}]);
        doc["metadata"]["uid"] = json!("123");
        let e = Entity::from_json(doc).unwrap();
        assert!(!e.as_json().contains_key("relations"));
        assert_eq!(
            e.content_hash(),
            Entity::from_json(component("a")).unwrap().content_hash()
        );
    }

    #[test]
    fn invalid_documents_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!("text"), "(root)"),
            (
                json!({"kind": "Component", "metadata": {"name": "a"}}),
                "apiVersion",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
                "kind",
            ),
            (json!({"apiVersion": "v1", "kind": "Component"}), "metadata"),
            (
                json!({"apiVersion": "v1", "kind": "Component", "metadata": {}}),
                "metadata.name",
            ),
            (component("bad name"), "metadata.name"),
            (
                json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a", "namespace": "Prod"}}),
                "metadata.namespace",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a", "tags": ["Java"]}}),
                "metadata.tags[0]",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a", "labels": {"a": 1}}}),
                "metadata.labels.a",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a"}, "spec": []}),
                "spec",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a"}, "extra": 1}),
                "extra",
            ),
        ];
        for (doc, field) in cases {
            let e = Entity::from_json(doc.clone()).unwrap_err();
            assert_eq!(e.field, field, "for {doc}: {e}");
        }
    }
}
