//! `catalog.v1` wire types to Backstage's JSON entity shape.

use catalog_proto::struct_to_json;
use catalog_proto::v1 as pb;
use serde_json::{Map, Value, json};

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
