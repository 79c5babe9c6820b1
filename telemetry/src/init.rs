//! Installing the subscriber: an env filter, the OpenTelemetry layer and
//! the log formatter.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetryConfig};
use crate::json::JsonWithTraceIds;

/// The installed tracing pipeline. Keep it until the process ends, then
/// call [`Telemetry::shutdown`] so that the last spans are exported.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "flushing traces at exit");
        }
    }
}

fn filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level))
}

/// The log formatter writing to stderr.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonWithTraceIds::new())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    }
}

/// Logs only, no traces: for the one-shot commands (`validate`, `apply`,
/// `config check`). `RUST_LOG` overrides `default_level`.
pub fn init_logs(default_level: &str, format: LogFormat) -> anyhow::Result<()> {
    tracing_subscriber::registry()
        .with(filter(default_level))
        .with(log_layer(format))
        .try_init()
        .context("installing the log subscriber")
}

/// Logs and traces for a long-running component. Every span gets a trace
/// id (so JSON log lines carry one and the context can be propagated);
/// spans are exported over OTLP/gRPC only when an endpoint is configured.
/// Must be called inside the Tokio runtime (the exporter's channel lives on
/// it).
pub fn init(
    config: &TelemetryConfig,
    component: &str,
    default_level: &str,
) -> anyhow::Result<Telemetry> {
    config.validate().map_err(anyhow::Error::msg)?;
    let format = match LogFormat::from_env()? {
        Some(f) => f,
        None => config.log_format.unwrap_or_default(),
    };
    let service_name = config
        .service_name
        .clone()
        .or_else(|| std::env::var("OTEL_SERVICE_NAME").ok())
        .unwrap_or_else(|| format!("catalog-{component}"));
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service_name)
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        );
    let endpoint = config.endpoint();
    if let Some(endpoint) = &endpoint {
        crate::config::check_endpoint(endpoint)
            .map_err(|e| anyhow::anyhow!("OTLP endpoint: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .with_context(|| format!("building the OTLP exporter for {endpoint}"))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("catalog"));
    tracing_subscriber::registry()
        .with(filter(default_level))
        .with(otel)
        .with(log_layer(format))
        .try_init()
        .context("installing the log and trace subscriber")?;
    if let Some(endpoint) = &endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}
