//! The process's metrics endpoint: `GET /metrics` (Prometheus text format),
//! `GET /healthz` (the process runs) and `GET /readyz` (the servers it
//! needs answer: 200 `ready`, else 503 naming each one that does not), on
//! `metrics.listen` when set.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// `metrics` section of the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the metrics endpoint; none (the default) serves none.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

async fn metrics(State(state): State<Arc<Endpoint>>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding metrics: {e}"),
        ),
    }
}

/// The servers a component needs.
#[derive(Clone, Default)]
pub struct Readiness {
    pub nats: Option<async_nats::Client>,
    pub postgres: Option<deadpool_postgres::Pool>,
}

/// How long a check may take before its server counts as unreachable.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Readiness {
    /// What does not answer, one line each; empty when all do.
    pub async fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(nats) = &self.nats {
            let state = nats.connection_state();
            if state != async_nats::connection::State::Connected {
                problems.push(format!("nats: {state}"));
            }
        }
        if let Some(pool) = &self.postgres {
            let check = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map_err(|e| catalog_projector::db::describe(&e))?;
                Ok::<(), String>(())
            };
            match tokio::time::timeout(CHECK_TIMEOUT, check).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(format!("postgres: {e}")),
                Err(_) => problems.push(format!("postgres: no answer within {CHECK_TIMEOUT:?}")),
            }
        }
        problems
    }
}

async fn ready(State(state): State<Arc<Endpoint>>) -> impl IntoResponse {
    let problems = state.readiness.problems().await;
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", problems.join("\n")),
        )
    }
}

struct Endpoint {
    registry: Registry,
    readiness: Readiness,
}

/// Binds the endpoint and serves it until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Arc::new(Endpoint {
            registry,
            readiness,
        }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics endpoint metrics.listen = {addr}"))?;
    tracing::info!(%addr, "metrics at /metrics");
    Ok(tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("metrics endpoint")
    }))
}
