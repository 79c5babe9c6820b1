//! The configuration file: one YAML document with a section per component,
//! overridable by environment variables `CATALOG_<SECTION>__<KEY>`
//! (e.g. `CATALOG_UI_BRIDGE__LISTEN=127.0.0.1:8080`). String values in the
//! file may use `${VAR}`, replaced by the environment variable's value when
//! the file is loaded (for secrets that come from the environment); `$${`
//! is a literal `${`, and a variable that is not set is an error naming the
//! key.

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
    #[serde(default)]
    pub telemetry: catalog_telemetry::TelemetryConfig,
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
                    let mut value: serde_json::Value = serde_saphyr::from_str(&text)
                        .with_context(|| format!("parsing config file {}", p.display()))?;
                    substitute(&mut value, "", &|name| std::env::var(name).ok())
                        .with_context(|| format!("config file {}", p.display()))?;
                    // A section whose keys are all commented out is empty,
                    // not a mistake: it takes its defaults.
                    if let serde_json::Value::Object(sections) = &mut value {
                        for section in sections.values_mut() {
                            if section.is_null() {
                                *section = serde_json::Value::Object(Default::default());
                            }
                        }
                    }
                    value
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
        config
            .nats
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration ({source}): {e}"))?;
        config
            .telemetry
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration ({source}): {e}"))?;
        Ok(config)
    }
}

/// Replaces `${VAR}` in every string of `value` (at dotted path `at`) with
/// `lookup(VAR)`. Substituting after parsing means a value can never change
/// the document's structure.
fn substitute(
    value: &mut serde_json::Value,
    at: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    match value {
        serde_json::Value::String(s) if s.contains('$') => {
            *s = expand(s, at, lookup)?;
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{at}[{i}]"), lookup)?;
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                substitute(v, &path, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand(text: &str, at: &str, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| anyhow::anyhow!("{at}: `${{` without a closing `}}`"))?;
            let name = &tail[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                anyhow::bail!("{at}: ${{{name}}} is not a variable name (letters, digits, _)");
            }
            let value = lookup(name)
                .ok_or_else(|| anyhow::anyhow!("{at}: environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
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
        std::fs::write(&p, "nats:\n  replicas: 2\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("nats.replicas"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn variables_are_substituted_in_strings_and_missing_ones_named() {
        let env = |name: &str| match name {
            "DB" => Some("postgres://u:p@db/x".to_string()),
            "TOKEN" => Some("s3cr:et".to_string()),
            _ => None,
        };
        let mut v = serde_json::json!({
            "postgres": {"url": "${DB}"},
            "ui_bridge": {"proxy": {"endpoints": {"/ci": {"headers": {"Authorization": "Bearer ${TOKEN}"}}}}},
            "plain": "a $ b $${NOT} c",
            "n": 3,
            "list": ["x${TOKEN}y"]
        });
        substitute(&mut v, "", &env).unwrap();
        assert_eq!(v["postgres"]["url"], "postgres://u:p@db/x");
        assert_eq!(
            v["ui_bridge"]["proxy"]["endpoints"]["/ci"]["headers"]["Authorization"],
            "Bearer s3cr:et"
        );
        assert_eq!(v["plain"], "a $ b ${NOT} c");
        assert_eq!(v["list"][0], "xs3cr:ety");
        let mut missing = serde_json::json!({"api": {"page_token_secret": "${NOPE}"}});
        let err = substitute(&mut missing, "", &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "api.page_token_secret: environment variable NOPE is not set"
        );
        let mut open = serde_json::json!({"a": ["${X"]});
        let err = substitute(&mut open, "", &env).unwrap_err().to_string();
        assert!(err.starts_with("a[0]:"), "{err}");
        let mut bad = serde_json::json!({"a": "${a-b}"});
        assert!(substitute(&mut bad, "", &env).is_err());
    }
}
