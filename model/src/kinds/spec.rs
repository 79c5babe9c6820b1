//! The `spec` schemas of the built-in kinds, as a table of fields, and the
//! type checks they use.
//!
//! Transcribes `packages/catalog-model/src/schema/kinds/*.v1alpha1.schema.json`
//! (newest versions: Component `dependencyOf`, System and Domain `type`,
//! Domain `subdomainOf`, Location `presence`) and, for Template,
//! `plugins/scaffolder-common/src/Template.v1beta3.schema.json` (see
//! `template.rs`). Like those JSON Schemas, a field that is absent is only an
//! error when it is required, and keys the schema does not name are allowed.
//! JSON Schema's `type: string` excludes `null`, so a YAML key with no value
//! (`owner:`) is present but not a string.

use serde_json::{Map, Value};

use super::template;
use super::{BuiltinKind, error, one_of};
use crate::entity::{EntityError, describe};

/// What a spec field must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `type: string, minLength: 1`.
    Text,
    /// `type: array, items: {type: string, minLength: 1}`; may be empty.
    TextList,
    /// `type: string, enum: [...]`.
    OneOf(&'static [&'static str]),
    /// Group and User `profile`: a mapping whose `displayName`, `email` and
    /// `picture`, when present, are non-empty strings.
    Profile,
    /// A Template-only shape, checked in `template.rs`.
    Template(template::Shape),
}

/// One property of a kind's `spec` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SpecField {
    pub name: &'static str,
    pub required: bool,
    pub shape: Shape,
}

const fn required(name: &'static str, shape: Shape) -> SpecField {
    SpecField {
        name,
        required: true,
        shape,
    }
}

const fn optional(name: &'static str, shape: Shape) -> SpecField {
    SpecField {
        name,
        required: false,
        shape,
    }
}

const COMPONENT: &[SpecField] = &[
    required("type", Shape::Text),
    required("lifecycle", Shape::Text),
    required("owner", Shape::Text),
    optional("system", Shape::Text),
    optional("subcomponentOf", Shape::Text),
    optional("providesApis", Shape::TextList),
    optional("consumesApis", Shape::TextList),
    optional("dependsOn", Shape::TextList),
    optional("dependencyOf", Shape::TextList),
];
const API: &[SpecField] = &[
    required("type", Shape::Text),
    required("lifecycle", Shape::Text),
    required("owner", Shape::Text),
    required("definition", Shape::Text),
    optional("system", Shape::Text),
];
const RESOURCE: &[SpecField] = &[
    required("type", Shape::Text),
    required("owner", Shape::Text),
    optional("dependsOn", Shape::TextList),
    optional("dependencyOf", Shape::TextList),
    optional("system", Shape::Text),
];
const SYSTEM: &[SpecField] = &[
    required("owner", Shape::Text),
    optional("domain", Shape::Text),
    optional("type", Shape::Text),
];
const DOMAIN: &[SpecField] = &[
    required("owner", Shape::Text),
    optional("subdomainOf", Shape::Text),
    optional("type", Shape::Text),
];
const GROUP: &[SpecField] = &[
    required("type", Shape::Text),
    optional("profile", Shape::Profile),
    optional("parent", Shape::Text),
    required("children", Shape::TextList),
    optional("members", Shape::TextList),
];
const USER: &[SpecField] = &[
    optional("profile", Shape::Profile),
    required("memberOf", Shape::TextList),
];
const LOCATION: &[SpecField] = &[
    optional("type", Shape::Text),
    optional("target", Shape::Text),
    optional("targets", Shape::TextList),
    optional("presence", Shape::OneOf(&["required", "optional"])),
];

