use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::location::{LocationError, LocationSpec, LocationType};
use crate::read::UrlReaderConfig;

/// A configured location: `"path"`, `"file:<path>"`, `"url:<url>"`, or
/// `{type: file|url, target: ...}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum LocationConfig {
    Key(String),
    Spec {
        #[serde(rename = "type")]
        kind: LocationType,
        target: String,
    },
}

impl LocationConfig {
    /// The root location, relative paths taken from `cwd`.
    pub fn to_spec(&self, cwd: &Path) -> Result<LocationSpec, LocationError> {
        match self {
            Self::Key(k) if k.starts_with("file:") || k.starts_with("url:") => {
                LocationSpec::parse_key(k, cwd)
            }
            Self::Key(path) => Ok(LocationSpec::file(path, cwd)),
            Self::Spec {
                kind: LocationType::File,
                target,
            } => Ok(LocationSpec::file(target, cwd)),
            Self::Spec {
                kind: LocationType::Url,
                target,
            } => LocationSpec::url(target),
        }
    }
}

impl From<&str> for LocationConfig {
    fn from(s: &str) -> Self {
        Self::Key(s.to_string())
    }
}

/// What happens to an entity whose location stops producing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrphanStrategy {
    /// Publish a deletion.
    #[default]
    Delete,
    /// Keep it, marked with the annotation `backstage.io/orphan: "true"`.
    Keep,
}

/// Configuration of the ingestor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Root locations to read. A directory is read recursively for `*.yaml`
    /// and `*.yml` files; a glob reads its matches; a URL is fetched.
    /// Relative paths are relative to the working directory.
    #[serde(default)]
    pub locations: Vec<LocationConfig>,
    /// How often file locations are checked for changes, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Watch file locations for changes (inotify and the like), so that a
    /// change is read at once rather than at the next poll; polls go on
    /// for what notifications cannot see.
    #[serde(default = "default_true")]
    pub watch_files: bool,
    /// How often URL locations are re-fetched, in seconds, with ±10 % jitter.
    #[serde(default = "default_refresh_interval_secs")]
    pub refresh_interval_secs: u64,
    /// What happens to an entity that disappears from its location.
    #[serde(default)]
    pub orphan_strategy: OrphanStrategy,
    /// Kinds accepted besides Backstage's built-in ones.
    #[serde(default)]
    pub extra_kinds: Vec<String>,
    /// Take a lease on each location before reading it, so several ingest
    /// workers can share the same locations (each read by one of them).
    #[serde(default = "default_true")]
    pub leases: bool,
    /// Lease time-to-live in seconds: how long a dead worker's locations
    /// wait before another worker takes them over.
    #[serde(default = "default_lease_ttl_secs")]
    pub lease_ttl_secs: u64,
    /// HTTP settings for URL locations.
    #[serde(default)]
    pub url: UrlReaderConfig,
    /// Name of this producer in events (`source.producer`).
    #[serde(default = "default_producer")]
    pub producer: String,
}

fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_refresh_interval_secs() -> u64 {
    300
}
fn default_true() -> bool {
    true
}
fn default_lease_ttl_secs() -> u64 {
    15
}
fn default_producer() -> String {
    "ingest".into()
}

impl IngestConfig {
    /// The lease time-to-live (at least a second).
    pub fn lease_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_ttl_secs.max(1))
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            locations: Vec::new(),
            poll_interval_ms: default_poll_interval_ms(),
            watch_files: true,
            refresh_interval_secs: default_refresh_interval_secs(),
            orphan_strategy: OrphanStrategy::default(),
            extra_kinds: Vec::new(),
            leases: true,
            lease_ttl_secs: default_lease_ttl_secs(),
            url: UrlReaderConfig::default(),
            producer: default_producer(),
        }
    }
}

impl IngestConfig {
    /// The poll interval as a duration (at least 10 ms).
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// The URL refresh interval (at least 1 s).
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(self.refresh_interval_secs.max(1))
    }
}
