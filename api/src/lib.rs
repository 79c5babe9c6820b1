//! The gRPC catalog API (`catalog.v1.CatalogService`) over the read models,
//! push ingestion (`catalog.v1.IngestService`, publishing to the event log),
//! gRPC health and server reflection.
//!
//! Owns: request validation, the SQL that reads the read models ([`query`]),
//! conversion to the wire types ([`convert`]), opaque page tokens
//! ([`page_token`]), and the mapping of errors to gRPC status codes
//! ([`error`]), and the live change stream (`watch`).
//!
//! Must never: write the read models (the projector is their only writer),
//! or put a client-supplied string into SQL text (values are bound
//! parameters; field paths come from an allow-list).

mod ancestry;
pub mod auth;
mod checkpoint;
mod config;
pub mod convert;
pub mod error;
mod ingest_service;
mod location_service;
pub mod metrics;
pub mod page_token;
pub mod query;
mod server;
mod service;
mod shed;
mod watch;

pub use config::ApiConfig;
pub use ingest_service::IngestApi;
pub use location_service::LocationApi;
pub use metrics::ApiMetrics;
pub use server::ApiServer;
pub use service::CatalogApi;
