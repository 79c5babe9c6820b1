//! Conversion between JSON values and `google.protobuf.Struct`/`Value`.
//!
//! Protobuf's `Value` has one number type (double). Numbers that are whole and
//! within ±2^53 come back as JSON integers, so a descriptor's `replicas: 3`
//! survives the round trip unchanged.

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number, Value as Json};

/// Largest integer a double represents exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Converts a JSON value into a protobuf `Value`.
pub fn json_to_value(json: &Json) -> Value {
    let kind = match json {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(map_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// Converts a JSON object into a protobuf `Struct`; any other JSON value
/// yields an empty struct.
pub fn json_to_struct(json: &Json) -> Struct {
    match json {
        Json::Object(map) => map_to_struct(map),
        _ => Struct::default(),
    }
}

fn map_to_struct(map: &Map<String, Json>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

/// Converts a protobuf `Value` into JSON.
pub fn value_to_json(value: &Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// Converts a protobuf `Struct` into a JSON object.
pub fn struct_to_json(s: &Struct) -> Json {
    Json::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

/// Parses JSON text straight into a protobuf `Value`: the same value as
/// [`json_to_value`] of the parsed text, without building the JSON value
/// first (half the allocations, for documents served as `Struct`s).
pub fn value_from_json_str(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Direct>(text).map(|d| d.0)
}

/// Parses a JSON object straight into a protobuf `Struct`; any other JSON
/// value yields an empty struct (as [`json_to_struct`]).
pub fn struct_from_json_str(text: &str) -> Result<Struct, serde_json::Error> {
    Ok(match value_from_json_str(text)?.kind {
        Some(Kind::StructValue(s)) => s,
        _ => Struct::default(),
    })
}

/// A protobuf `Value` deserialized from JSON.
struct Direct(Value);

impl<'de> serde::Deserialize<'de> for Direct {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DirectVisitor)
    }
}

struct DirectVisitor;

fn direct(kind: Kind) -> Direct {
    Direct(Value { kind: Some(kind) })
}

impl<'de> serde::de::Visitor<'de> for DirectVisitor {
    type Value = Direct;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Direct, E> {
        Ok(direct(Kind::BoolValue(b)))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Direct, E> {
        Ok(direct(Kind::NumberValue(n as f64)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Direct, E> {
        Ok(direct(Kind::NumberValue(n as f64)))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Direct, E> {
        Ok(direct(Kind::NumberValue(n)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Direct, E> {
        Ok(direct(Kind::StringValue(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<Direct, E> {
        Ok(direct(Kind::StringValue(s)))
    }

    fn visit_unit<E>(self) -> Result<Direct, E> {
        Ok(direct(Kind::NullValue(0)))
    }

    fn visit_none<E>(self) -> Result<Direct, E> {
        Ok(direct(Kind::NullValue(0)))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Direct, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Direct, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(Direct(v)) = seq.next_element()? {
            values.push(v);
        }
        Ok(direct(Kind::ListValue(ListValue { values })))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Direct, A::Error> {
        let mut fields = std::collections::BTreeMap::new();
        while let Some((k, Direct(v))) = map.next_entry::<String, Direct>()? {
            fields.insert(k, v);
        }
        Ok(direct(Kind::StructValue(Struct { fields })))
    }
}

fn number_to_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
        // Whole and exactly representable: the cast is lossless.
        return Json::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(Json::Null, Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_struct_with_integers_kept() {
        let doc = json!({
            "replicas": 3, "ratio": 0.5, "name": "a", "on": true, "none": null,
            "list": [1, "two", {"three": 3}], "nested": {"deep": {"x": -7}}
        });
        assert_eq!(struct_to_json(&json_to_struct(&doc)), doc);
    }

    #[test]
    fn text_parses_straight_into_the_same_values() {
        let texts = [
            r#"{"replicas": 3, "ratio": 0.5, "big": 18446744073709551615, "neg": -9007199254740993,
                "name": "a\u00e9\n\"q\"", "on": true, "off": false, "none": null,
                "list": [1, "two", {"three": 3}, [], {}], "nested": {"deep": {"x": -7e-3}},
                "dup": 1, "dup": 2}"#,
            "[1, 2]",
            "\"text\"",
            "null",
            "{}",
        ];
        for text in texts {
            let parsed: Json = serde_json::from_str(text).unwrap();
            assert_eq!(
                value_from_json_str(text).unwrap(),
                json_to_value(&parsed),
                "{text}"
            );
            assert_eq!(
                struct_from_json_str(text).unwrap(),
                json_to_struct(&parsed),
                "{text}"
            );
        }
        assert!(value_from_json_str("{\"a\": }").is_err());
        assert!(value_from_json_str("[1, 2").is_err());
    }
}
