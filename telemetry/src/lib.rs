//! Logs and traces for every component: the `tracing` subscriber (text or
//! JSON lines, each JSON line carrying its trace and span ids), OpenTelemetry
//! traces exported over OTLP/gRPC when an endpoint is configured, and the
//! W3C trace context (`traceparent`) carried across the process boundaries
//! of the architecture: in NATS message headers from ingest to projector, and
//! in HTTP/gRPC headers into the API and out of the UI bridge.
//!
//! This crate never decides what is traced: components open their own spans;
//! it only carries their context and ships them. It holds no global state
//! besides the one `tracing` subscriber installed by [`init`].

mod config;
mod init;
mod json;
pub mod layer;
pub mod propagation;
mod secret;

pub use config::{LogFormat, TelemetryConfig};
pub use init::{Telemetry, init, init_logs};
pub use secret::Secret;
