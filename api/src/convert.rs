//! Read-model rows to `catalog.v1` wire types.

use catalog_proto::json_to_struct;
use catalog_proto::v1 as pb;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
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

/// A document's members as unparsed text.
type Members<'a> = BTreeMap<String, &'a RawValue>;

/// The members of a JSON object (none for anything else).
fn members(text: &str) -> Members<'_> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A member's string (empty when absent or not a string).
fn str_field(m: &Members<'_>, key: &str) -> String {
    m.get(key).and_then(|v| string(v)).unwrap_or_default()
}

/// The string a value is, if it is one.
fn string(v: &RawValue) -> Option<String> {
    serde_json::from_str(v.get()).ok()
}

/// A member that is an object of strings (other values left out).
fn string_map(m: &Members<'_>, key: &str) -> std::collections::HashMap<String, String> {
    m.get(key)
        .map(|v| {
            members(v.get())
                .into_iter()
                .filter_map(|(k, v)| string(v).map(|s| (k, s)))
                .collect()
        })
        .unwrap_or_default()
}

/// A member's array items (none when absent or not an array).
fn items<'a>(m: &Members<'a>, key: &str) -> Vec<&'a RawValue> {
    m.get(key)
        .and_then(|v| serde_json::from_str(v.get()).ok())
        .unwrap_or_default()
}

/// The view a request asked for; an enum value this release does not know
/// is refused rather than answered in another view.
pub fn entity_view(field: &str, value: i32) -> Result<pb::EntityView, crate::error::ApiError> {
    pb::EntityView::try_from(value).map_err(|_| {
        crate::error::ApiError::InvalidArgument(format!(
            "{field} {value} is not an EntityView (0 = structured, 1 = JSON)"
        ))
    })
}

/// The wire form of a stored entity in `view`, with only `projection`'s
/// fields (and the provenance).
pub fn render(row: EntityRow, view: pb::EntityView, projection: &Projection) -> pb::Entity {
    match view {
        pb::EntityView::Unspecified => projection.apply(entity_to_proto(row)),
        pb::EntityView::Json => pb::Entity {
            json: entity_json(&row, projection),
            provenance: Some(provenance(&row)),
            ..Default::default()
        },
    }
}

/// The entity as Backstage's REST API returns it, as JSON text: the stored
/// document with `metadata.uid`, `metadata.etag` and `relations`. Without a
/// projection the document's parts are copied as text, never parsed into
/// values.
pub fn entity_json(row: &EntityRow, projection: &Projection) -> String {
    if projection.is_all()
        && let Ok(top) = serde_json::from_str::<Members<'_>>(&row.entity)
    {
        let metadata = match top.get("metadata") {
            Some(m) => match serde_json::from_str::<Members<'_>>(m.get()) {
                Ok(metadata) => metadata,
                Err(_) => return entity_json_parsed(row, projection),
            },
            None => BTreeMap::new(),
        };
        let served = RawEntity {
            top: &top,
            metadata: &metadata,
            uid: row.uid.to_string(),
            etag: &row.etag,
            relations: &row.relations,
        };
        if let Ok(text) = serde_json::to_string(&served) {
            return text;
        }
    }
    entity_json_parsed(row, projection)
}

/// [`entity_json`] through parsed values (for projections).
fn entity_json_parsed(row: &EntityRow, projection: &Projection) -> String {
    let mut doc = match serde_json::from_str::<Value>(&row.entity) {
        Ok(Value::Object(doc)) => doc,
        _ => Map::new(),
    };
    let metadata = doc
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(metadata) = metadata {
        metadata.insert("uid".into(), Value::String(row.uid.to_string()));
        metadata.insert("etag".into(), Value::String(row.etag.clone()));
    }
    doc.insert(
        "relations".into(),
        serde_json::to_value(relations_json(&row.relations)).unwrap_or_default(),
    );
    projection.apply_json(Value::Object(doc)).to_string()
}

/// A stored document's top-level and metadata members as text, with what
/// the catalog adds, serialized without parsing the members.
struct RawEntity<'a> {
    top: &'a Members<'a>,
    metadata: &'a Members<'a>,
    uid: String,
    etag: &'a str,
    relations: &'a [(String, String)],
}

/// A relation as Backstage's REST API writes it.
#[derive(serde::Serialize)]
struct RelationJson<'a> {
    r#type: &'a str,
    #[serde(rename = "targetRef")]
    target_ref: &'a str,
}

fn relations_json(relations: &[(String, String)]) -> Vec<RelationJson<'_>> {
    relations
        .iter()
        .map(|(kind, target)| RelationJson {
            r#type: kind,
            target_ref: target,
        })
        .collect()
}

struct RawMetadata<'a>(&'a RawEntity<'a>);

