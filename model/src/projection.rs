//! Field selection on JSON entities (Backstage's `fields`): the parts of a
//! document at dotted paths, the rest left out.

use serde_json::{Map, Value};

/// The parts of `doc` at `paths`, each a dotted path split at its dots. A
/// key may span several segments (`metadata.annotations.backstage.io/x`
/// names the annotation `backstage.io/x`); an object that nothing asked
/// for was found in is left out, as a path that leads nowhere is.
pub fn select_paths(doc: Value, paths: &[&[String]]) -> Value {
    let Value::Object(map) = doc else {
        return doc;
    };
    let mut out = Map::new();
    for (key, value) in map {
        let mut whole = false;
        let mut subs: Vec<&[String]> = Vec::new();
        for path in paths {
            let mut joined = String::new();
            for (i, segment) in path.iter().enumerate() {
                if i > 0 {
                    joined.push('.');
                }
                joined.push_str(segment);
                if joined == key {
                    if i + 1 == path.len() {
                        whole = true;
                    } else {
                        subs.push(&path[i + 1..]);
                    }
                    break;
                }
                if joined.len() >= key.len() {
                    break;
                }
            }
        }
        if whole {
            out.insert(key, value);
        } else if !subs.is_empty() {
            let picked = select_paths(value, &subs);
            if picked.as_object().is_none_or(|o| !o.is_empty()) {
                out.insert(key, picked);
            }
        }
    }
    Value::Object(out)
}

/// [`select_paths`] for dotted paths; no paths selects everything.
pub fn select_fields(doc: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return doc;
    }
    let split: Vec<Vec<String>> = fields
        .iter()
        .map(|f| f.split('.').map(str::to_string).collect())
        .collect();
    let paths: Vec<&[String]> = split.iter().map(Vec::as_slice).collect();
    select_paths(doc, &paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_named_paths_are_kept_and_keys_may_hold_dots() {
        let e = json!({
            "kind": "Component",
            "metadata": {"name": "a", "tags": ["x"], "annotations": {"backstage.io/x": "y", "z": "w"}},
            "spec": {"type": "service"},
        });
        let fields = [
            "kind",
            "metadata.name",
            "metadata.annotations.backstage.io/x",
            "spec.nope",
        ]
        .map(String::from);
        assert_eq!(
            select_fields(e.clone(), &fields),
            json!({"kind": "Component", "metadata": {"name": "a", "annotations": {"backstage.io/x": "y"}}})
        );
        assert_eq!(select_fields(e.clone(), &[]), e);
        // A whole object asked for is kept, even when empty.
        assert_eq!(
            select_fields(json!({"spec": {}}), &["spec".into()]),
            json!({"spec": {}})
        );
    }
}
