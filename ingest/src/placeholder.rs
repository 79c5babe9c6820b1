//! Backstage's placeholders: `{$text: ref}`, `{$json: ref}`, `{$yaml: ref}`
//! anywhere in a document are replaced by the referenced document's content
//! (as a string, parsed JSON, or parsed YAML). References resolve relative to
//! the descriptor and must stay inside the location's base
//! ([`crate::location::resolve`]). Substituted content is not searched for
//! further placeholders.

use serde_json::Value;

/// Most placeholders in one document.
pub const MAX_PLACEHOLDERS: usize = 100;

/// The placeholder kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderKind {
    Text,
    Json,
    Yaml,
}

/// One placeholder found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// JSON pointer of the placeholder object, e.g. `/spec/definition`.
    pub pointer: String,
    pub kind: PlaceholderKind,
    /// The reference as written.
    pub reference: String,
}

/// The dotted field path of a JSON pointer, for messages.
pub fn field_of(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Every placeholder in `doc`, or an error naming the malformed one.
pub fn find(doc: &Value) -> Result<Vec<Placeholder>, (String, String)> {
    let mut out = Vec::new();
    walk(doc, String::new(), &mut out)?;
    if out.len() > MAX_PLACEHOLDERS {
        return Err((
            "(document)".into(),
            format!(
                "has {} placeholders; at most {MAX_PLACEHOLDERS} are allowed",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn walk(v: &Value, pointer: String, out: &mut Vec<Placeholder>) -> Result<(), (String, String)> {
    match v {
        Value::Object(map) => {
            let kind = |k: &str| match k {
                "$text" => Some(PlaceholderKind::Text),
                "$json" => Some(PlaceholderKind::Json),
                "$yaml" => Some(PlaceholderKind::Yaml),
                _ => None,
            };
            if let Some((k, target)) = map.iter().find(|(k, _)| kind(k).is_some()) {
                let field = field_of(&pointer);
                if map.len() != 1 {
                    return Err((
                        field,
                        format!("a {k} placeholder must be the only key of its mapping"),
                    ));
                }
                let Value::String(reference) = target else {
                    return Err((field, format!("a {k} placeholder needs a string reference")));
                };
                out.push(Placeholder {
                    pointer,
                    kind: kind(k).unwrap_or(PlaceholderKind::Text),
                    reference: reference.clone(),
                });
                return Ok(());
            }
            for (k, child) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                walk(child, format!("{pointer}/{escaped}"), out)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, format!("{pointer}/{i}"), out)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Replaces the placeholder at `p.pointer` with `content`, parsed per its kind.
pub fn substitute(doc: &mut Value, p: &Placeholder, content: &str) -> Result<(), String> {
    let value = match p.kind {
        PlaceholderKind::Text => Value::String(content.to_string()),
        PlaceholderKind::Json => {
            serde_json::from_str(content).map_err(|e| format!("is not valid JSON: {e}"))?
        }
        PlaceholderKind::Yaml => {
            serde_saphyr::from_str(content).map_err(|e| format!("is not valid YAML: {e}"))?
        }
    };
    let slot = doc
        .pointer_mut(&p.pointer)
        .ok_or_else(|| format!("placeholder at {} vanished", field_of(&p.pointer)))?;
    *slot = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_substitutes_each_kind() {
        let mut doc = json!({
            "spec": {"definition": {"$text": "./api.yaml"}, "list": [{"$json": "x.json"}], "meta": {"$yaml": "m.yaml"}}
        });
        let found = find(&doc).unwrap();
        assert_eq!(found.len(), 3);
        for p in &found {
            let content = match p.kind {
                PlaceholderKind::Text => "openapi: 3.0.0",
                PlaceholderKind::Json => "{\"a\": 1}",
                PlaceholderKind::Yaml => "b: [1, 2]",
            };
            substitute(&mut doc, p, content).unwrap();
        }
        assert_eq!(
            doc,
            json!({"spec": {"definition": "openapi: 3.0.0", "list": [{"a": 1}], "meta": {"b": [1, 2]}}})
        );
    }

    #[test]
    fn malformed_placeholders_are_errors_naming_the_field() {
        let (field, msg) = find(&json!({"spec": {"d": {"$text": 3}}})).unwrap_err();
        assert_eq!(field, "spec.d");
        assert!(msg.contains("string"), "{msg}");
        let (field, _) = find(&json!({"spec": {"d": {"$text": "a", "other": 1}}})).unwrap_err();
        assert_eq!(field, "spec.d");
    }
}