impl serde::Serialize for RawMetadata<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.metadata {
            if k != "uid" && k != "etag" {
                map.serialize_entry(k, v)?;
            }
        }
        map.serialize_entry("uid", &self.0.uid)?;
        map.serialize_entry("etag", self.0.etag)?;
        map.end()
    }
}

impl serde::Serialize for RawEntity<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.top {
            match k.as_str() {
                "metadata" => map.serialize_entry(k, &RawMetadata(self))?,
                "relations" => {}
                _ => map.serialize_entry(k, v)?,
            }
        }
        if !self.top.contains_key("metadata") {
            map.serialize_entry("metadata", &RawMetadata(self))?;
        }
        map.serialize_entry("relations", &relations_json(self.relations))?;
        map.end()
    }
}

fn provenance(row: &EntityRow) -> pb::EntityProvenance {
    pb::EntityProvenance {
        entity_ref: row.entity_ref.clone(),
        sequence: u64::try_from(row.sequence).unwrap_or(0),
        event_id: row.event_id.to_string(),
        updated_at: Some(timestamp(row.updated_at)),
        location: row.location.clone(),
    }
}

/// The wire form of a stored entity (the structured view), parsed from
/// the document's text straight into the wire types.
pub fn entity_to_proto(row: EntityRow) -> pb::Entity {
    let provenance = provenance(&row);
    let doc = members(&row.entity);
    let meta = doc
        .get("metadata")
        .map(|m| members(m.get()))
        .unwrap_or_default();
    let tags = items(&meta, "tags")
        .into_iter()
        .filter_map(string)
        .collect();
    let links = items(&meta, "links")
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Members<'_>>(l.get()).ok())
        .map(|l| pb::EntityLink {
            url: str_field(&l, "url"),
            title: str_field(&l, "title"),
            icon: str_field(&l, "icon"),
            r#type: str_field(&l, "type"),
        })
        .collect();
    let extra: BTreeMap<String, prost_types::Value> = meta
        .iter()
        .filter(|(k, _)| !TYPED_METADATA.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            catalog_proto::value_from_json_str(v.get())
                .ok()
                .map(|v| (k.clone(), v))
        })
        .collect();
    pb::Entity {
        api_version: str_field(&doc, "apiVersion"),
        kind: str_field(&doc, "kind"),
        metadata: Some(pb::EntityMetadata {
            name: str_field(&meta, "name"),
            namespace: str_field(&meta, "namespace"),
            uid: row.uid.to_string(),
            etag: row.etag,
            title: str_field(&meta, "title"),
            description: str_field(&meta, "description"),
            labels: string_map(&meta, "labels"),
            annotations: string_map(&meta, "annotations"),
            tags,
            links,
            extra: (!extra.is_empty()).then_some(prost_types::Struct { fields: extra }),
        }),
        spec: doc
            .get("spec")
            .map(|s| catalog_proto::struct_from_json_str(s.get()).unwrap_or_default()),
        relations: row
            .relations
            .into_iter()
            .map(|(r#type, target_ref)| pb::EntityRelation { r#type, target_ref })
            .collect(),
        provenance: Some(provenance),
        json: String::new(),
    }
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A highlight with `MATCH_START`/`MATCH_END` markers as plain-text segments.
pub fn highlight_segments(text: &str) -> Vec<pb::HighlightSegment> {
    use catalog_projector::query::search::{MATCH_END, MATCH_START};
    let mut out = Vec::new();
    let mut current = String::new();
    let mut matched = false;
    for c in text.chars() {
        let toggle = (c == MATCH_START && !matched) || (c == MATCH_END && matched);
        if toggle {
            if !current.is_empty() {
                out.push(pb::HighlightSegment {
                    text: std::mem::take(&mut current),
                    matched,
                });
            }
            matched = !matched;
        } else if c != MATCH_START && c != MATCH_END {
            current.push(c);
        }
    }
    if !current.is_empty() {
        out.push(pb::HighlightSegment {
            text: current,
            matched,
        });
    }
    out
}

/// A stored version with what changed from `previous`.
pub fn version_to_proto(
    version: catalog_projector::query::Version,
    previous: Option<&catalog_projector::query::Version>,
) -> pb::EntityVersion {
    use catalog_model::diff::{FieldChangeKind, diff};
    let previous_entity = previous.and_then(|p| p.entity.as_ref());
    let (change, changes) = match (&version.entity, previous_entity) {
        (None, _) => (pb::ChangeKind::Deleted, Vec::new()),
        (Some(_), None) => (pb::ChangeKind::Created, Vec::new()),
        (Some(now), Some(before)) => (
            pb::ChangeKind::Updated,
            diff(before, now)
                .into_iter()
                .map(|c| pb::FieldChange {
                    path: c.path,
                    kind: match c.kind {
                        FieldChangeKind::Added => pb::FieldChangeKind::Added,
                        FieldChangeKind::Removed => pb::FieldChangeKind::Removed,
                        FieldChangeKind::Changed => pb::FieldChangeKind::Changed,
                    } as i32,
                    old_value: c.old.as_ref().map(catalog_proto::json_to_value),
                    new_value: c.new.as_ref().map(catalog_proto::json_to_value),
                })
                .collect(),
        ),
    };
    pb::EntityVersion {
        sequence: version.sequence,
        event_id: version.event_id.to_string(),
        time: Some(timestamp(version.occurred_at)),
        producer: version.producer,
        location: version.location,
        change: change as i32,
        entity: version.entity.as_ref().map(json_to_struct),
        content_hash: version.content_hash.unwrap_or_default(),
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(doc: serde_json::Value) -> EntityRow {
        EntityRow {
            entity_ref: "component:default/a".into(),
            uid: uuid::Uuid::nil(),
            etag: "etag".into(),
            entity: doc.to_string(),
            sequence: 7,
            event_id: uuid::Uuid::nil(),
            location: "file:/a.yaml".into(),
            updated_at: chrono::DateTime::UNIX_EPOCH,
            relations: vec![("ownedBy".into(), "group:default/t".into())],
        }
    }

    #[test]
    fn stored_documents_become_structured_entities_keeping_only_well_typed_parts() {
        let doc = serde_json::json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "a", "title": 5, "description": "d\u{e9}\n",
                "labels": {"tier": "1", "odd": 2},
                "annotations": {"backstage.io/x": "y"},
                "tags": ["java", 3, "go"],
                "links": [{"url": "https://x", "title": "X", "extra": 1}, "not-a-link"],
                "custom": {"deep": [1, null, {"z": true}]}, "count": 2.5,
            },
            "spec": {"type": "service", "replicas": 3, "owner": "t"},
        });
        let e = entity_to_proto(row(doc.clone()));
        assert_eq!(
            (e.api_version.as_str(), e.kind.as_str()),
            ("backstage.io/v1alpha1", "Component")
        );
        let m = e.metadata.unwrap();
        assert_eq!(
            (m.name.as_str(), m.title.as_str(), m.description.as_str()),
            ("a", "", "d\u{e9}\n")
        );
        assert_eq!(
            (m.uid.as_str(), m.etag.as_str()),
            ("00000000-0000-0000-0000-000000000000", "etag")
        );
        assert_eq!(m.labels, [("tier".to_string(), "1".to_string())].into());
        assert_eq!(
            m.annotations,
            [("backstage.io/x".to_string(), "y".to_string())].into()
        );
        assert_eq!(m.tags, ["java", "go"]);
        assert_eq!(m.links.len(), 1);
        assert_eq!(
            (m.links[0].url.as_str(), m.links[0].title.as_str()),
            ("https://x", "X")
        );
        assert_eq!(
            catalog_proto::struct_to_json(&m.extra.unwrap()),
            serde_json::json!({"custom": {"deep": [1, null, {"z": true}]}, "count": 2.5})
        );
        assert_eq!(catalog_proto::struct_to_json(&e.spec.unwrap()), doc["spec"]);
        assert_eq!(e.relations.len(), 1);
        assert_eq!(e.provenance.unwrap().sequence, 7);
        // A document that is not an object still makes an (empty) entity.
        let e = entity_to_proto(row(serde_json::json!([1])));
        assert!(e.kind.is_empty() && e.spec.is_none());
        assert!(e.metadata.unwrap().extra.is_none());
    }

    #[test]
    fn highlights_become_text_segments() {
        let s = highlight_segments("The \u{2}artist\u{3} lookup \u{2}svc\u{3}");
        let parts: Vec<(&str, bool)> = s.iter().map(|p| (p.text.as_str(), p.matched)).collect();
        assert_eq!(
            parts,
            vec![
                ("The ", false),
                ("artist", true),
                (" lookup ", false),
                ("svc", true)
            ]
        );
    }
}

