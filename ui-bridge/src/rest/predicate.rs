//! Backstage's predicate queries (`POST /entities/by-query`,
//! `POST /entity-facets`, `POST /locations/by-query`) into the wire filter.
//!
//! Logic nodes: `{"$all": [..]}` (empty matches everything), `{"$any": [..]}`
//! (empty matches nothing), `{"$not": expr}`. A leaf is an object of dotted
//! paths, AND-ed, each with a value (equality, case-insensitive) or a matcher:
//! `{"$exists": bool}`, `{"$in": [..]}`, `{"$hasPrefix": "s"}`,
//! `{"$contains": value}` (an item of an array such as tags), or on
//! `relations`, `{"$contains": {"type": t, "targetRef": ref | {"$in": [..]}}}`.
//! `$not` is not allowed on the right-hand side of a path.
//!
//! The gRPC filter is a disjunction of conjunctions, so the predicate is
//! brought to that form (negations pushed to the leaves, AND distributed
//! over OR); a predicate that expands beyond the filter's limits is refused
//! with a message saying so.

use catalog_proto::v1 as pb;
use serde_json::Value;

/// Most alternatives (OR-ed clauses) a predicate may expand to.
pub const MAX_CLAUSES: usize = 20;
/// Most conditions in one alternative.
pub const MAX_CONDITIONS: usize = 20;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Leaf(pb::FilterCondition),
}

/// A leaf condition on one path.
fn condition(key: &str, values: Vec<String>, prefix: bool) -> pb::FilterCondition {
    pb::FilterCondition {
        key: key.to_lowercase(),
        values,
        negate: false,
        operator: if prefix {
            pb::FilterOperator::Prefix as i32
        } else {
            pb::FilterOperator::Unspecified as i32
        },
    }
}

fn primitive(at: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{at}: expected a string, number or boolean")),
    }
}

fn primitives(at: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| primitive(&format!("{at}[{i}]"), item))
            .collect(),
        _ => Err(format!("{at}: expected an array of values")),
    }
}

fn parse(at: &str, v: &Value, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested deeper than {MAX_DEPTH} levels"));
    }
    let Value::Object(map) = v else {
        return Err(format!("{at}: expected an object"));
    };
    let logic = ["$all", "$any", "$not"];
    if let Some(op) = map.keys().find(|k| logic.contains(&k.as_str())) {
        if map.len() != 1 {
            return Err(format!(
                "{at}: {op} cannot be combined with other keys in one object"
            ));
        }
        let inner = &map[op];
        let at = format!("{at}.{op}");
        return match op.as_str() {
            "$not" => Ok(Node::Not(Box::new(parse(&at, inner, depth + 1)?))),
            _ => {
                let Value::Array(items) = inner else {
                    return Err(format!("{at}: expected an array"));
                };
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse(&format!("{at}[{i}]"), item, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if op == "$all" {
                    Node::All(nodes)
                } else {
                    Node::Any(nodes)
                })
            }
        };
    }
    let mut leaves = Vec::new();
    for (path, value) in map {
        let at = format!("{at}.{path}");
        if path.starts_with('$') {
            return Err(format!("{at}: unknown operator {path}"));
        }
        leaves.push(leaf(&at, path, value)?);
    }
    Ok(Node::All(leaves))
}

fn leaf(at: &str, path: &str, value: &Value) -> Result<Node, String> {
    let Value::Object(matcher) = value else {
        return Ok(Node::Leaf(condition(
            path,
            vec![primitive(at, value)?],
            false,
        )));
    };
    if matcher.len() != 1 {
        return Err(format!("{at}: a matcher has exactly one operator"));
    }
    let (op, arg) = matcher
        .iter()
        .next()
        .ok_or(format!("{at}: empty matcher"))?;
    let at = format!("{at}.{op}");
    match op.as_str() {
        "$exists" => match arg {
            Value::Bool(true) => Ok(Node::Leaf(condition(path, Vec::new(), false))),
            Value::Bool(false) => Ok(Node::Not(Box::new(Node::Leaf(condition(
                path,
                Vec::new(),
                false,
            ))))),
            _ => Err(format!("{at}: expected true or false")),
        },
        "$in" => {
            let values = primitives(&at, arg)?;
            if values.is_empty() {
                // Nothing is in an empty set.
                return Ok(Node::Any(Vec::new()));
            }
            Ok(Node::Leaf(condition(path, values, false)))
        }
        "$hasPrefix" => match arg {
            Value::String(s) => Ok(Node::Leaf(condition(path, vec![s.clone()], true))),
            _ => Err(format!("{at}: expected a string")),
        },
        "$contains" if path == "relations" => {
            let Value::Object(rel) = arg else {
                return Err(format!("{at}: expected {{type, targetRef}}"));
            };
            let kind = rel
                .get("type")
                .and_then(Value::as_str)
                .ok_or(format!("{at}.type: expected a relation type"))?;
            let key = format!("relations.{kind}");
            match rel.get("targetRef") {
                None => Ok(Node::Leaf(condition(&key, Vec::new(), false))),
                Some(Value::Object(m)) if m.len() == 1 && m.contains_key("$in") => {
                    Ok(Node::Leaf(condition(
                        &key,
                        primitives(&format!("{at}.targetRef.$in"), &m["$in"])?,
                        false,
                    )))
                }
                Some(v) => Ok(Node::Leaf(condition(
                    &key,
                    vec![primitive(&format!("{at}.targetRef"), v)?],
                    false,
                ))),
            }
        }
        // Arrays are flattened under their own path, so an item equals.
        "$contains" => Ok(Node::Leaf(condition(
            path,
            vec![primitive(&at, arg)?],
            false,
        ))),
        "$not" => Err(format!(
            "{at}: $not is not allowed on the right-hand side of a path; wrap the path in {{\"$not\": ...}}"
        )),
        other => Err(format!("{at}: unknown matcher {other}")),
    }
}

