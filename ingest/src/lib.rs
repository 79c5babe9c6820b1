//! Ingestion: reads entity descriptors from locations and publishes one event
//! per changed entity to the event log.
//!
//! Owns: scanning locations ([`scan`]), the ingestor's view of what the log
//! already holds ([`state`]), and the loop that diffs the two and publishes
//! upserts and deletions ([`ingestor`]).
//!
//! Must never: publish an event for an unchanged entity, delete an entity
//! because its file could not be read or parsed, or touch the read models.

mod config;
pub mod ingestor;
pub mod scan;
pub mod state;

pub use config::IngestConfig;
pub use ingestor::{Ingestor, SyncReport};