/// Field projection of entities (Backstage's `fields`): dotted paths into
/// the entity, e.g. `kind`, `metadata.name`, `metadata.annotations`,
/// `spec.type`, `relations`. Provenance (the ref) is always kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    paths: Vec<Vec<String>>,
}

/// Most paths in one projection.
pub const MAX_FIELDS: usize = 50;

impl Projection {
    /// Parses paths, naming a bad one by its index; empty means "everything".
    pub fn parse(paths: &[String]) -> Result<Self, crate::error::ApiError> {
        if paths.len() > MAX_FIELDS {
            return Err(crate::error::ApiError::InvalidArgument(format!(
                "fields has {} paths; at most {MAX_FIELDS} are allowed",
                paths.len()
            )));
        }
        let mut out = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let segments: Vec<String> = p.split('.').map(str::to_string).collect();
            if p.len() > 200 || segments.iter().any(|s| s.is_empty()) {
                return Err(crate::error::ApiError::InvalidArgument(format!(
                    "fields[{i}] {p:?} is not a dotted field path"
                )));
            }
            out.push(segments);
        }
        Ok(Self { paths: out })
    }

    /// Whether nothing is projected away.
    pub fn is_all(&self) -> bool {
        self.paths.is_empty()
    }

    /// A canonical text form (for page-token fingerprints).
    pub fn canonical(&self) -> String {
        let mut paths: Vec<String> = self.paths.iter().map(|p| p.join(".")).collect();
        paths.sort();
        paths.join(",")
    }

    fn selects(&self, top: &str) -> bool {
        self.paths.iter().any(|p| p[0] == top)
    }

    /// The sub-paths selected under `top` (`None`: all of it).
    fn under(&self, top: &str) -> Option<Vec<Vec<String>>> {
        let mut subs = Vec::new();
        for p in self.paths.iter().filter(|p| p[0] == top) {
            if p.len() == 1 {
                return None;
            }
            subs.push(p[1..].to_vec());
        }
        Some(subs)
    }

    /// Keeps only the selected parts of a JSON entity. A key may span
    /// several segments of a path (`metadata.annotations.backstage.io/x`
    /// names the annotation `backstage.io/x`).
    pub fn apply_json(&self, doc: Value) -> Value {
        if self.is_all() {
            return doc;
        }
        let paths: Vec<&[String]> = self.paths.iter().map(Vec::as_slice).collect();
        catalog_model::projection::select_paths(doc, &paths)
    }

    /// Keeps only the selected parts of `e`.
    pub fn apply(&self, mut e: pb::Entity) -> pb::Entity {
        if self.is_all() {
            return e;
        }
        if !self.selects("apiVersion") {
            e.api_version.clear();
        }
        if !self.selects("kind") {
            e.kind.clear();
        }
        if !self.selects("relations") {
            e.relations.clear();
        }
        e.spec = match self.under("spec") {
            None => e.spec,
            Some(subs) if subs.is_empty() => None,
            Some(subs) => e
                .spec
                .map(|s| json_to_struct(&project_json(catalog_proto::struct_to_json(&s), &subs))),
        };
        e.metadata = match self.under("metadata") {
            None => e.metadata,
            Some(subs) if subs.is_empty() => None,
            Some(subs) => e.metadata.map(|m| project_metadata(m, &subs)),
        };
        e
    }
}

