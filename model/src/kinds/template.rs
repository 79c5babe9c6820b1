//! The scaffolder's Template kind (`scaffolder.backstage.io/v1beta3`), as
//! `plugins/scaffolder-common/src/Template.v1beta3.schema.json` describes it.
//!
//! Only what the schema constrains is checked: parameter schemas, step inputs
//! and output values are templated and free-form beyond their types. Note
//! that a step's `action`, `id` and `name` are plain `type: string` without
//! `minLength`, so an empty `action` passes, as it does in Backstage.

use serde_json::Value;

use super::spec::{SpecField, list_of, object, optional_fields, string, string_or_bool, text};
use crate::entity::{EntityError, describe};
use crate::kinds::error;

/// The Template-only shapes of spec fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `parameters`: a JSON Schema mapping, or a list of them (one per form page).
    Parameters,
    /// `secrets`: a mapping whose `schema`, when present, is a mapping.
    Secrets,
    /// `presentation`: a mapping whose `buttonLabels` holds string labels.
    Presentation,
    /// `EXPERIMENTAL_recovery`: a mapping whose `EXPERIMENTAL_strategy` is a string.
    Recovery,
    /// `EXPERIMENTAL_formDecorators`: a list of `{id: string, input: mapping}`.
    FormDecorators,
    /// `steps`: a list of mappings, each with a string `action`.
    Steps,
    /// `output`: `links` and `text` lists, any other key a string.
    Output,
}

const fn field(name: &'static str, required: bool, shape: super::spec::Shape) -> SpecField {
    SpecField {
        name,
        required,
        shape,
    }
}

const fn template(name: &'static str, required: bool, shape: Shape) -> SpecField {
    field(name, required, super::spec::Shape::Template(shape))
}

/// The Template `spec` properties.
pub(super) const FIELDS: &[SpecField] = &[
    field("type", true, super::spec::Shape::Text),
    field("owner", false, super::spec::Shape::Text),
    field("lifecycle", false, super::spec::Shape::Text),
    template("parameters", false, Shape::Parameters),
    template("secrets", false, Shape::Secrets),
    template("presentation", false, Shape::Presentation),
    template("EXPERIMENTAL_recovery", false, Shape::Recovery),
    template("EXPERIMENTAL_formDecorators", false, Shape::FormDecorators),
    template("steps", true, Shape::Steps),
    template("output", false, Shape::Output),
];

/// Checks a Template-only field at `path`.
pub(super) fn check(path: &str, shape: Shape, value: &Value) -> Result<(), EntityError> {
    match shape {
        Shape::Parameters => parameters(path, value),
        Shape::Secrets => {
            let secrets = object(path, value)?;
            optional_fields(path, secrets, &["schema"], |p, v| object(p, v).map(drop))
        }
        Shape::Presentation => {
            let presentation = object(path, value)?;
            optional_fields(path, presentation, &["buttonLabels"], |p, v| {
                let labels = object(p, v)?;
                optional_fields(
                    p,
                    labels,
                    &["backButtonText", "createButtonText", "reviewButtonText"],
                    string,
                )
            })
        }
        Shape::Recovery => {
            let recovery = object(path, value)?;
            optional_fields(path, recovery, &["EXPERIMENTAL_strategy"], string)
        }
        Shape::FormDecorators => list_of(path, value, "mappings", |p, v| {
            let decorator = object(p, v)?;
            optional_fields(p, decorator, &["id"], string)?;
            optional_fields(p, decorator, &["input"], |p, v| object(p, v).map(drop))
        }),
        Shape::Steps => list_of(path, value, "steps", step),
        Shape::Output => output(path, value),
    }
}

/// `oneOf`: one mapping, or a list of mappings; each may carry
/// `backstage:permissions`.
fn parameters(path: &str, value: &Value) -> Result<(), EntityError> {
    match value {
        Value::Object(_) => parameter_page(path, value),
        Value::Array(_) => list_of(path, value, "mappings", parameter_page),
        _ => Err(error(
            path,
            format!(
                "must be a mapping (a JSON Schema) or a list of mappings, but found {}",
                describe(value)
            ),
        )),
    }
}

fn parameter_page(path: &str, value: &Value) -> Result<(), EntityError> {
    let page = object(path, value)?;
    optional_fields(path, page, &["backstage:permissions"], permissions)
}

/// `backstage:permissions`: a mapping whose `tags` is a list of strings.
fn permissions(path: &str, value: &Value) -> Result<(), EntityError> {
    let permissions = object(path, value)?;
    optional_fields(path, permissions, &["tags"], |p, v| {
        list_of(p, v, "strings", string)
    })
}

/// One step: a mapping with a string `action` (required).
fn step(path: &str, value: &Value) -> Result<(), EntityError> {
    let step = object(path, value)?;
    match step.get("action") {
        Some(action) => string(&format!("{path}.action"), action)?,
        None => return Err(error(format!("{path}.action"), "is required in every step")),
    }
    optional_fields(path, step, &["id", "name"], string)?;
    optional_fields(path, step, &["input"], |p, v| object(p, v).map(drop))?;
    optional_fields(path, step, &["if"], string_or_bool)?;
    optional_fields(path, step, &["backstage:permissions"], permissions)
}

/// `output`: `links[]` and `text[]` with typed fields; any other key is a
/// templated string (`additionalProperties: {type: string}`).
fn output(path: &str, value: &Value) -> Result<(), EntityError> {
    let out = object(path, value)?;
    for (key, v) in out {
        let p = format!("{path}.{key}");
        match key.as_str() {
            "links" => list_of(&p, v, "mappings", |p, v| {
                let link = object(p, v)?;
                optional_fields(p, link, &["if"], string_or_bool)?;
                optional_fields(p, link, &["url", "entityRef", "title", "icon"], text)
            })?,
            "text" => list_of(&p, v, "mappings", |p, v| {
                let item = object(p, v)?;
                optional_fields(p, item, &["if"], string_or_bool)?;
                optional_fields(p, item, &["title", "icon"], text)?;
                optional_fields(p, item, &["content"], string)
            })?,
            _ => string(&p, v)?,
        }
    }
    Ok(())
}
