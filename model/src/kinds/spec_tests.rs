//! Each kind's spec schema: required fields (missing, wrong type, empty) and
//! the types of optional fields.

use serde_json::{Value, json};

use super::BuiltinKind::{self, *};
use super::KindPolicy;
use super::tests::{assert_row, check, doc, minimal_spec};

/// The minimal spec of `kind` with `field` set to `value` (`None` removes it).
fn spec_with(kind: BuiltinKind, field: &str, value: Option<Value>) -> Value {
    let mut spec = minimal_spec(kind);
    if let Some(map) = spec.as_object_mut() {
        match value {
            Some(v) => map.insert(field.to_string(), v),
            None => map.remove(field),
        };
    }
    doc(kind, spec)
}

/// `(kind, field, value or None to remove it, expected error field, why)`.
type Row<'a> = (
    BuiltinKind,
    &'a str,
    Option<Value>,
    Option<&'a str>,
    &'a str,
);

/// Runs the rows, each on the minimal spec of its kind.
fn run(rows: &[Row<'_>]) {
    for (kind, field, value, want, why) in rows {
        let d = spec_with(*kind, field, value.clone());
        assert_row(
            &d,
            &KindPolicy::default(),
            *want,
            &format!("{kind:?}.{field}: {why}"),
        );
    }
}

const REQUIRED_TEXT: &[(BuiltinKind, &str)] = &[
    (Component, "type"),
    (Component, "lifecycle"),
    (Component, "owner"),
    (Api, "type"),
    (Api, "lifecycle"),
    (Api, "owner"),
    (Api, "definition"),
    (Resource, "type"),
    (Resource, "owner"),
    (System, "owner"),
    (Domain, "owner"),
    (Group, "type"),
    (Template, "type"),
];

const REQUIRED_LISTS: &[(BuiltinKind, &str)] = &[(Group, "children"), (User, "memberOf")];

#[test]
#[rustfmt::skip]
fn required_strings_must_be_present_non_empty_strings() {
    for (kind, field) in REQUIRED_TEXT {
        let path = format!("spec.{field}");
        let path = Some(path.as_str());
        run(&[
            (*kind, field, None, path, "missing"),
            (*kind, field, Some(json!("")), path, "empty string (minLength: 1)"),
            (*kind, field, Some(json!(null)), path, "YAML key without a value"),
            (*kind, field, Some(json!(42)), path, "number"),
            (*kind, field, Some(json!(true)), path, "boolean"),
            (*kind, field, Some(json!(["x"])), path, "list"),
            (*kind, field, Some(json!({"x": 1})), path, "mapping"),
            (*kind, field, Some(json!(" ")), None, "a space is not empty; no trim"),
            (*kind, field, Some(json!("a\u{200b}b")), None, "any characters"),
        ]);
    }
}

#[test]
#[rustfmt::skip]
fn required_lists_must_be_present_and_may_be_empty() {
    for (kind, field) in REQUIRED_LISTS {
        let path = format!("spec.{field}");
        let path = Some(path.as_str());
        let item1 = format!("spec.{field}[1]");
        run(&[
            (*kind, field, None, path, "missing"),
            (*kind, field, Some(json!([])), None, "present but empty"),
            (*kind, field, Some(json!(["a", "b"])), None, "two refs"),
            (*kind, field, Some(json!("a")), path, "a string is not a list"),
            (*kind, field, Some(json!(null)), path, "YAML key without a value"),
            (*kind, field, Some(json!(["a", ""])), Some(&item1), "empty item"),
            (*kind, field, Some(json!(["a", 7])), Some(&item1), "number item"),
            (*kind, field, Some(json!(["a", null])), Some(&item1), "null item"),
        ]);
    }
}

#[test]
fn missing_required_field_message_names_the_kind() {
    let e = check(&spec_with(Api, "definition", None), &KindPolicy::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"spec.definition\" is required for kind API"
    );
    let e = check(
        &spec_with(Component, "owner", Some(json!(""))),
        &KindPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"spec.owner\" must be a non-empty string, but found an empty string"
    );
    let e = check(
        &spec_with(Group, "children", Some(json!("a"))),
        &KindPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"spec.children\" must be a list of non-empty strings, but found the string \"a\""
    );
}

#[test]
#[rustfmt::skip]
fn optional_fields_have_types_when_present() {
    run(&[
        (Component, "system", Some(json!("shop")), None, "string ref"),
        (Component, "system", Some(json!("")), Some("spec.system"), "empty"),
        (Component, "subcomponentOf", Some(json!(1)), Some("spec.subcomponentOf"), "number"),
        (Component, "providesApis", Some(json!("api-a")), Some("spec.providesApis"), "string, not list"),
        (Component, "providesApis", Some(json!(["a", "b", ""])), Some("spec.providesApis[2]"), "empty item"),
        (Component, "consumesApis", Some(json!([{}])), Some("spec.consumesApis[0]"), "mapping item"),
        (Component, "dependsOn", Some(json!(["resource:db"])), None, "list of refs"),
        (Component, "dependencyOf", Some(json!(["component:web"])), None, "newer field"),
        (Component, "dependencyOf", Some(json!("component:web")), Some("spec.dependencyOf"), "string, not list"),
        (Component, "extra", Some(json!({"any": ["thing"]})), None, "unknown keys are allowed"),
        (Api, "system", Some(json!(false)), Some("spec.system"), "boolean"),
        (Api, "definition", Some(json!({"$text": "./openapi.yaml"})), Some("spec.definition"), "unsubstituted placeholder"),
        (Resource, "dependsOn", Some(json!([""])), Some("spec.dependsOn[0]"), "empty item"),
        (Resource, "dependencyOf", Some(json!(["component:a"])), None, "list of refs"),
        (Resource, "system", Some(json!(["s"])), Some("spec.system"), "list, not string"),
        (System, "domain", Some(json!("")), Some("spec.domain"), "empty"),
        (System, "type", Some(json!("product")), None, "newer field"),
        (System, "type", Some(json!("")), Some("spec.type"), "empty"),
        (Domain, "subdomainOf", Some(json!("audio")), None, "newer field"),
        (Domain, "subdomainOf", Some(json!(1)), Some("spec.subdomainOf"), "number"),
        (Domain, "type", Some(json!(null)), Some("spec.type"), "null"),
        (Group, "parent", Some(json!("")), Some("spec.parent"), "empty"),
        (Group, "members", Some(json!(["jo", ""])), Some("spec.members[1]"), "empty item"),
        (Group, "profile", Some( json!({"displayName": "Infra", "email": "i@x.example", "picture": "https://x.example/p.png"}), ), None, "full profile"),
        (Group, "profile", Some(json!({"slack": 1})), None, "other profile keys are free"),
        (Group, "profile", Some(json!("Infra")), Some("spec.profile"), "string, not mapping"),
        (Group, "profile", Some(json!({"email": ""})), Some("spec.profile.email"), "empty email"),
        (Group, "profile", Some(json!({"displayName": 1})), Some("spec.profile.displayName"), "number"),
        (User, "profile", Some(json!({"picture": null})), Some("spec.profile.picture"), "null picture"),
        (User, "profile", Some(json!([])), Some("spec.profile"), "list, not mapping"),
        (Location, "type", Some(json!("url")), None, "type"),
        (Location, "type", Some(json!("")), Some("spec.type"), "empty type"),
        (Location, "target", Some(json!("./a.yaml")), None, "relative target"),
        (Location, "target", Some(json!("")), Some("spec.target"), "empty target"),
        (Location, "targets", Some(json!(["./a.yaml", "./b.yaml"])), None, "targets"),
        (Location, "targets", Some(json!("./a.yaml")), Some("spec.targets"), "string, not list"),
        (Location, "targets", Some(json!(["./a.yaml", ""])), Some("spec.targets[1]"), "empty item"),
        (Location, "presence", Some(json!("required")), None, "required"),
        (Location, "presence", Some(json!("optional")), None, "optional"),
        (Location, "presence", Some(json!("Optional")), Some("spec.presence"), "enum is case-sensitive"),
        (Location, "presence", Some(json!("maybe")), Some("spec.presence"), "not in the enum"),
        (Location, "presence", Some(json!(true)), Some("spec.presence"), "boolean"),
    ]);
    let e = check(
        &spec_with(Location, "presence", Some(json!("maybe"))),
        &KindPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"spec.presence\" must be one of \"required\", \"optional\", but found the string \"maybe\""
    );
}

#[test]
#[rustfmt::skip]
fn template_steps_need_a_string_action() {
    run(&[
        (Template, "steps", None, Some("spec.steps"), "missing"),
        (Template, "steps", Some(json!([])), None, "empty list (no minItems)"),
        (Template, "steps", Some(json!("fetch:plain")), Some("spec.steps"), "string, not list"),
        (Template, "steps", Some(json!(["fetch:plain"])), Some("spec.steps[0]"), "string step"),
        (Template, "steps", Some(json!([{"id": "fetch"}])), Some("spec.steps[0].action"), "no action"),
        (Template, "steps", Some(json!([{"action": 1}])), Some("spec.steps[0].action"), "number action"),
        (Template, "steps", Some(json!([{"action": ""}])), None, "action has no minLength"),
        (Template, "steps", Some( json!([{"id": "a", "name": "A", "action": "fetch:plain", "input": {"url": "./x"}, "if": "${{ parameters.x }}", "backstage:permissions": {"tags": ["t"]}, "parameters": {"legacy": true}}]), ), None, "every step field"),
        (Template, "steps", Some(json!([{"action": "a"}, {"action": "b", "if": false}])), None, "boolean if"),
        (Template, "steps", Some(json!([{"action": "a"}, {"action": "b", "if": 1}])), Some("spec.steps[1].if"), "number if"),
        (Template, "steps", Some(json!([{"action": "a", "input": "x"}])), Some("spec.steps[0].input"), "string input"),
        (Template, "steps", Some(json!([{"action": "a", "id": 1}])), Some("spec.steps[0].id"), "number id"),
        (Template, "steps", Some(json!([{"action": "a", "backstage:permissions": {"tags": "t"}}])), Some("spec.steps[0].backstage:permissions.tags"), "tags not a list"),
    ]);
}

#[test]
#[rustfmt::skip]
fn template_optional_fields_have_their_schema_types() {
    run(&[
        (Template, "owner", Some(json!("team-a")), None, "owner"),
        (Template, "owner", Some(json!("")), Some("spec.owner"), "empty owner"),
        (Template, "lifecycle", Some(json!(1)), Some("spec.lifecycle"), "number lifecycle"),
        (Template, "parameters", Some(json!({"properties": {}})), None, "one form"),
        (Template, "parameters", Some(json!([{"title": "A"}, {"title": "B"}])), None, "form pages"),
        (Template, "parameters", Some(json!("x")), Some("spec.parameters"), "string"),
        (Template, "parameters", Some(json!([{}, 1])), Some("spec.parameters[1]"), "page not a mapping"),
        (Template, "parameters", Some(json!({"backstage:permissions": {"tags": ["a"]}})), None, "permission tags"),
        (Template, "parameters", Some(json!({"backstage:permissions": {"tags": "a"}})), Some("spec.parameters.backstage:permissions.tags"), "tags not a list"),
        (Template, "parameters", Some(json!([{"backstage:permissions": 1}])), Some("spec.parameters[0].backstage:permissions"), "permissions not a mapping"),
        (Template, "output", Some(json!({"catalogInfoUrl": "${{ steps.publish.output.url }}"})), None, "templated string"),
        (Template, "output", Some(json!({"count": 1})), Some("spec.output.count"), "other keys are strings"),
        (Template, "output", Some(json!("x")), Some("spec.output"), "not a mapping"),
        (Template, "output", Some( json!({"links": [{"title": "Repo", "url": "https://x.example", "icon": "github", "if": true}]}), ), None, "link"),
        (Template, "output", Some(json!({"links": [{"entityRef": "component:default/x"}]})), None, "entity link"),
        (Template, "output", Some(json!({"links": [{"url": ""}]})), Some("spec.output.links[0].url"), "empty url"),
        (Template, "output", Some(json!({"links": {"url": "x"}})), Some("spec.output.links"), "links not a list"),
        (Template, "output", Some(json!({"text": [{"title": "Done", "content": ""}]})), None, "text with empty content"),
        (Template, "output", Some(json!({"text": [{"title": ""}]})), Some("spec.output.text[0].title"), "empty title"),
        (Template, "output", Some(json!({"text": [{"content": 1}]})), Some("spec.output.text[0].content"), "number content"),
        (Template, "secrets", Some(json!({"schema": {"required": ["TOKEN"]}})), None, "secrets schema"),
        (Template, "secrets", Some(json!({"schema": 1})), Some("spec.secrets.schema"), "schema not a mapping"),
        (Template, "presentation", Some(json!({"buttonLabels": {"createButtonText": "Go"}})), None, "button labels"),
        (Template, "presentation", Some(json!({"buttonLabels": {"backButtonText": 1}})), Some("spec.presentation.buttonLabels.backButtonText"), "number label"),
        (Template, "EXPERIMENTAL_recovery", Some(json!({"EXPERIMENTAL_strategy": "startOver"})), None, "recovery"),
        (Template, "EXPERIMENTAL_recovery", Some(json!("startOver")), Some("spec.EXPERIMENTAL_recovery"), "not a mapping"),
        (Template, "EXPERIMENTAL_formDecorators", Some(json!([{"id": "d", "input": {}}])), None, "decorator"),
        (Template, "EXPERIMENTAL_formDecorators", Some(json!([{"input": 1}])), Some("spec.EXPERIMENTAL_formDecorators[0].input"), "input not a mapping"),
    ]);
}
