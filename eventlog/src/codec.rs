//! The wire form of entity events: subject, headers and protobuf payload.
//!
//! Headers (CloudEvents 1.0 NATS binding, binary content mode):
//! `Nats-Msg-Id` = `ce-id` = event id, `ce-specversion: 1.0`,
//! `ce-type: catalog.entity.{upserted,deleted}.v1`, `ce-source: /catalog/<producer>`,
//! `ce-time` (RFC 3339), `ce-subject` (the canonical entity ref),
//! `ce-datacontenttype: application/protobuf`.
//!
//! Decoding re-validates everything a consumer relies on: the payload parses,
//! the schema version is known, the subject names the same entity as the
//! payload, and an upserted entity is valid and matches its content hash.

use async_nats::HeaderMap;
use bytes::Bytes;
use catalog_model::{Entity, EntityChange, EntityEvent, EntityRef, EventSource, subject};
use catalog_proto::v1 as pb;
use prost::Message;

/// CloudEvents spec version written in `ce-specversion`.
pub const CE_SPEC_VERSION: &str = "1.0";
/// Content type of the payload.
pub const CONTENT_TYPE: &str = "application/protobuf";

/// Why a message from the log is not a usable entity event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not a catalog.v1.EntityEvent: {0}")]
    Protobuf(String),
    #[error("unsupported event schema version {0}")]
    SchemaVersion(i32),
    #[error("event_id {0:?} is not a UUID")]
    BadEventId(String),
    #[error("event time is out of range")]
    BadTime,
    #[error("event has no change (neither upserted nor deleted)")]
    NoChange,
    #[error("entity_ref {0:?} is not a valid reference")]
    BadRef(String),
    #[error("subject {subject:?} does not match entity_ref {entity_ref:?}")]
    SubjectMismatch { subject: String, entity_ref: String },
    #[error("upserted entity is invalid: {0}")]
    InvalidEntity(String),
    #[error("upserted entity is {actual} but the event is for {expected}")]
    EntityMismatch { expected: String, actual: String },
    #[error("content_hash {claimed} does not match the entity's hash {actual}")]
    HashMismatch { claimed: String, actual: String },
}

/// An event read from the log, with its stream sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    pub sequence: u64,
    pub event: EntityEvent,
}

/// Encodes an event into its subject, headers and payload.
pub fn encode_event(prefix: &str, event: &EntityEvent) -> (String, HeaderMap, Bytes) {
    let subject = subject::entity_subject(prefix, &event.entity_ref);
    let time = chrono::DateTime::from_timestamp_millis(event.time_millis).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.event_id.as_str());
    headers.insert("ce-specversion", CE_SPEC_VERSION);
    headers.insert("ce-id", event.event_id.as_str());
    headers.insert("ce-type", event.ce_type());
    headers.insert(
        "ce-source",
        format!("/catalog/{}", event.source.producer).as_str(),
    );
    headers.insert(
        "ce-time",
        time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .as_str(),
    );
    headers.insert("ce-subject", event.entity_ref.to_string().as_str());
    headers.insert("ce-datacontenttype", CONTENT_TYPE);
    let change = match &event.change {
        EntityChange::Upserted {
            entity,
            content_hash,
        } => pb::entity_event::Change::Upserted(pb::EntityUpserted {
            entity_json: entity.canonical_text().to_string(),
            content_hash: content_hash.clone(),
        }),
        EntityChange::Deleted => pb::entity_event::Change::Deleted(pb::EntityDeleted {}),
    };
    let proto = pb::EntityEvent {
        event_id: event.event_id.clone(),
        time: Some(prost_types::Timestamp {
            seconds: event.time_millis.div_euclid(1000),
            nanos: (event.time_millis.rem_euclid(1000) * 1_000_000) as i32,
        }),
        source: Some(pb::EventSource {
            producer: event.source.producer.clone(),
            location: event.source.location.clone(),
        }),
        entity_ref: event.entity_ref.to_string(),
        schema_version: pb::EventSchemaVersion::V1 as i32,
        change: Some(change),
    };
    (subject, headers, Bytes::from(proto.encode_to_vec()))
}