fn project_metadata(m: pb::EntityMetadata, subs: &[Vec<String>]) -> pb::EntityMetadata {
    let wants = |k: &str| subs.iter().any(|s| s[0] == k);
    let keys = |k: &str| -> Option<Vec<String>> {
        let mut out = Vec::new();
        for s in subs.iter().filter(|s| s[0] == k) {
            if s.len() == 1 {
                return None;
            }
            // A key may itself contain dots (`backstage.io/techdocs-ref`).
            out.push(s[1..].join("."));
        }
        Some(out)
    };
    let pick = |map: std::collections::HashMap<String, String>, k: &str| match keys(k) {
        None => map,
        Some(wanted) => map
            .into_iter()
            .filter(|(key, _)| wanted.contains(key))
            .collect(),
    };
    let extra_subs: Vec<Vec<String>> = subs
        .iter()
        .filter(|s| !TYPED_METADATA.contains(&s[0].as_str()))
        .cloned()
        .collect();
    pb::EntityMetadata {
        name: if wants("name") { m.name } else { String::new() },
        namespace: if wants("namespace") {
            m.namespace
        } else {
            String::new()
        },
        uid: if wants("uid") { m.uid } else { String::new() },
        etag: if wants("etag") { m.etag } else { String::new() },
        title: if wants("title") {
            m.title
        } else {
            String::new()
        },
        description: if wants("description") {
            m.description
        } else {
            String::new()
        },
        labels: if wants("labels") {
            pick(m.labels, "labels")
        } else {
            Default::default()
        },
        annotations: if wants("annotations") {
            pick(m.annotations, "annotations")
        } else {
            Default::default()
        },
        tags: if wants("tags") { m.tags } else { Vec::new() },
        links: if wants("links") { m.links } else { Vec::new() },
        extra: if extra_subs.is_empty() {
            None
        } else {
            m.extra.map(|x| {
                json_to_struct(&project_json(
                    catalog_proto::struct_to_json(&x),
                    &extra_subs,
                ))
            })
        },
    }
}

/// The parts of a JSON object at `paths` (each a list of keys).
fn project_json(v: Value, paths: &[Vec<String>]) -> Value {
    let paths: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
    catalog_model::projection::select_paths(v, &paths)
}
