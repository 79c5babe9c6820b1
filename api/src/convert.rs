//! Read-model rows to `catalog.v1` wire types.

use catalog_proto::json_to_struct;
use catalog_proto::v1 as pb;
use serde_json::{Map, Value};

use crate::query::EntityRow;

/// Metadata fields that have their own place in `EntityMetadata`.
const TYPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "etag",
    "title",
    "description",
    "labels",
    "annotations",
    "tags",
    "links",
];

fn str_field(m: &Map<String, Value>, key: &str) -> String {
    m.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn string_map(m: &Map<String, Value>, key: &str) -> std::collections::HashMap<String, String> {
    m.get(key)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The wire form of a stored entity.
pub fn entity_to_proto(row: EntityRow) -> pb::Entity {
    let empty = Map::new();
    let doc = row.entity.as_object().unwrap_or(&empty);
    let meta = doc
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let tags = meta
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let links = meta
        .get("links")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|l| pb::EntityLink {
                    url: str_field(l, "url"),
                    title: str_field(l, "title"),
                    icon: str_field(l, "icon"),
                    r#type: str_field(l, "type"),
                })
                .collect()
        })
        .unwrap_or_default();
    let extra: Map<String, Value> = meta
        .iter()
        .filter(|(k, _)| !TYPED_METADATA.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pb::Entity {
        api_version: str_field(doc, "apiVersion"),
        kind: str_field(doc, "kind"),
        metadata: Some(pb::EntityMetadata {
            name: str_field(meta, "name"),
            namespace: str_field(meta, "namespace"),
            uid: row.uid.to_string(),
            etag: row.etag,
            title: str_field(meta, "title"),
            description: str_field(meta, "description"),
            labels: string_map(meta, "labels"),
            annotations: string_map(meta, "annotations"),
            tags,
            links,
            extra: (!extra.is_empty()).then(|| json_to_struct(&Value::Object(extra))),
        }),
        spec: doc.get("spec").map(json_to_struct),
        relations: row
            .relations
            .into_iter()
            .map(|(r#type, target_ref)| pb::EntityRelation { r#type, target_ref })
            .collect(),
        provenance: Some(pb::EntityProvenance {
            entity_ref: row.entity_ref,
            sequence: u64::try_from(row.sequence).unwrap_or(0),
            event_id: row.event_id.to_string(),
            updated_at: Some(prost_types::Timestamp {
                seconds: row.updated_at.timestamp(),
                nanos: i32::try_from(row.updated_at.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            location: row.location,
        }),
    }
}
