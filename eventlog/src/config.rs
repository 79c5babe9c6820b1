use serde::Deserialize;

/// Where the event log lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`.
    #[serde(default = "default_url")]
    pub url: String,
    /// JetStream stream name.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// First token(s) of every subject; the stream captures `<prefix>.>`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".into()
}
fn default_stream() -> String {
    "CATALOG".into()
}
fn default_prefix() -> String {
    "catalog".into()
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            stream: default_stream(),
            subject_prefix: default_prefix(),
        }
    }
}
