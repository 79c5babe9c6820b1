//! Kind policy, apiVersions, reserved keys and references. Spec field shapes
//! are in `spec_tests.rs`.

use serde_json::{Value, json};

use super::*;

/// A minimal valid `spec` for each built-in kind.
pub(super) fn minimal_spec(kind: BuiltinKind) -> Value {
    match kind {
        BuiltinKind::Component => {
            json!({"type": "service", "lifecycle": "production", "owner": "team-a"})
        }
        BuiltinKind::Api => {
            json!({"type": "openapi", "lifecycle": "production", "owner": "team-a", "definition": "openapi: 3.0.0"})
        }
        BuiltinKind::Resource => json!({"type": "database", "owner": "team-a"}),
        BuiltinKind::System | BuiltinKind::Domain => json!({"owner": "team-a"}),
        BuiltinKind::Group => json!({"type": "team", "children": []}),
        BuiltinKind::User => json!({"memberOf": []}),
        BuiltinKind::Location => json!({}),
        BuiltinKind::Template => json!({"type": "service", "steps": []}),
    }
}

/// A descriptor of `kind` with the first accepted apiVersion.
pub(super) fn doc(kind: BuiltinKind, spec: Value) -> Value {
    json!({
        "apiVersion": kind.api_versions()[0], "kind": kind.as_str(),
        "metadata": {"name": "a", "namespace": "ns"}, "spec": spec,
    })
}

/// Validates the envelope (which must pass) and then the kind.
pub(super) fn check(doc: &Value, policy: &KindPolicy) -> Result<(), EntityError> {
    let entity = Entity::from_json(doc.clone())
        .unwrap_or_else(|e| panic!("envelope of {doc} should be valid: {e}"));
    check_kind(&entity, policy)
}

/// Asserts the outcome of one table row: `want` is the field of the expected
/// error, or `None` for success.
pub(super) fn assert_row(doc: &Value, policy: &KindPolicy, want: Option<&str>, why: &str) {
    match (check(doc, policy), want) {
        (Ok(()), None) => {}
        (Err(e), Some(field)) => assert_eq!(e.field, field, "{why}: {doc}: {e}"),
        (Ok(()), Some(field)) => panic!("{why}: accepted {doc}, expected an error on {field}"),
        (Err(e), None) => panic!("{why}: rejected {doc}: {e}"),
    }
}

fn policy(extra: &[&str]) -> KindPolicy {
    KindPolicy {
        extra_kinds: extra.iter().map(|k| k.to_string()).collect(),
    }
}

#[test]
fn every_builtin_kind_accepts_its_minimal_spec_with_each_api_version() {
    for kind in BuiltinKind::ALL {
        for api_version in kind.api_versions() {
            let mut d = doc(kind, minimal_spec(kind));
            d["apiVersion"] = json!(api_version);
            assert_row(&d, &KindPolicy::default(), None, "minimal spec");
        }
    }
}

#[test]
fn builtin_kinds_parse_exactly_and_refs_ignore_case() {
    assert_eq!(BuiltinKind::parse("API"), Some(BuiltinKind::Api));
    assert_eq!(BuiltinKind::parse("Api"), None);
    assert_eq!(
        BuiltinKind::parse_ignore_case("api"),
        Some(BuiltinKind::Api)
    );
    assert_eq!(BuiltinKind::parse("Widget"), None);
    for kind in BuiltinKind::ALL {
        assert_eq!(BuiltinKind::parse(kind.as_str()), Some(kind));
    }
}

#[test]
#[rustfmt::skip]
fn kinds_outside_the_builtin_set_need_extra_kinds() {
    let custom = |kind: &str, spec: Value| json!({"apiVersion": "example.com/v1", "kind": kind, "metadata": {"name": "a"}, "spec": spec});
    let no_spec =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"}});
    let rows: &[(Value, &[&str], Option<&str>, &str)] = &[
        (custom("Widget", json!({})), &[], Some("kind"), "unknown kind, no extra kinds"),
        (custom("Widget", json!({})), &["Gadget"], Some("kind"), "another extra kind"),
        (custom("Widget", json!({})), &["Widget"], None, "listed exactly"),
        (custom("Widget", json!({})), &["widget"], None, "listed in lower case"),
        (custom("Widget", json!({})), &["WIDGET"], None, "listed in upper case"),
        (custom("Widget", json!({"owner": 1, "steps": "x"})), &["Widget"], None, "extra kinds' spec is free-form"),
        (no_spec.clone(), &["Widget"], None, "extra kinds need no spec"),
        (custom("Widget", json!({"name": "x"})), &["Widget"], Some("spec.name"), "reserved keys apply to every kind"),
        (custom("component", json!({})), &[], Some("kind"), "kinds are case-sensitive"),
        (custom("component", json!({})), &["component"], Some("kind"), "a case variant of a built-in kind cannot be an extra kind"),
        (custom("COMPONENT", json!({})), &["COMPONENT"], Some("kind"), "upper-case variant"),
        (custom("Api", json!({})), &[], Some("kind"), "API is spelled in capitals"),
    ];
    for (d, extra, want, why) in rows {
        assert_row(d, &policy(extra), *want, why);
    }
}

