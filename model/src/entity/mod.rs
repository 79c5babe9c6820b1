//! A validated entity descriptor in Backstage's shape: the envelope and
//! metadata rules every entity must meet, whatever its kind.
//!
//! Sources (`packages/catalog-model/src` in backstage/backstage):
//! - `schema/Entity.schema.json`, `schema/EntityMeta.schema.json`: required
//!   fields and types; `metadata.title` and `links[].{url,title,icon,type}`
//!   have `minLength: 1`, `metadata.description` has none.
//! - `entity/policies/NoForeignRootFieldsEntityPolicy.ts`: root keys.
//! - `entity/policies/FieldFormatEntityPolicy.ts` with
//!   `validation/{Kubernetes,Common}ValidatorFunctions.ts`: name, namespace,
//!   kind, apiVersion, label and annotation keys and values, tags,
//!   `links[].url` (`new URL` parses it), `links[].title` (not blank after
//!   trim), `links[].icon` (an object name).
//!
//! Kind-specific rules (spec fields, accepted apiVersions, reserved keys) live
//! in [`crate::kinds`].

use std::sync::{Arc, OnceLock};

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
///
/// An entity is immutable once validated, so its canonical JSON is computed
/// at most once and shared by its clones (the ingestor needs it for the size
/// check, the content hash and the event; the projector for the hash check
/// and the stored document). A [compact](Entity::compact) entity holds only
/// that text, and parses it again if its fields are asked for: the ingestor
/// keeps every entity of its locations that way.
///
/// Invariant: at least one of `doc` and `canonical` is set.
#[derive(Debug, Clone)]
pub struct Entity {
    entity_ref: EntityRef,
    doc: OnceLock<Map<String, Value>>,
    canonical: OnceLock<Arc<str>>,
}

impl PartialEq for Entity {
    fn eq(&self, other: &Self) -> bool {
        // The canonical text is a one-to-one image of the document.
        self.entity_ref == other.entity_ref && self.canonical_text() == other.canonical_text()
    }
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
            doc: OnceLock::from(doc),
            canonical: OnceLock::new(),
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
        self.doc.get_or_init(|| {
            // A compact entity: its text is this crate's own serialisation
            // of a map, so it parses back to one.
            self.canonical
                .get()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default()
        })
    }

    /// The descriptor as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.as_json().clone())
    }

    /// The same entity holding only its canonical JSON (about a third of
    /// the memory of the parsed document), which it parses again when its
    /// fields are asked for.
    pub fn compact(&self) -> Entity {
        Entity {
            entity_ref: self.entity_ref.clone(),
            doc: OnceLock::new(),
            canonical: OnceLock::from(Arc::clone(self.canonical_text())),
        }
    }

    /// `apiVersion` as written in the descriptor.
    pub fn api_version(&self) -> &str {
        self.as_json()
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `kind` as written in the descriptor.
    pub fn kind(&self) -> &str {
        self.as_json()
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
        self.as_json().get("metadata")?.get(key)?.as_str()
    }

    /// The `spec` mapping, if any.
    pub fn spec(&self) -> Option<&Map<String, Value>> {
        self.as_json().get("spec")?.as_object()
    }

    /// A string field of `spec`.
    pub fn spec_str(&self, key: &str) -> Option<&str> {
        self.spec()?.get(key)?.as_str()
    }

    /// Canonical JSON of the descriptor (keys sorted, no whitespace).
    pub fn canonical_json(&self) -> String {
        self.canonical_text().to_string()
    }

    /// Canonical JSON of the descriptor, computed once and shared.
    pub fn canonical_text(&self) -> &Arc<str> {
        self.canonical.get_or_init(|| {
            // serde_json's Map is ordered by key, so serialisation is
            // canonical; serialising a map of JSON values cannot fail.
            let text = serde_json::to_string(self.as_json()).unwrap_or_default();
            Arc::from(text)
        })
    }

    /// Hex SHA-256 of the canonical JSON: equal hashes mean equal content.
    pub fn content_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_text().as_bytes()))
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
const LABEL_VALUE_RULE: &str = "an empty string, or a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";

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
    // EntityMeta.schema.json: `title` has `minLength: 1`, `description` none.
    if let Some(title) = m.get("title")
        && title.as_str().is_none_or(str::is_empty)
    {
        return Err(err(
            "metadata.title",
            format!("must be a non-empty string, but found {}", describe(title)),
        ));
    }
    if let Some(v) = m.get("description")
        && !v.is_string()
    {
        return Err(err(
            "metadata.description",
            format!("must be a string, but found {}", describe(v)),
        ));
    }
    validate_string_map(
        m,
        "labels",
        validate::is_valid_label_value,
        LABEL_VALUE_RULE,
    )?;
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
        let links = links.as_array().ok_or_else(|| {
            err(
                "metadata.links",
                format!("must be a list, but found {}", describe(links)),
            )
        })?;
        for (i, link) in links.iter().enumerate() {
            validate_link(link, &format!("metadata.links[{i}]"))?;
        }
    }
    Ok((name, namespace))
}

/// One `metadata.links[]` item: the schema's types (`EntityMeta.schema.json`)
/// and `FieldFormatEntityPolicy`'s formats.
fn validate_link(link: &Value, field: &str) -> Result<(), EntityError> {
    let link = link.as_object().ok_or_else(|| {
        err(
            field,
            format!("must be a mapping with a url, but found {}", describe(link)),
        )
    })?;
    match link.get("url") {
        Some(Value::String(url)) if validate::is_script_url(url) => {
            return Err(err(
                format!("{field}.url"),
                "must not use a javascript:, vbscript: or data: URL (it would run code in the catalog's pages when clicked)",
            ));
        }
        Some(Value::String(url)) if validate::is_valid_url(url) => {}
        Some(Value::String(url)) => {
            return Err(invalid(
                &format!("{field}.url"),
                url,
                "an absolute URL such as https://example.com/page",
            ));
        }
        Some(v) => {
            return Err(err(
                format!("{field}.url"),
                format!("must be a string, but found {}", describe(v)),
            ));
        }
        None => return Err(err(format!("{field}.url"), "is required")),
    }
    if let Some(title) = link.get("title") {
        match title.as_str() {
            Some(t) if validate::is_non_blank(t) => {}
            _ => {
                return Err(err(
                    format!("{field}.title"),
                    format!(
                        "must be a string that is not blank, but found {}",
                        describe(title)
                    ),
                ));
            }
        }
    }
    if let Some(icon) = link.get("icon") {
        match icon.as_str() {
            Some(i) if validate::is_valid_object_name(i) => {}
            Some(i) => return Err(invalid(&format!("{field}.icon"), i, NAME_RULE)),
            None => {
                return Err(err(
                    format!("{field}.icon"),
                    format!("must be a string, but found {}", describe(icon)),
                ));
            }
        }
    }
    if let Some(kind) = link.get("type") {
        match kind.as_str() {
            Some(t) if !t.is_empty() => {}
            _ => {
                return Err(err(
                    format!("{field}.type"),
                    format!("must be a non-empty string, but found {}", describe(kind)),
                ));
            }
        }
    }
    Ok(())
}

/// How a JSON value reads in an error message (long strings shortened).
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null (no value)".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.is_empty() => "an empty string".to_string(),
        Value::String(s) if s.chars().count() > 60 => {
            let head: String = s.chars().take(60).collect();
            format!("the string {head:?}… ({} characters)", s.chars().count())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
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
mod tests;
