//! Ingestion: reads entity descriptors from locations and publishes one event
//! per changed entity to the event log.
//!
//! Owns: locations and reference resolution ([`location`]), reading files and
//! URLs ([`read`]), placeholders ([`placeholder`]), crawling a root location
//! into entities ([`crawl`]), the ingestor's view of what the log already
//! holds ([`state`]), and the loop that diffs the two and publishes upserts,
//! deletions and orphan marks ([`ingestor`]).
//!
//! Must never: publish an event for an unchanged entity, delete an entity
//! because its source could not be read or parsed, let one location take
//! over another's entity, or touch the read models.

pub mod ancestry;
mod config;
pub mod crawl;
pub mod ingestor;
pub mod lease;
pub mod location;
pub mod metrics;
pub mod placeholder;
pub mod push;
pub mod read;
pub mod registry;
pub mod state;
pub mod watch;

pub use config::{IngestConfig, LocationConfig, OrphanStrategy};
pub use ingestor::{Ingestor, SyncReport};