#[test]
#[rustfmt::skip]
fn kind_errors_say_what_to_do() {
    let widget =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"}});
    let e = check(&widget, &KindPolicy::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"kind\" Widget is not a known kind (Component, API, Resource, System, Domain, Group, User, Location, Template); allow it with ingest.extra_kinds"
    );
    let mut lower = doc(BuiltinKind::Component, minimal_spec(BuiltinKind::Component));
    lower["kind"] = json!("component");
    let e = check(&lower, &KindPolicy::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"kind\" component is not a known kind; kinds are case-sensitive, did you mean Component?"
    );
}

#[test]
#[rustfmt::skip]
fn builtin_kinds_accept_only_their_api_versions() {
    let rows: &[(BuiltinKind, &str, Option<&str>, &str)] = &[
        (BuiltinKind::Component, "backstage.io/v1alpha1", None, "core alpha"),
        (BuiltinKind::Component, "backstage.io/v1beta1", None, "core beta"),
        (BuiltinKind::Location, "backstage.io/v1beta1", None, "every core kind takes both"),
        (BuiltinKind::Component, "backstage.io/v1", Some("apiVersion"), "unknown version"),
        (BuiltinKind::Component, "backstage.io/V1alpha1", Some("apiVersion"), "compared exactly"),
        (BuiltinKind::Component, "v1alpha1", Some("apiVersion"), "group is required"),
        (BuiltinKind::Component, "scaffolder.backstage.io/v1beta3", Some("apiVersion"), "Template's version"),
        (BuiltinKind::Template, "scaffolder.backstage.io/v1beta3", None, "Template's version"),
        (BuiltinKind::Template, "backstage.io/v1beta3", Some("apiVersion"), "pre-1.0 template group"),
        (BuiltinKind::Template, "backstage.io/v1beta2", Some("apiVersion"), "v1beta2 templates are gone"),
        (BuiltinKind::Template, "backstage.io/v1alpha1", Some("apiVersion"), "core version"),
    ];
    for (kind, api_version, want, why) in rows {
        let mut d = doc(*kind, minimal_spec(*kind));
        d["apiVersion"] = json!(api_version);
        assert_row(&d, &KindPolicy::default(), *want, why);
    }
    let mut d = doc(BuiltinKind::Component, minimal_spec(BuiltinKind::Component));
    d["apiVersion"] = json!("backstage.io/v1");
    assert_eq!(
        check(&d, &KindPolicy::default()).unwrap_err().to_string(),
        "\"apiVersion\" must be one of \"backstage.io/v1alpha1\", \"backstage.io/v1beta1\" for kind Component, but found \"backstage.io/v1\""
    );
    let mut d = doc(BuiltinKind::Template, minimal_spec(BuiltinKind::Template));
    d["apiVersion"] = json!("backstage.io/v1beta2");
    assert_eq!(
        check(&d, &KindPolicy::default()).unwrap_err().to_string(),
        "\"apiVersion\" must be \"scaffolder.backstage.io/v1beta3\" for kind Template, but found \"backstage.io/v1beta2\""
    );
}

#[test]
fn every_builtin_kind_requires_a_spec() {
    for kind in BuiltinKind::ALL {
        let mut d = doc(kind, json!({}));
        d.as_object_mut().map(|m| m.remove("spec"));
        let e = check(&d, &KindPolicy::default()).unwrap_err();
        assert_eq!(e.field, "spec", "{kind:?}");
        assert_eq!(e.problem, format!("is required for kind {}", kind.as_str()));
    }
}

#[test]
#[rustfmt::skip]
fn reserved_names_may_not_be_spec_label_or_annotation_keys() {
    let component = BuiltinKind::Component;
    let mut rows: Vec<(Value, Option<String>, String)> = Vec::new();
    for reserved in RESERVED_FIELDS {
        let mut spec = minimal_spec(component);
        spec[*reserved] = json!("x");
        rows.push((
            doc(component, spec),
            Some(format!("spec.{reserved}")),
            format!("spec.{reserved}"),
        ));
        let mut d = doc(component, minimal_spec(component));
        d["metadata"]["labels"] = json!({ *reserved: "x" });
        rows.push((
            d,
            Some(format!("metadata.labels.{reserved}")),
            format!("label {reserved}"),
        ));
        let mut d = doc(component, minimal_spec(component));
        d["metadata"]["annotations"] = json!({ *reserved: "x" });
        rows.push((
            d,
            Some(format!("metadata.annotations.{reserved}")),
            format!("annotation {reserved}"),
        ));
    }
    let with_meta = |key: &str, value: Value| {
        let mut d = doc(component, minimal_spec(component));
        d["metadata"][key] = value;
        d
    };
    let mut nested = minimal_spec(BuiltinKind::Group);
    nested["profile"] = json!({"name": "x", "displayName": "X"});
    rows.extend([
        (with_meta("labels", json!({"Name": "x"})), None, "compared case-sensitively".into()),
        (with_meta("labels", json!({"example.com/name": "x"})), None, "a prefixed key is another key".into()),
        (with_meta("annotations", json!({"backstage.io/kind": "x"})), None, "prefixed annotation".into()),
        (with_meta("tags", json!(["name"])), None, "tags are not keys".into()),
        (doc(BuiltinKind::Group, nested), None, "only top-level spec keys".into()),
    ]);
    for (d, want, why) in &rows {
        assert_row(d, &KindPolicy::default(), want.as_deref(), why);
    }
    let mut spec = minimal_spec(component);
    spec["kind"] = json!("x");
    let e = check(&doc(component, spec), &KindPolicy::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"spec.kind\" kind is reserved and may not be used as a spec field"
    );
}

