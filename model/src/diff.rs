//! What changed between two versions of a descriptor, as a list of field
//! changes addressed by JSON Pointer (RFC 6901). Objects are compared key by
//! key; arrays and scalars that differ are reported whole at their path.

use serde_json::{Map, Value};

/// How a field changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldChangeKind {
    Added,
    Removed,
    Changed,
}

/// One changed field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// JSON Pointer, e.g. `/spec/owner` or `/metadata/annotations/backstage.io~1x`.
    pub path: String,
    pub kind: FieldChangeKind,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The changes that turn `old` into `new`, in key order.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(&mut out, String::new(), old, new);
    out
}

fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(out: &mut Vec<FieldChange>, path: String, old: &Value, new: &Value) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => objects(out, &path, a, b),
        _ if old == new => {}
        _ => out.push(FieldChange {
            path,
            kind: FieldChangeKind::Changed,
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

fn objects(out: &mut Vec<FieldChange>, path: &str, a: &Map<String, Value>, b: &Map<String, Value>) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let child = format!("{path}/{}", pointer_token(key));
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => walk(out, child, x, y),
            (Some(x), None) => out.push(FieldChange {
                path: child,
                kind: FieldChangeKind::Removed,
                old: Some(x.clone()),
                new: None,
            }),
            (None, Some(y)) => out.push(FieldChange {
                path: child,
                kind: FieldChangeKind::Added,
                old: None,
                new: Some(y.clone()),
            }),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_added_removed_and_changed_fields_by_pointer() {
        let old = json!({"metadata": {"name": "a", "annotations": {"x.io/a": "1"}, "tags": ["a"]},
                         "spec": {"owner": "t1", "lifecycle": "x"}});
        let new = json!({"metadata": {"name": "a", "annotations": {"x.io/a": "2"}, "tags": ["a", "b"]},
                         "spec": {"owner": "t2", "system": "s"}});
        let changes = diff(&old, &new);
        let summary: Vec<(String, FieldChangeKind)> =
            changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            summary,
            vec![
                (
                    "/metadata/annotations/x.io~1a".to_string(),
                    FieldChangeKind::Changed
                ),
                ("/metadata/tags".to_string(), FieldChangeKind::Changed),
                ("/spec/lifecycle".to_string(), FieldChangeKind::Removed),
                ("/spec/owner".to_string(), FieldChangeKind::Changed),
                ("/spec/system".to_string(), FieldChangeKind::Added),
            ]
        );
        assert_eq!(changes[3].old, Some(json!("t1")));
        assert_eq!(changes[3].new, Some(json!("t2")));
        assert!(diff(&old, &old).is_empty());
    }
}
