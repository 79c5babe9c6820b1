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
    pub page_token_secret: String,
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
}

fn default_page_token_ttl_secs() -> u64 {
    crate::page_token::DEFAULT_TTL.as_secs()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            page_token_secret: String::new(),
            page_token_ttl_secs: default_page_token_ttl_secs(),
            extra_kinds: Vec::new(),
            allow_file_locations: false,
        }
    }
}
