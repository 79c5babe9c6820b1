//! The configuration file: one YAML document with a section per component,
//! overridable by environment variables `CATALOG_<SECTION>__<KEY>`
//! (e.g. `CATALOG_UI_BRIDGE__LISTEN=127.0.0.1:8080`).

use std::path::Path;

use anyhow::Context;
use catalog_api::ApiConfig;
use catalog_eventlog::EventLogConfig;
use catalog_ingest::IngestConfig;
use catalog_projector::ProjectorConfig;
use catalog_ui_bridge::UiBridgeConfig;
use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::Deserialize;

/// PostgreSQL connection settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database`.
    #[serde(default = "default_pg_url")]
    pub url: String,
    /// Most pooled connections per process.
    #[serde(default = "default_pool_size")]
    pub max_connections: usize,
}

fn default_pg_url() -> String {
    "postgres://catalog:catalog@127.0.0.1:5432/catalog".into()
}
fn default_pool_size() -> usize {
    16
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: default_pg_url(),
            max_connections: default_pool_size(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub nats: EventLogConfig,
    #[serde(default)]
    pub postgres: PostgresConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub projector: ProjectorConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub ui_bridge: UiBridgeConfig,
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
}

impl Config {
    /// Loads the file (if any), applies environment overrides, and validates.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let file: serde_json::Value = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                if text.trim().is_empty() {
                    serde_json::Value::Object(Default::default())
                } else {
                    serde_saphyr::from_str(&text)
                        .with_context(|| format!("parsing config file {}", p.display()))?
                }
            }
            None => serde_json::Value::Object(Default::default()),
        };
        let figment = Figment::from(Serialized::defaults(file)).merge(
            Env::prefixed("CATALOG_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let source = path.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
        let config = figment.extract::<Config>().with_context(|| {
            format!("invalid configuration ({source} and CATALOG_* environment)")
        })?;
        config
            .projector
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration ({source}): {e}"))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let dir = std::env::temp_dir().join(format!("catalog-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.yaml");
        std::fs::write(&p, "api:\n  listen: 127.0.0.1:1\n  lisen: x\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("lisen"), "{err}");
        std::fs::write(&p, "api:\n  listen: 127.0.0.1:1234\n").unwrap();
        assert_eq!(Config::load(Some(&p)).unwrap().api.listen.port(), 1234);
        std::fs::write(&p, "projector:\n  partitions: 2\n  owned_partitions: [5]\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("projector.owned_partitions"), "{err}");
        std::fs::write(&p, "metrics:\n  listen: 127.0.0.1:9464\n").unwrap();
        assert!(Config::load(Some(&p)).unwrap().metrics.listen.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
