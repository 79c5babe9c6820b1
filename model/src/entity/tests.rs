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
#[rustfmt::skip]
fn invalid_documents_name_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (json!("text"), "(root)"),
        (json!({"kind": "Component", "metadata": {"name": "a"}}), "apiVersion"),
        (json!({"apiVersion": "v1", "metadata": {"name": "a"}}), "kind"),
        (json!({"apiVersion": "v1", "kind": "Component"}), "metadata"),
        (json!({"apiVersion": "v1", "kind": "Component", "metadata": {}}), "metadata.name"),
        (component("bad name"), "metadata.name"),
        (json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a", "namespace": "Prod"}}), "metadata.namespace"),
        (json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a", "tags": ["Java"]}}), "metadata.tags[0]"),
        (json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a", "labels": {"a": 1}}}), "metadata.labels.a"),
        (json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a"}, "spec": []}), "spec"),
        (json!({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a"}, "extra": 1}), "extra"),
    ];
    for (doc, field) in cases {
        let e = Entity::from_json(doc.clone()).unwrap_err();
        assert_eq!(e.field, field, "for {doc}: {e}");
    }
}

/// A valid component whose metadata also holds `extra`'s keys.
fn with_metadata(extra: Value) -> Result<Entity, EntityError> {
    let mut doc = component("a");
    if let (Some(meta), Value::Object(extra)) = (doc["metadata"].as_object_mut(), extra) {
        meta.extend(extra);
    }
    Entity::from_json(doc)
}

/// Runs `(metadata additions, field of the expected error or None, why)` rows.
fn check_metadata_rows(rows: &[(Value, Option<&str>, &str)]) {
    for (extra, want, why) in rows {
        match (with_metadata(extra.clone()), want) {
            (Ok(_), None) => {}
            (Err(e), Some(field)) => assert_eq!(e.field, *field, "{extra}: {why}: {e}"),
            (Ok(_), Some(field)) => {
                panic!("{extra}: {why}: accepted, expected an error on {field}")
            }
            (Err(e), None) => panic!("{extra}: {why}: rejected: {e}"),
        }
    }
}

#[test]
#[rustfmt::skip]
fn title_is_a_non_empty_string_and_description_any_string() {
    check_metadata_rows(&[
        (json!({"title": "Payments"}), None, "plain title"),
        (json!({"title": " "}), None, "minLength counts a space; the schema does not trim"),
        (json!({"title": "a\u{200b}b"}), None, "display text may hold any character"),
        (json!({"title": ""}), Some("metadata.title"), "minLength: 1"),
        (json!({"title": 42}), Some("metadata.title"), "must be a string"),
        (json!({"title": null}), Some("metadata.title"), "YAML `title:` with no value"),
        (json!({"description": ""}), None, "description has no minLength"),
        (json!({"description": "Line one\nline two"}), None, "multi-line description"),
        (json!({"description": 1}), Some("metadata.description"), "must be a string"),
        (json!({"description": ["a"]}), Some("metadata.description"), "a list is not a string"),
    ]);
}

#[test]
#[rustfmt::skip]
fn links_follow_field_format_policy() {
    let icon_63 = "i".repeat(63);
    let icon_64 = "i".repeat(64);
    check_metadata_rows(&[
        (json!({"links": []}), None, "no links"),
        (json!({"links": [{"url": "https://x.example"}]}), None, "url only"),
        (json!({"links": [{"url": "https://x.example", "title": "Docs", "icon": "dashboard", "type": "runbook"}]}), None, "every field"),
        (json!({"links": "https://x.example"}), Some("metadata.links"), "must be a list"),
        (json!({"links": ["https://x.example"]}), Some("metadata.links[0]"), "items are mappings"),
        (json!({"links": [{}]}), Some("metadata.links[0].url"), "url is required"),
        (json!({"links": [{"url": 5}]}), Some("metadata.links[0].url"), "url must be a string"),
        (json!({"links": [{"url": ""}]}), Some("metadata.links[0].url"), "empty url"),
        (json!({"links": [{"url": "example.com"}]}), Some("metadata.links[0].url"), "no scheme: new URL throws"),
        (json!({"links": [{"url": "https://"}]}), Some("metadata.links[0].url"), "no host"),
        (json!({"links": [{"url": "https://ok.example"}, {"url": "nope"}]}), Some("metadata.links[1].url"), "the index names the bad item"),
        (json!({"links": [{"url": "https://x.example", "title": "  Docs "}]}), None, "title with spaces around"),
        (json!({"links": [{"url": "https://x.example", "title": ""}]}), Some("metadata.links[0].title"), "empty title"),
        (json!({"links": [{"url": "https://x.example", "title": " \t\n"}]}), Some("metadata.links[0].title"), "blank after trim"),
        (json!({"links": [{"url": "https://x.example", "title": "\u{feff}\u{a0}"}]}), Some("metadata.links[0].title"), "JS trim removes BOM and NBSP"),
        (json!({"links": [{"url": "https://x.example", "title": "\u{200b}"}]}), None, "JS trim keeps zero-width space"),
        (json!({"links": [{"url": "https://x.example", "title": "\u{85}"}]}), None, "JS trim keeps NEL (U+0085)"),
        (json!({"links": [{"url": "https://x.example", "title": 1}]}), Some("metadata.links[0].title"), "title must be a string"),
        (json!({"links": [{"url": "https://x.example", "icon": icon_63}]}), None, "icon of 63 characters"),
        (json!({"links": [{"url": "https://x.example", "icon": icon_64}]}), Some("metadata.links[0].icon"), "icon of 64 characters"),
        (json!({"links": [{"url": "https://x.example", "icon": "my icon"}]}), Some("metadata.links[0].icon"), "icon is an object name"),
        (json!({"links": [{"url": "https://x.example", "icon": ""}]}), Some("metadata.links[0].icon"), "empty icon"),
        (json!({"links": [{"url": "https://x.example", "icon": "-x"}]}), Some("metadata.links[0].icon"), "leading separator"),
        (json!({"links": [{"url": "https://x.example", "icon": true}]}), Some("metadata.links[0].icon"), "icon must be a string"),
        (json!({"links": [{"url": "https://x.example", "type": "dash board"}]}), None, "type is free text"),
        (json!({"links": [{"url": "https://x.example", "type": ""}]}), Some("metadata.links[0].type"), "type has minLength: 1"),
        (json!({"links": [{"url": "https://x.example", "type": 1}]}), Some("metadata.links[0].type"), "type must be a string"),
    ]);
}

#[test]
#[rustfmt::skip]
fn label_values_are_empty_or_names_and_annotation_values_any_string() {
    let v63 = "v".repeat(63);
    let v64 = "v".repeat(64);
    let long = "x".repeat(10_000);
    check_metadata_rows(&[
        (json!({"labels": {"tier": ""}}), None, "empty label value"),
        (json!({"labels": {"tier": "v1.2_beta-3"}}), None, "separators inside"),
        (json!({"labels": {"tier": v63}}), None, "63 characters"),
        (json!({"labels": {"tier": v64}}), Some("metadata.labels.tier"), "64 characters"),
        (json!({"labels": {"tier": "-a"}}), Some("metadata.labels.tier"), "leading separator"),
        (json!({"labels": {"tier": "a b"}}), Some("metadata.labels.tier"), "space"),
        (json!({"labels": {"tier": "a\u{200b}b"}}), Some("metadata.labels.tier"), "zero-width space"),
        (json!({"labels": {"tier": 1}}), Some("metadata.labels.tier"), "must be a string"),
        (json!({"labels": "tier"}), Some("metadata.labels"), "must be a mapping"),
        (json!({"annotations": {"a": ""}}), None, "empty annotation value"),
        (json!({"annotations": {"a": "any: text / with ünïcode"}}), None, "any string"),
        (json!({"annotations": {"a": "a\u{200b}b"}}), None, "zero-width space is fine in a value"),
        (json!({"annotations": {"a": long}}), None, "no length limit on values"),
        (json!({"annotations": {"a": 1}}), Some("metadata.annotations.a"), "must be a string"),
        (json!({"annotations": {"a": null}}), Some("metadata.annotations.a"), "null is not a string"),
    ]);
}

#[test]
#[rustfmt::skip]
fn messages_say_what_was_found() {
    let e = with_metadata(json!({"links": [{"url": "example.com"}]})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"metadata.links[0].url\" is not valid; expected an absolute URL such as https://example.com/page but found \"example.com\""
    );
    let e = with_metadata(json!({"title": 3})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"metadata.title\" must be a non-empty string, but found the number 3"
    );
}

/// A valid component with `path` (`kind`, `apiVersion` or a metadata key) set
/// to `value`.
fn with_field(path: &str, value: Value) -> Value {
    let mut doc = component("a");
    match path.strip_prefix("metadata.") {
        Some(key) => doc["metadata"][key] = value,
        None => doc[path] = value,
    }
    doc
}

#[test]
#[rustfmt::skip]
fn envelope_fields_apply_their_format_rules() {
    // The predicates' boundaries are tabled in validate/tests.rs; this pins
    // which rule each envelope field uses.
    let n = |c: char, len: usize| c.to_string().repeat(len);
    let prefix_253 = format!("{}.{}.{}.{}", n('a', 63), n('a', 63), n('a', 63), n('b', 61));
    let prefix_254 = format!("{}.{}.{}.{}", n('a', 63), n('a', 63), n('a', 63), n('b', 62));
    let rows: Vec<(Value, Option<String>, &str)> = vec![
        (with_field("metadata.name", json!(n('a', 63))), None, "name of 63"),
        (with_field("metadata.name", json!(n('a', 64))), Some("metadata.name".into()), "name of 64"),
        (with_field("metadata.name", json!("a--b")), None, "names allow consecutive separators"),
        (with_field("metadata.name", json!("a\u{200b}b")), Some("metadata.name".into()), "zero-width space in a name"),
        (with_field("metadata.name", json!("")), Some("metadata.name".into()), "empty name"),
        (with_field("metadata.namespace", json!(n('a', 63))), None, "namespace of 63"),
        (with_field("metadata.namespace", json!(n('a', 64))), Some("metadata.namespace".into()), "namespace of 64"),
        (with_field("metadata.namespace", json!("a--b")), Some("metadata.namespace".into()), "namespaces reject consecutive hyphens"),
        (with_field("metadata.namespace", json!("")), Some("metadata.namespace".into()), "empty namespace"),
        (with_field("kind", json!(format!("K{}", n('k', 62)))), None, "kind of 63"),
        (with_field("kind", json!(format!("K{}", n('k', 63)))), Some("kind".into()), "kind of 64"),
        (with_field("kind", json!("")), Some("kind".into()), "empty kind"),
        (with_field("apiVersion", json!(format!("{prefix_253}/v1"))), None, "apiVersion prefix of 253"),
        (with_field("apiVersion", json!(format!("{prefix_254}/v1"))), Some("apiVersion".into()), "apiVersion prefix of 254"),
        (with_field("apiVersion", json!(format!("example.com/{}", n('v', 64)))), Some("apiVersion".into()), "version of 64"),
        (with_field("metadata.tags", json!([n('t', 63)])), None, "tag of 63"),
        (with_field("metadata.tags", json!(["ok", n('t', 64)])), Some("metadata.tags[1]".into()), "tag of 64"),
        (with_field("metadata.tags", json!([""])), Some("metadata.tags[0]".into()), "empty tag"),
        (with_field("metadata.labels", json!({ n('k', 63): "v" })), None, "label key of 63"),
        (with_field("metadata.labels", json!({ n('k', 64): "v" })), Some(format!("metadata.labels.{}", n('k', 64))), "label key of 64"),
        (with_field("metadata.annotations", json!({ format!("{prefix_253}/k"): "v" })), None, "annotation key prefix of 253"),
        (with_field("metadata.annotations", json!({ format!("{prefix_254}/k"): "v" })), Some(format!("metadata.annotations.{prefix_254}/k")), "annotation key prefix of 254"),
        (with_field("metadata.annotations", json!({ "Example.com/k": "v" })), Some("metadata.annotations.Example.com/k".into()), "upper-case key prefix"),
        (with_field("metadata.annotations", json!({ "": "v" })), Some("metadata.annotations.".into()), "empty annotation key"),
    ];
    for (doc, want, why) in rows {
        match (Entity::from_json(doc.clone()), want) {
            (Ok(_), None) => {}
            (Err(e), Some(field)) => assert_eq!(e.field, field, "{why}: {e}"),
            (Ok(_), Some(field)) => panic!("{why}: accepted, expected an error on {field}"),
            (Err(e), None) => panic!("{why}: rejected: {e}"),
        }
    }
}

#[test]
fn long_strings_are_shortened_in_messages() {
    let long = "x".repeat(5000);
    assert_eq!(
        describe(&json!(long)),
        format!("the string {:?}… (5000 characters)", "x".repeat(60))
    );
    assert_eq!(describe(&json!("short")), "the string \"short\"");
    let e = with_metadata(json!({"description": ["x"]})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"metadata.description\" must be a string, but found a list"
    );
}

#[test]
fn a_compact_entity_is_the_same_entity() {
    let mut doc = component("Compact");
    doc["metadata"]["annotations"] = json!({"example.com/note": "ü \"quoted\" \u{1F600}"});
    doc["metadata"]["tags"] = json!(["a", "b"]);
    let e = Entity::from_json(doc).unwrap();
    let c = e.compact();
    assert_eq!(c, e);
    assert_eq!(c.canonical_text(), e.canonical_text());
    assert_eq!(c.content_hash(), e.content_hash());
    assert_eq!(c.entity_ref(), e.entity_ref());
    // Fields are parsed back from the text when asked for.
    assert_eq!(c.as_json(), e.as_json());
    assert_eq!(c.name(), "Compact");
    assert_eq!(c.kind(), "Component");
    assert_eq!(c.spec_str("owner"), Some("team-a"));
    assert_eq!(c.to_value(), e.to_value());
    // And a compact entity's clone, and the compact form of a compact entity.
    assert_eq!(c.clone().compact(), e);
}
