//! The domain form of an entity event (the wire form is `catalog.v1.EntityEvent`).

use crate::entity::Entity;
use crate::entity_ref::EntityRef;

/// Who produced an event and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventSource {
    /// Producing component, e.g. `ingest`.
    pub producer: String,
    /// Location in `<type>:<target>` form; empty when not location-based.
    pub location: String,
}

/// What happened to the entity.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityChange {
    /// Created or changed; carries the full descriptor and its content hash.
    Upserted {
        /// The entity as validated.
        entity: Entity,
        /// [`Entity::content_hash`] of `entity`.
        content_hash: String,
    },
    /// Gone from its source.
    Deleted,
}

/// One change to one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityEvent {
    /// Unique event id (UUID); also the NATS de-duplication id.
    pub event_id: String,
    /// When the producer observed the change, in milliseconds since the Unix epoch.
    pub time_millis: i64,
    /// Who produced the event.
    pub source: EventSource,
    /// The entity the event is about.
    pub entity_ref: EntityRef,
    /// What happened to it.
    pub change: EntityChange,
}

impl EntityEvent {
    /// The CloudEvents `type` of this event, which carries the schema version.
    pub fn ce_type(&self) -> &'static str {
        match self.change {
            EntityChange::Upserted { .. } => "catalog.entity.upserted.v1",
            EntityChange::Deleted => "catalog.entity.deleted.v1",
        }
    }
}
