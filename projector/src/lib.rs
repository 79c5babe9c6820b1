//! The projector: consumes entity events from the log and maintains the
//! PostgreSQL read models (entities, relations, history).
//!
//! Owns: the read-model schema ([`schema`], migrations in `migrations/`),
//! applying batches of events ([`apply`]), and the consumer loop with its
//! checkpoint ([`projector`]), and merging the GIN indexes' pending lists
//! between writes ([`upkeep`]).
//!
//! Invariants: the projector is the only writer of the read models; a batch
//! and the checkpoint covering it commit in one transaction; messages are
//! acknowledged only after that commit; an event at or below the checkpoint,
//! or with an event id already applied, has no effect.

pub mod apply;
mod config;
pub mod counts;
pub mod db;
mod locations;
pub mod metrics;
pub mod projector;
pub mod query;
pub mod rebuild;
pub mod schema;
mod upkeep;

pub use config::{MAX_PARTITIONS, ProjectorConfig, partition_of};
pub use metrics::ProjectorMetrics;
pub use projector::{Projector, ProjectorError};