/// The `spec` properties of a built-in kind's schema.
pub(super) fn spec_fields(kind: BuiltinKind) -> &'static [SpecField] {
    match kind {
        BuiltinKind::Component => COMPONENT,
        BuiltinKind::Api => API,
        BuiltinKind::Resource => RESOURCE,
        BuiltinKind::System => SYSTEM,
        BuiltinKind::Domain => DOMAIN,
        BuiltinKind::Group => GROUP,
        BuiltinKind::User => USER,
        BuiltinKind::Location => LOCATION,
        BuiltinKind::Template => template::FIELDS,
    }
}

/// Checks `spec` against the kind's schema; the first problem wins.
pub(super) fn check_spec(kind: BuiltinKind, spec: &Map<String, Value>) -> Result<(), EntityError> {
    for field in spec_fields(kind) {
        let path = format!("spec.{}", field.name);
        match spec.get(field.name) {
            Some(value) => check_shape(&path, field.shape, value)?,
            None if field.required => {
                return Err(error(
                    path,
                    format!("is required for kind {}", kind.as_str()),
                ));
            }
            None => {}
        }
    }
    Ok(())
}

fn check_shape(path: &str, shape: Shape, value: &Value) -> Result<(), EntityError> {
    match shape {
        Shape::Text => text(path, value),
        Shape::TextList => text_list(path, value),
        Shape::OneOf(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            _ => Err(error(
                path,
                format!("must be {}, but found {}", one_of(allowed), describe(value)),
            )),
        },
        Shape::Profile => {
            let profile = object(path, value)?;
            optional_fields(path, profile, &["displayName", "email", "picture"], text)
        }
        Shape::Template(shape) => template::check(path, shape, value),
    }
}

/// `type: string, minLength: 1`.
pub(super) fn text(path: &str, value: &Value) -> Result<(), EntityError> {
    match value.as_str() {
        Some(s) if !s.is_empty() => Ok(()),
        _ => Err(error(
            path,
            format!("must be a non-empty string, but found {}", describe(value)),
        )),
    }
}

/// `type: string` (may be empty).
pub(super) fn string(path: &str, value: &Value) -> Result<(), EntityError> {
    if value.is_string() {
        Ok(())
    } else {
        Err(error(
            path,
            format!("must be a string, but found {}", describe(value)),
        ))
    }
}

/// `type: ["string", "boolean"]`.
pub(super) fn string_or_bool(path: &str, value: &Value) -> Result<(), EntityError> {
    if value.is_string() || value.is_boolean() {
        Ok(())
    } else {
        Err(error(
            path,
            format!(
                "must be a string or a boolean, but found {}",
                describe(value)
            ),
        ))
    }
}

/// `type: object`.
pub(super) fn object<'a>(
    path: &str,
    value: &'a Value,
) -> Result<&'a Map<String, Value>, EntityError> {
    value.as_object().ok_or_else(|| {
        error(
            path,
            format!("must be a mapping, but found {}", describe(value)),
        )
    })
}

/// `type: array` whose items each pass `item` (checked at `path[i]`).
pub(super) fn list_of(
    path: &str,
    value: &Value,
    what: &str,
    item: impl Fn(&str, &Value) -> Result<(), EntityError>,
) -> Result<(), EntityError> {
    let items = value.as_array().ok_or_else(|| {
        error(
            path,
            format!("must be a list of {what}, but found {}", describe(value)),
        )
    })?;
    for (i, v) in items.iter().enumerate() {
        item(&format!("{path}[{i}]"), v)?;
    }
    Ok(())
}

/// `type: array, items: {type: string, minLength: 1}`.
pub(super) fn text_list(path: &str, value: &Value) -> Result<(), EntityError> {
    list_of(path, value, "non-empty strings", text)
}

/// Checks each of `keys` that `map` has with `check` (at `path.key`).
pub(super) fn optional_fields(
    path: &str,
    map: &Map<String, Value>,
    keys: &[&str],
    check: impl Fn(&str, &Value) -> Result<(), EntityError>,
) -> Result<(), EntityError> {
    for key in keys {
        if let Some(v) = map.get(*key) {
            check(&format!("{path}.{key}"), v)?;
        }
    }
    Ok(())
}
