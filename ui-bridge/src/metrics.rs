//! Request metrics for the bridge: `catalog_http_requests_total{route,status}`
//! and `catalog_http_request_seconds{route}` by matched route template, and
//! for the proxy `catalog_proxy_requests_total{endpoint,status}` and
//! `catalog_proxy_request_seconds{endpoint}` by configured endpoint. Times
//! run until the response head (a streamed body is not waited for).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointStatus {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The bridge's metrics.
#[derive(Clone)]
pub struct BridgeMetrics {
    requests: Family<RouteStatus, Counter>,
    seconds: Family<RouteLabel, Histogram>,
    proxy_requests: Family<EndpointStatus, Counter>,
    proxy_seconds: Family<EndpointLabel, Histogram>,
}

impl BridgeMetrics {
    /// Metrics registered in `registry` (`catalog_http_*`, `catalog_proxy_*`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            seconds: Family::new_with_constructor(latency),
            proxy_requests: Family::default(),
            proxy_seconds: Family::new_with_constructor(latency),
        };
        let r = registry.sub_registry_with_prefix("catalog_http");
        r.register(
            "requests",
            "HTTP requests by route and status",
            m.requests.clone(),
        );
        r.register(
            "request_seconds",
            "HTTP request duration until the response head, by route",
            m.seconds.clone(),
        );
        let r = registry.sub_registry_with_prefix("catalog_proxy");
        r.register(
            "requests",
            "Proxied requests by endpoint and status",
            m.proxy_requests.clone(),
        );
        r.register(
            "request_seconds",
            "Proxied request duration until the response head, by endpoint",
            m.proxy_seconds.clone(),
        );
        m
    }
}

/// What the middleware needs: the metrics and the proxy's endpoint names.
#[derive(Clone)]
pub struct Metered {
    pub metrics: BridgeMetrics,
    pub endpoints: Vec<String>,
}

/// Middleware recording every request.
pub async fn record(State(m): State<Metered>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(rest) = path.strip_prefix("/api/proxy") {
        let endpoint = crate::proxy::endpoint_for(&m.endpoints, rest).unwrap_or("(unknown)");
        m.metrics
            .proxy_requests
            .get_or_create(&EndpointStatus {
                endpoint: endpoint.to_string(),
                status: status.clone(),
            })
            .inc();
        m.metrics
            .proxy_seconds
            .get_or_create(&EndpointLabel {
                endpoint: endpoint.to_string(),
            })
            .observe(elapsed);
    }
    // Unmatched paths share one label, so scanners cannot grow the series.
    let route = route.unwrap_or_else(|| "(unmatched)".into());
    m.metrics
        .requests
        .get_or_create(&RouteStatus {
            route: route.clone(),
            status,
        })
        .inc();
    m.metrics
        .seconds
        .get_or_create(&RouteLabel { route })
        .observe(elapsed);
    response
}
