//! The event log: the JetStream stream that is the catalog's system of
//! record, and the one place that knows how entity events look on the wire.
//!
//! Owns: the stream's configuration ([`stream`]), the subject and header
//! contract and the protobuf encoding of events ([`codec`]), and publishing
//! with bounded in-flight acks and per-subject optimistic concurrency
//! ([`publish`]). Producers (ingest) and consumers (projector) both go through
//! this crate, so the contract lives in one place.
//!
//! Must never: decide *what* to publish (that is the producer's job) or
//! write read models.

pub mod checkpoint;
pub mod codec;
mod config;
pub mod deadletter;
pub mod location;
pub mod publish;
pub mod stream;

pub use codec::{DecodeError, DecodedEvent, decode_event, encode_event};
pub use config::EventLogConfig;
pub use deadletter::{DeadLetter, ensure_dead_letter_stream, publish_dead_letters};
pub use location::{LocationEvent, decode_location_event, encode_location_event, location_id};
pub use publish::{PublishOutcome, Publisher};
pub use stream::{EventLog, EventLogError};
