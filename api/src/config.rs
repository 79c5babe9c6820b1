use std::net::SocketAddr;

use serde::Deserialize;

/// Configuration of the gRPC API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Secret that signs page tokens. Every API replica must share it; when
    /// empty, a random secret is generated at start-up (tokens then do not
    /// survive a restart).
    #[serde(default)]
    pub page_token_secret: catalog_telemetry::Secret,
    /// How long a page token is accepted, in seconds.
    #[serde(default = "default_page_token_ttl_secs")]
    pub page_token_ttl_secs: u64,
    /// Kinds `IngestService` accepts besides Backstage's built-in ones.
    #[serde(default)]
    pub extra_kinds: Vec<String>,
    /// Whether `LocationService` may register (and dry-run) `file:`
    /// locations. Off by default: it would let API callers read files on the
    /// API's and the ingest workers' hosts.
    #[serde(default)]
    pub allow_file_locations: bool,
    /// Longest a call may run when the client set no shorter deadline, in
    /// seconds (watch streams are not bounded by it once they have started).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Longest one database statement may run, in milliseconds; PostgreSQL
    /// cancels it after that and the call fails with DEADLINE_EXCEEDED.
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// Most calls running at once across all connections; calls beyond it
    /// fail at once with RESOURCE_EXHAUSTED (health and reflection are
    /// never refused; a watch stream counts only until it starts).
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Who may call what (`crate::auth`); off by default.
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
}

fn default_max_concurrent_requests() -> usize {
    256
}

fn default_request_timeout_secs() -> u64 {
    60
}

fn default_statement_timeout_ms() -> u64 {
    30_000
}

fn default_page_token_ttl_secs() -> u64 {
    crate::page_token::DEFAULT_TTL.as_secs()
}

impl ApiConfig {
    /// `request_timeout_secs` as a duration (at least 1 s).
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// `statement_timeout_ms` as a duration (at least 1 ms).
    pub fn statement_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.statement_timeout_ms.max(1))
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            page_token_secret: catalog_telemetry::Secret::default(),
            page_token_ttl_secs: default_page_token_ttl_secs(),
            extra_kinds: Vec::new(),
            allow_file_locations: false,
            request_timeout_secs: default_request_timeout_secs(),
            statement_timeout_ms: default_statement_timeout_ms(),
            max_concurrent_requests: default_max_concurrent_requests(),
            auth: crate::auth::AuthConfig::default(),
        }
    }
}
