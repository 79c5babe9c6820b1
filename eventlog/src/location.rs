//! Location events on the log: registrations and refresh status.
//!
//! Subjects: `<prefix>.location.<id>.registration` (last message = current
//! registration), `<prefix>.location.<id>.status` (last message = last
//! refresh) and `<prefix>.location.<id>.refresh` (last message = latest
//! refresh request). `id` is the UUID v5 (URL namespace) of the location key
//! `<type>:<target>`, so every worker derives the same id.

use async_nats::HeaderMap;
use bytes::Bytes;
use catalog_proto::v1 as pb;
use prost::Message;

use crate::codec::{CE_SPEC_VERSION, CONTENT_TYPE, DecodeError};

/// The id of a location key.
pub fn location_id(key: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string()
}

/// Subject of a location's registrations.
pub fn registration_subject(prefix: &str, id: &str) -> String {
    format!("{prefix}.location.{id}.registration")
}

/// Subject of a location's status reports.
pub fn status_subject(prefix: &str, id: &str) -> String {
    format!("{prefix}.location.{id}.status")
}

/// Subject of a location's refresh requests.
pub fn refresh_subject(prefix: &str, id: &str) -> String {
    format!("{prefix}.location.{id}.refresh")
}

/// Wildcard over every location's refresh requests.
pub fn refresh_wildcard(prefix: &str) -> String {
    format!("{prefix}.location.*.refresh")
}

/// Wildcard over every location subject (registrations, statuses, refresh requests).
pub fn location_wildcard(prefix: &str) -> String {
    format!("{prefix}.location.*.*")
}

/// Wildcard over every location's registrations.
pub fn registration_wildcard(prefix: &str) -> String {
    format!("{prefix}.location.*.registration")
}

/// Whether a subject is a location subject under `prefix`.
pub fn is_location_subject(prefix: &str, subject: &str) -> bool {
    subject
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with(".location."))
}

/// A location event, ready to publish or as read.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationEvent {
    pub event_id: String,
    pub time_millis: i64,
    pub location_key: String,
    pub change: pb::location_event::Change,
}

impl LocationEvent {
    /// A new event for `location_key`.
    pub fn new(location_key: &str, change: pb::location_event::Change) -> Self {
        Self {
            event_id: uuid::Uuid::now_v7().to_string(),
            time_millis: chrono::Utc::now().timestamp_millis(),
            location_key: location_key.to_string(),
            change,
        }
    }

    /// The location's id.
    pub fn location_id(&self) -> String {
        location_id(&self.location_key)
    }

    fn ce_type(&self) -> &'static str {
        match self.change {
            pb::location_event::Change::Registered(_) => "catalog.location.registered.v1",
            pb::location_event::Change::Unregistered(_) => "catalog.location.unregistered.v1",
            pb::location_event::Change::Status(_) => "catalog.location.status.v1",
            pb::location_event::Change::RefreshRequested(_) => {
                "catalog.location.refresh-requested.v1"
            }
        }
    }

    /// The subject this event goes to.
    pub fn subject(&self, prefix: &str) -> String {
        let id = self.location_id();
        match self.change {
            pb::location_event::Change::Status(_) => status_subject(prefix, &id),
            pb::location_event::Change::RefreshRequested(_) => refresh_subject(prefix, &id),
            _ => registration_subject(prefix, &id),
        }
    }
}

/// Encodes a location event.
pub fn encode_location_event(prefix: &str, event: &LocationEvent) -> (String, HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.event_id.as_str());
    headers.insert("ce-specversion", CE_SPEC_VERSION);
    headers.insert("ce-id", event.event_id.as_str());
    headers.insert("ce-type", event.ce_type());
    headers.insert("ce-source", "/catalog/locations");
    headers.insert("ce-subject", event.location_key.as_str());
    headers.insert("ce-datacontenttype", CONTENT_TYPE);
    let proto = pb::LocationEvent {
        event_id: event.event_id.clone(),
        time: Some(prost_types::Timestamp {
            seconds: event.time_millis.div_euclid(1000),
            nanos: (event.time_millis.rem_euclid(1000) * 1_000_000) as i32,
        }),
        location_id: event.location_id(),
        location_key: event.location_key.clone(),
        schema_version: pb::EventSchemaVersion::V1 as i32,
        change: Some(event.change.clone()),
    };
    (
        event.subject(prefix),
        headers,
        Bytes::from(proto.encode_to_vec()),
    )
}

/// Decodes and checks a location event read from `subject`.
pub fn decode_location_event(
    prefix: &str,
    subject: &str,
    payload: &[u8],
) -> Result<LocationEvent, DecodeError> {
    let proto =
        pb::LocationEvent::decode(payload).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    if proto.schema_version != pb::EventSchemaVersion::V1 as i32 {
        return Err(DecodeError::SchemaVersion(proto.schema_version));
    }
    let change = proto.change.ok_or(DecodeError::NoChange)?;
    let event = LocationEvent {
        event_id: proto.event_id,
        time_millis: proto
            .time
            .map(|t| {
                t.seconds
                    .saturating_mul(1000)
                    .saturating_add(i64::from(t.nanos) / 1_000_000)
            })
            .unwrap_or_default(),
        location_key: proto.location_key,
        change,
    };
    if event.subject(prefix) != subject || proto.location_id != event.location_id() {
        return Err(DecodeError::SubjectMismatch {
            subject: subject.to_string(),
            entity_ref: event.location_key,
        });
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_events_round_trip_and_bind_to_their_subject() {
        let e = LocationEvent::new(
            "url:https://example.com/catalog-info.yaml",
            pb::location_event::Change::Registered(pb::LocationRegistered {
                r#type: "url".into(),
                target: "https://example.com/catalog-info.yaml".into(),
                registered_by: "api".into(),
            }),
        );
        let (subject, _, payload) = encode_location_event("catalog", &e);
        assert_eq!(
            subject,
            format!("catalog.location.{}.registration", e.location_id())
        );
        assert_eq!(
            decode_location_event("catalog", &subject, &payload).unwrap(),
            e
        );
        let other = status_subject("catalog", &e.location_id());
        assert!(decode_location_event("catalog", &other, &payload).is_err());
        assert_eq!(location_id("file:/a"), location_id("file:/a"));
        assert_ne!(location_id("file:/a"), location_id("file:/b"));
    }
}
