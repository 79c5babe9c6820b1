//! The `telemetry` section of the configuration file.

use serde::Deserialize;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, with the span list, `trace_id` and
    /// `span_id`, for log pipelines.
    Json,
}

impl LogFormat {
    /// Reads `CATALOG_LOG_FORMAT` (`text` or `json`); unset means `None`.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        match std::env::var("CATALOG_LOG_FORMAT").as_deref() {
            Err(_) => Ok(None),
            Ok("text") => Ok(Some(Self::Text)),
            Ok("json") => Ok(Some(Self::Json)),
            Ok(other) => {
                anyhow::bail!("CATALOG_LOG_FORMAT={other:?}: use text (the default) or json")
            }
        }
    }
}

/// Logs and traces.
///
/// ```yaml
/// telemetry:
///   log_format: json
///   otlp_endpoint: http://otel-collector.observability:4317
///   service_name: catalog-api
///   sample_ratio: 0.1
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `text` (default) or `json`. `CATALOG_LOG_FORMAT` also sets it.
    #[serde(default)]
    pub log_format: Option<LogFormat>,
    /// OTLP/gRPC collector to export traces to (`http://host:4317`). Unset:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// from the environment; when none is set, spans still get trace ids
    /// (for logs and propagation) but nothing is exported.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute. Default: `OTEL_SERVICE_NAME`,
    /// else `catalog-<component>` (`catalog-api`, `catalog-projector`, ...).
    #[serde(default)]
    pub service_name: Option<String>,
    /// Fraction of new traces that are sampled, 0 to 1 (default 1). A trace
    /// that arrives with a sampling decision (a `traceparent` from a caller
    /// or in a NATS message) keeps it.
    #[serde(default = "default_ratio")]
    pub sample_ratio: f64,
}

fn default_ratio() -> f64 {
    1.0
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: None,
            otlp_endpoint: None,
            service_name: None,
            sample_ratio: default_ratio(),
        }
    }
}

impl TelemetryConfig {
    /// Checks the values; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "telemetry.sample_ratio: {} is not between 0 and 1",
                self.sample_ratio
            ));
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            check_endpoint(endpoint).map_err(|e| format!("telemetry.otlp_endpoint: {e}"))?;
        }
        if matches!(&self.service_name, Some(name) if name.trim().is_empty()) {
            return Err("telemetry.service_name: must not be empty".into());
        }
        Ok(())
    }

    /// The collector traces go to: the configured one, else the standard
    /// OpenTelemetry environment variables.
    pub fn endpoint(&self) -> Option<String> {
        self.otlp_endpoint.clone().or_else(|| {
            [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ]
            .into_iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        })
    }
}

pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{endpoint:?}: use http://host:port or https://host:port (OTLP over gRPC)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_key() {
        let c = TelemetryConfig {
            sample_ratio: 1.5,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("telemetry.sample_ratio"));
        let c = TelemetryConfig {
            otlp_endpoint: Some("collector:4317".into()),
            ..Default::default()
        };
        let e = c.validate().unwrap_err();
        assert!(e.starts_with("telemetry.otlp_endpoint"), "{e}");
        let c = TelemetryConfig {
            otlp_endpoint: Some("http://collector:4317".into()),
            sample_ratio: 0.25,
            ..Default::default()
        };
        c.validate().unwrap();
    }
}