/// The node in disjunctive normal form: OR of ANDs.
fn dnf(node: &Node, negated: bool) -> Result<Vec<Vec<pb::FilterCondition>>, String> {
    let too_big = |n: usize| {
        format!(
            "query is too complex: it expands to {n} alternatives; at most {MAX_CLAUSES} are supported"
        )
    };
    match (node, negated) {
        (Node::Leaf(c), _) => {
            let mut c = c.clone();
            c.negate ^= negated;
            Ok(vec![vec![c]])
        }
        (Node::Not(inner), _) => dnf(inner, !negated),
        // AND: every combination of one alternative from each child.
        (Node::All(children), false) | (Node::Any(children), true) => {
            let mut out: Vec<Vec<pb::FilterCondition>> = vec![Vec::new()];
            for child in children {
                let alternatives = dnf(child, negated)?;
                let mut next = Vec::new();
                for left in &out {
                    for right in &alternatives {
                        let mut clause = left.clone();
                        clause.extend(right.iter().cloned());
                        if clause.len() > MAX_CONDITIONS {
                            return Err(format!(
                                "query is too complex: an alternative has {} conditions; at most {MAX_CONDITIONS} are supported",
                                clause.len()
                            ));
                        }
                        next.push(clause);
                    }
                }
                if next.len() > MAX_CLAUSES {
                    return Err(too_big(next.len()));
                }
                out = next;
            }
            Ok(out)
        }
        // OR: the alternatives of every child.
        (Node::Any(children), false) | (Node::All(children), true) => {
            let mut out = Vec::new();
            for child in children {
                out.extend(dnf(child, negated)?);
                if out.len() > MAX_CLAUSES {
                    return Err(too_big(out.len()));
                }
            }
            Ok(out)
        }
    }
}

/// A predicate query as the wire filter.
pub fn to_filter(query: &Value) -> Result<pb::EntityFilter, String> {
    let node = parse("query", query, 0)?;
    let clauses = dnf(&node, false)?;
    if clauses.is_empty() {
        // Matches nothing: "kind does not exist" never holds.
        return Ok(pb::EntityFilter {
            any_of: vec![pb::FilterClause {
                all_of: vec![pb::FilterCondition {
                    key: "kind".into(),
                    negate: true,
                    ..Default::default()
                }],
            }],
        });
    }
    if clauses.iter().any(Vec::is_empty) {
        // One alternative with no condition matches everything.
        return Ok(pb::EntityFilter::default());
    }
    Ok(pb::EntityFilter {
        any_of: clauses
            .into_iter()
            .map(|all_of| pb::FilterClause { all_of })
            .collect(),
    })
}

/// Whether a flat JSON object (a location: `id`, `type`, `target`) matches a
/// predicate, evaluated in memory with the same semantics.
pub fn matches_object(query: &Value, object: &Value) -> Result<bool, String> {
    let node = parse("query", query, 0)?;
    Ok(eval(&node, object))
}

