use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Configuration of the ingestor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Files and directories to read. A directory is read recursively for
    /// `*.yaml` and `*.yml` files. Relative paths are relative to the working
    /// directory.
    #[serde(default)]
    pub locations: Vec<PathBuf>,
    /// How often locations are re-read, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Name of this producer in events (`source.producer`).
    #[serde(default = "default_producer")]
    pub producer: String,
}

fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_producer() -> String {
    "ingest".into()
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            locations: Vec::new(),
            poll_interval_ms: default_poll_interval_ms(),
            producer: default_producer(),
        }
    }
}

impl IngestConfig {
    /// The poll interval as a duration (at least 10 ms).
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }
}