#[test]
#[rustfmt::skip]
fn references_in_relation_fields_must_parse() {
    let long_name = format!("group:{}", "n".repeat(200));
    let rows: &[(BuiltinKind, &str, Value, Option<&str>, &str)] = &[
        (BuiltinKind::Component, "owner", json!("user:jo"), None, "explicit kind"),
        (BuiltinKind::Component, "owner", json!("other/team-a"), None, "explicit namespace"),
        (BuiltinKind::Component, "owner", json!("group:"), Some("spec.owner"), "empty name"),
        (BuiltinKind::Component, "owner", json!(":team-a"), Some("spec.owner"), "empty kind"),
        (BuiltinKind::Component, "owner", json!("group:/team-a"), Some("spec.owner"), "empty namespace"),
        (BuiltinKind::Component, "owner", json!("ns/"), Some("spec.owner"), "empty name after namespace"),
        (BuiltinKind::Component, "owner", json!(long_name), None, "names are not length-checked, as in Backstage"),
        (BuiltinKind::Component, "owner", json!("group:Team A!"), None, "nor character-checked"),
        (BuiltinKind::Component, "system", json!("shop"), None, "default kind System"),
        (BuiltinKind::Component, "subcomponentOf", json!("x:"), Some("spec.subcomponentOf"), "empty name"),
        (BuiltinKind::Component, "providesApis", json!(["default/petstore"]), None, "default kind API"),
        (BuiltinKind::Component, "consumesApis", json!(["api:a", "api:/x"]), Some("spec.consumesApis[1]"), "index of the bad one"),
        (BuiltinKind::Component, "dependsOn", json!(["resource:db"]), None, "kind given"),
        (BuiltinKind::Component, "dependsOn", json!(["db"]), Some("spec.dependsOn[0]"), "no default kind"),
        (BuiltinKind::Component, "dependencyOf", json!(["component:a", "b"]), Some("spec.dependencyOf[1]"), "no default kind"),
        (BuiltinKind::Api, "system", json!("system:"), Some("spec.system"), "API system"),
        (BuiltinKind::Resource, "dependsOn", json!(["db"]), Some("spec.dependsOn[0]"), "Resource dependsOn"),
        (BuiltinKind::Resource, "dependencyOf", json!(["component:a"]), None, "Resource dependencyOf"),
        (BuiltinKind::System, "domain", json!("domain:"), Some("spec.domain"), "System domain"),
        (BuiltinKind::Domain, "subdomainOf", json!(":x"), Some("spec.subdomainOf"), "Domain subdomainOf"),
        (BuiltinKind::Group, "parent", json!("org"), None, "Group parent"),
        (BuiltinKind::Group, "children", json!(["a", "x:"]), Some("spec.children[1]"), "Group children"),
        (BuiltinKind::Group, "members", json!(["user:default/"]), Some("spec.members[0]"), "Group members"),
        (BuiltinKind::User, "memberOf", json!(["team-a", "/x"]), Some("spec.memberOf[1]"), "User memberOf"),
        (BuiltinKind::Template, "owner", json!("group:"), Some("spec.owner"), "Template owner"),
        (BuiltinKind::Location, "target", json!("url:https://x.example/c.yaml"), None, "location targets are not entity refs"),
    ];
    for (kind, field, value, want, why) in rows {
        let mut spec = minimal_spec(*kind);
        spec[*field] = value.clone();
        assert_row(&doc(*kind, spec), &KindPolicy::default(), *want, why);
    }
    let mut spec = minimal_spec(BuiltinKind::Component);
    spec["dependsOn"] = json!(["db"]);
    assert_eq!(
        check(&doc(BuiltinKind::Component, spec), &KindPolicy::default())
            .unwrap_err()
            .to_string(),
        "\"spec.dependsOn[0]\" must name the kind of its target (e.g. \"component:db\"), because dependsOn has no default kind; found \"db\""
    );
}
