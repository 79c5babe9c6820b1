//! `catalog.v1` wire types to Backstage's JSON entity shape.

use catalog_proto::struct_to_json;
use catalog_proto::v1 as pb;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// An entity as Backstage's REST API returns it, as JSON text passed on
/// unparsed: the API's JSON view (`ENTITY_VIEW_JSON`) when it sent one,
/// else made from the structured fields (an API that predates the view).
pub fn entity_raw(mut e: pb::Entity) -> Box<RawValue> {
    if !e.json.is_empty() {
        match RawValue::from_string(std::mem::take(&mut e.json)) {
            Ok(raw) => return raw,
            Err(err) => tracing::warn!(error = %err, "the API sent an entity that is not JSON"),
        }
    }
    // `Box<RawValue>`'s default is `null`.
    serde_json::value::to_raw_value(&entity_to_json(&e)).unwrap_or_default()
}

/// An entity as Backstage's REST API returns it, as a JSON value (for
/// handlers that pick parts of it).
pub fn entity_value(e: &pb::Entity) -> Value {
    if !e.json.is_empty()
        && let Ok(value) = serde_json::from_str(&e.json)
    {
        return value;
    }
    entity_to_json(e)
}

fn put_str(m: &mut Map<String, Value>, key: &str, v: &str) {
    if !v.is_empty() {
        m.insert(key.into(), Value::String(v.to_string()));
    }
}

/// An entity as Backstage's REST API returns it: the descriptor, with
/// `metadata.uid`/`etag` and `relations`.
pub fn entity_to_json(e: &pb::Entity) -> Value {
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), Value::String(e.api_version.clone()));
    doc.insert("kind".into(), Value::String(e.kind.clone()));
    let mut meta = Map::new();
    if let Some(m) = &e.metadata {
        if let Some(Value::Object(extra)) = m.extra.as_ref().map(struct_to_json) {
            meta.extend(extra);
        }
        put_str(&mut meta, "name", &m.name);
        put_str(&mut meta, "namespace", &m.namespace);
        put_str(&mut meta, "uid", &m.uid);
        put_str(&mut meta, "etag", &m.etag);
        put_str(&mut meta, "title", &m.title);
        put_str(&mut meta, "description", &m.description);
        if !m.labels.is_empty() {
            meta.insert("labels".into(), json!(m.labels));
        }
        if !m.annotations.is_empty() {
            meta.insert("annotations".into(), json!(m.annotations));
        }
        if !m.tags.is_empty() {
            meta.insert("tags".into(), json!(m.tags));
        }
        if !m.links.is_empty() {
            let links: Vec<Value> = m
                .links
                .iter()
                .map(|l| {
                    let mut o = Map::new();
                    put_str(&mut o, "url", &l.url);
                    put_str(&mut o, "title", &l.title);
                    put_str(&mut o, "icon", &l.icon);
                    put_str(&mut o, "type", &l.r#type);
                    Value::Object(o)
                })
                .collect();
            meta.insert("links".into(), Value::Array(links));
        }
    }
    doc.insert("metadata".into(), Value::Object(meta));
    if let Some(spec) = &e.spec {
        doc.insert("spec".into(), struct_to_json(spec));
    }
    let relations: Vec<Value> = e
        .relations
        .iter()
        .map(|r| json!({"type": r.r#type, "targetRef": r.target_ref}))
        .collect();
    doc.insert("relations".into(), Value::Array(relations));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structured() -> pb::Entity {
        pb::Entity {
            api_version: "backstage.io/v1alpha1".into(),
            kind: "Component".into(),
            metadata: Some(pb::EntityMetadata {
                name: "a".into(),
                uid: "u".into(),
                etag: "e".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_json_view_passes_through_as_sent() {
        let text = r#"{"kind": "Component", "metadata": {"name": "a"}, "relations": []}"#;
        let e = pb::Entity {
            json: text.into(),
            ..Default::default()
        };
        assert_eq!(entity_raw(e.clone()).get(), text);
        assert_eq!(entity_value(&e)["metadata"]["name"], "a");
    }

    #[test]
    fn structured_entities_and_bad_text_fall_back_to_the_structured_fields() {
        let expected = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "a", "uid": "u", "etag": "e"},
            "relations": [],
        });
        let raw = entity_raw(structured());
        assert_eq!(serde_json::from_str::<Value>(raw.get()).unwrap(), expected);
        let broken = pb::Entity {
            json: "{not json".into(),
            ..structured()
        };
        let raw = entity_raw(broken.clone());
        assert_eq!(serde_json::from_str::<Value>(raw.get()).unwrap(), expected);
        assert_eq!(entity_value(&broken), expected);
    }
}
