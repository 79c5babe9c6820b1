use std::time::Duration;

use serde::Deserialize;

/// Configuration of the projector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectorConfig {
    /// Durable consumer name; also the checkpoint's key. One projector
    /// process per consumer name.
    #[serde(default = "default_consumer")]
    pub consumer: String,
    /// Most events applied in one transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest wait for a batch to fill, in milliseconds.
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: u64,
}

fn default_consumer() -> String {
    "projector".into()
}
fn default_batch_size() -> usize {
    500
}
fn default_batch_wait_ms() -> u64 {
    50
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            consumer: default_consumer(),
            batch_size: default_batch_size(),
            batch_wait_ms: default_batch_wait_ms(),
        }
    }
}

impl ProjectorConfig {
    /// Batch size, clamped to 1..=10,000.
    pub fn batch_size(&self) -> usize {
        self.batch_size.clamp(1, 10_000)
    }

    /// Batch wait, at least 1 ms.
    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms.max(1))
    }
}