/// Decodes and validates an event read from `subject` at `sequence`.
pub fn decode_event(
    prefix: &str,
    subject: &str,
    payload: &[u8],
    sequence: u64,
) -> Result<DecodedEvent, DecodeError> {
    let proto =
        pb::EntityEvent::decode(payload).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    if proto.schema_version != pb::EventSchemaVersion::V1 as i32 {
        return Err(DecodeError::SchemaVersion(proto.schema_version));
    }
    if uuid::Uuid::parse_str(&proto.event_id).is_err() {
        return Err(DecodeError::BadEventId(proto.event_id));
    }
    let entity_ref: EntityRef = proto
        .entity_ref
        .parse()
        .map_err(|_| DecodeError::BadRef(proto.entity_ref.clone()))?;
    // Canonical refs only: the projector keys everything on this string.
    if entity_ref.to_string() != proto.entity_ref {
        return Err(DecodeError::BadRef(proto.entity_ref));
    }
    match subject::parse_entity_subject(prefix, subject) {
        Ok(r) if r == entity_ref => {}
        _ => {
            return Err(DecodeError::SubjectMismatch {
                subject: subject.to_string(),
                entity_ref: proto.entity_ref,
            });
        }
    }
    let change = match proto.change.ok_or(DecodeError::NoChange)? {
        pb::entity_event::Change::Upserted(u) => {
            let entity = Entity::from_json_str(&u.entity_json)
                .map_err(|e| DecodeError::InvalidEntity(e.to_string()))?;
            if entity.entity_ref() != &entity_ref {
                return Err(DecodeError::EntityMismatch {
                    expected: entity_ref.to_string(),
                    actual: entity.entity_ref().to_string(),
                });
            }
            let actual = entity.content_hash();
            if actual != u.content_hash {
                return Err(DecodeError::HashMismatch {
                    claimed: u.content_hash,
                    actual,
                });
            }
            EntityChange::Upserted {
                entity,
                content_hash: actual,
            }
        }
        pb::entity_event::Change::Deleted(_) => EntityChange::Deleted,
    };
    let time_millis = match proto.time {
        None => 0,
        Some(t) => t
            .seconds
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(i64::from(t.nanos) / 1_000_000))
            .ok_or(DecodeError::BadTime)?,
    };
    let source = proto.source.unwrap_or_default();
    Ok(DecodedEvent {
        sequence,
        event: EntityEvent {
            event_id: proto.event_id,
            time_millis,
            source: EventSource {
                producer: source.producer,
                location: source.location,
            },
            entity_ref,
            change,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> EntityEvent {
        let entity = Entity::from_json(json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "My.Svc"}, "spec": {"type": "service"}
        }))
        .unwrap();
        EntityEvent {
            event_id: "0190e7a2-0000-7000-8000-000000000001".into(),
            time_millis: 1_700_000_000_123,
            source: EventSource {
                producer: "ingest".into(),
                location: "file:/x.yaml".into(),
            },
            entity_ref: entity.entity_ref().clone(),
            change: EntityChange::Upserted {
                content_hash: entity.content_hash(),
                entity,
            },
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let e = event();
        let (subject, headers, payload) = encode_event("catalog", &e);
        assert_eq!(subject, "catalog.entity.component.default.my_2esvc");
        assert_eq!(
            headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some("0190e7a2-0000-7000-8000-000000000001")
        );
        assert_eq!(
            headers.get("ce-type").map(|v| v.as_str()),
            Some("catalog.entity.upserted.v1")
        );
        let d = decode_event("catalog", &subject, &payload, 7).unwrap();
        assert_eq!(d.sequence, 7);
        assert_eq!(d.event, e);
    }

    #[test]
    fn out_of_range_times_are_rejected() {
        let (subject, _, payload) = encode_event("catalog", &event());
        let mut proto = pb::EntityEvent::decode(payload.as_ref()).unwrap();
        proto.time = Some(prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        });
        assert_eq!(
            decode_event("catalog", &subject, &proto.encode_to_vec(), 1),
            Err(DecodeError::BadTime)
        );
    }

    #[test]
    fn garbage_and_forged_events_are_rejected() {
        assert!(matches!(
            decode_event("catalog", "catalog.entity.a.b.c", b"\xff\xff\xff", 1),
            Err(DecodeError::Protobuf(_))
        ));
        let (_, _, payload) = encode_event("catalog", &event());
        assert!(matches!(
            decode_event(
                "catalog",
                "catalog.entity.component.default.other",
                &payload,
                1
            ),
            Err(DecodeError::SubjectMismatch { .. })
        ));
        let mut e = event();
        if let EntityChange::Upserted { content_hash, .. } = &mut e.change {
            *content_hash = "0".into();
        }
        let (subject, _, payload) = encode_event("catalog", &e);
        assert!(matches!(
            decode_event("catalog", &subject, &payload, 1),
            Err(DecodeError::HashMismatch { .. })
        ));
    }
}
