use std::net::SocketAddr;

use serde::Deserialize;

/// Configuration of the UI bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiBridgeConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// URL of the gRPC API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Endpoints for third-party APIs (`/api/proxy/{endpoint}/...`).
    #[serde(default)]
    pub proxy: crate::proxy::ProxyConfig,
    /// Sessions and bearer tokens.
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
    /// The plugins the shell offers, in navigation order. Unset: the
    /// built-in ones whose proxy endpoints are configured (ci-builds needs
    /// `ci`).
    #[serde(default)]
    pub plugins: Option<Vec<crate::plugins::PluginConfig>>,
    /// Most requests handled at once; beyond it 503 with `Retry-After`
    /// (`/healthz` is never refused; an event stream counts only until it
    /// starts).
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Longest a client may take to send a request's headers, in seconds;
    /// the connection is closed after that (slow clients cannot hold
    /// connections open).
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Cross-origin access to the bridge's APIs.
    #[serde(default)]
    pub cors: CorsConfig,
    /// Origins besides the bridge's own that pages may load scripts,
    /// styles, images and data from (the Content-Security-Policy), for
    /// plugins that use them.
    #[serde(default)]
    pub csp_origins: Vec<String>,
}

/// `ui_bridge.cors`: by default no other origin may call the bridge.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins (`https://portal.example.com`) whose pages may call the
    /// bridge's APIs with a bearer token; never `*`, never with cookies.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

fn default_header_read_timeout_secs() -> u64 {
    10
}

fn default_max_concurrent_requests() -> usize {
    512
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7007))
}
fn default_api_url() -> String {
    "http://127.0.0.1:50051".into()
}

impl Default for UiBridgeConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            api_url: default_api_url(),
            proxy: crate::proxy::ProxyConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            plugins: None,
            max_concurrent_requests: default_max_concurrent_requests(),
            header_read_timeout_secs: default_header_read_timeout_secs(),
            cors: CorsConfig::default(),
            csp_origins: Vec::new(),
        }
    }
}
