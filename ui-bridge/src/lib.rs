//! The UI bridge: the HTTP edge for browsers. Serves the core web UI and a
//! Backstage-compatible catalog REST API, answering every data request by
//! calling the gRPC API.
//!
//! Owns: HTTP routing ([`routes`]), Backstage's REST shapes and filter
//! syntax ([`rest`]), conversion from the wire types ([`convert`]), and the
//! embedded web assets (`web/`, [`assets`]).
//!
//! Must never: read the database or the event log directly; all catalog data
//! comes through the gRPC API.

pub mod assets;
pub mod auth;
mod config;
pub mod convert;
pub mod headers;
pub mod metrics;
pub mod plugins;
pub mod proxy;
pub mod rest;
pub mod routes;
mod shed;

pub use config::{CorsConfig, UiBridgeConfig};
pub use routes::{BridgeError, UiBridge};
