//! The catalog's pure domain: entities in Backstage's descriptor shape, entity
//! references, validation (envelope and metadata in `entity`, built-in kinds
//! in `kinds`), relation derivation, descriptor (YAML) parsing, NATS subject
//! encoding and the event envelope.
//!
//! This crate does no I/O: no files, no network, no clock. Everything here is
//! a function of its inputs, so every rule can be unit-tested in isolation.

pub mod descriptor;
pub mod diff;
pub mod entity;
pub mod entity_ref;
pub mod event;
pub mod fields;
pub mod kinds;
pub mod projection;
pub mod relation;
pub mod subject;
mod validate;

pub use descriptor::{DescriptorError, DocumentError, parse_descriptors, parse_documents};
pub use entity::{Entity, EntityError};
pub use entity_ref::{EntityRef, RefError};
pub use event::{EntityChange, EntityEvent, EventSource};
pub use fields::{Fields, entity_fields, fields_match};
pub use kinds::{BuiltinKind, KindPolicy, RESERVED_FIELDS, check_kind, check_reserved_fields};
pub use relation::{Relation, RelationType, derive_relations};
pub use subject::{SubjectError, decode_token, encode_token, entity_subject, parse_entity_subject};