fn eval(node: &Node, object: &Value) -> bool {
    match node {
        Node::All(children) => children.iter().all(|c| eval(c, object)),
        Node::Any(children) => children.iter().any(|c| eval(c, object)),
        Node::Not(inner) => !eval(inner, object),
        Node::Leaf(c) => {
            let found = object
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| k.to_lowercase() == c.key))
                .and_then(|(_, v)| primitive("", v).ok());
            let holds = match found {
                None => false,
                Some(_) if c.values.is_empty() => true,
                Some(v) => {
                    let v = v.to_lowercase();
                    c.values.iter().any(|want| {
                        let want = want.to_lowercase();
                        if c.operator == pb::FilterOperator::Prefix as i32 {
                            v.starts_with(&want)
                        } else {
                            v == want
                        }
                    })
                }
            };
            holds != c.negate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A condition as (key, values, negated, prefix).
    type Plain = (String, Vec<String>, bool, bool);

    fn clauses(q: Value) -> Vec<Vec<Plain>> {
        to_filter(&q)
            .unwrap()
            .any_of
            .into_iter()
            .map(|c| {
                c.all_of
                    .into_iter()
                    .map(|c| {
                        let prefix = c.operator == pb::FilterOperator::Prefix as i32;
                        (c.key, c.values, c.negate, prefix)
                    })
                    .collect()
            })
            .collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn leaves_become_conditions() {
        assert_eq!(
            clauses(
                json!({"kind": "Component", "spec.lifecycle": {"$in": ["production", "beta"]}})
            ),
            vec![vec![
                ("kind".into(), s(&["Component"]), false, false),
                (
                    "spec.lifecycle".into(),
                    s(&["production", "beta"]),
                    false,
                    false
                ),
            ]]
        );
        assert_eq!(
            clauses(
                json!({"metadata.name": {"$hasPrefix": "art"}, "spec.owner": {"$exists": false}})
            ),
            vec![vec![
                ("metadata.name".into(), s(&["art"]), false, true),
                ("spec.owner".into(), vec![], true, false),
            ]]
        );
        assert_eq!(
            clauses(
                json!({"relations": {"$contains": {"type": "ownedBy", "targetRef": {"$in": ["group:default/a"]}}}})
            ),
            vec![vec![(
                "relations.ownedby".into(),
                s(&["group:default/a"]),
                false,
                false
            )]]
        );
        assert_eq!(
            clauses(json!({"metadata.tags": {"$contains": "java"}})),
            vec![vec![("metadata.tags".into(), s(&["java"]), false, false)]]
        );
    }

    #[test]
    fn logic_is_brought_to_or_of_ands() {
        // kind=component AND (lifecycle=production OR NOT owner exists)
        assert_eq!(
            clauses(json!({"$all": [
                {"kind": "component"},
                {"$any": [{"spec.lifecycle": "production"}, {"$not": {"spec.owner": {"$exists": true}}}]}
            ]})),
            vec![
                vec![
                    ("kind".into(), s(&["component"]), false, false),
                    ("spec.lifecycle".into(), s(&["production"]), false, false)
                ],
                vec![
                    ("kind".into(), s(&["component"]), false, false),
                    ("spec.owner".into(), vec![], true, false)
                ],
            ]
        );
        // NOT (a AND b) = NOT a OR NOT b
        assert_eq!(
            clauses(json!({"$not": {"kind": "api", "spec.type": "grpc"}})),
            vec![
                vec![("kind".into(), s(&["api"]), true, false)],
                vec![("spec.type".into(), s(&["grpc"]), true, false)],
            ]
        );
        // Empty $all matches everything; empty $any nothing.
        assert!(to_filter(&json!({"$all": []})).unwrap().any_of.is_empty());
        assert_eq!(
            clauses(json!({"$any": []})),
            vec![vec![("kind".into(), vec![], true, false)]]
        );
    }

    #[test]
    fn bad_and_oversized_predicates_name_the_problem() {
        let err = |q: Value| to_filter(&q).unwrap_err();
        assert!(err(json!({"kind": {"$not": "x"}})).contains("query.kind.$not"));
        assert!(err(json!({"kind": {"$regex": "x"}})).contains("unknown matcher $regex"));
        assert!(err(json!({"$all": {}})).contains("query.$all: expected an array"));
        assert!(err(json!({"$all": [], "kind": "x"})).contains("cannot be combined"));
        assert!(err(json!({"kind": ["a"]})).contains("query.kind"));
        let wide: Vec<Value> = (0..6)
            .map(|i| json!({"$any": [{"a": i}, {"b": i}]}))
            .collect();
        assert!(err(json!({"$all": wide})).contains("too complex"));
    }

    #[test]
    fn objects_match_in_memory() {
        let location = json!({"id": "x", "type": "url", "target": "https://git.example/a.yaml"});
        let m = |q: Value| matches_object(&q, &location).unwrap();
        assert!(m(json!({"type": "URL"})));
        assert!(m(json!({"target": {"$hasPrefix": "https://git.example/"}})));
        assert!(!m(json!({"$not": {"type": "url"}})));
        assert!(m(
            json!({"$any": [{"type": "file"}, {"id": {"$in": ["x"]}}]})
        ));
        assert!(!m(json!({"owner": {"$exists": true}})));
    }
}
