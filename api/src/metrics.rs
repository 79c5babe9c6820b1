//! Request metrics for the gRPC server: `catalog_api_requests_total{method,
//! code}` and `catalog_api_request_seconds{method}`, recorded by a tower
//! layer around every service. The gRPC status of a call is in its
//! trailers (or, for an immediate error, in its headers), so the layer
//! watches the response body for them; a stream that ends without a status
//! (the client went away) counts as `Cancelled`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// The API's request metrics.
#[derive(Clone)]
pub struct ApiMetrics {
    requests: Family<CallLabels, Counter>,
    seconds: Family<MethodLabels, Histogram>,
}

impl ApiMetrics {
    /// Metrics registered in `registry` under `catalog_api_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
        };
        let r = registry.sub_registry_with_prefix("catalog_api");
        r.register(
            "requests",
            "gRPC calls by method and status code",
            m.requests.clone(),
        );
        r.register(
            "request_seconds",
            "gRPC call duration (until the status), by method",
            m.seconds.clone(),
        );
        m
    }

    fn record(&self, method: &str, code: tonic::Code, started: Instant) {
        let code = format!("{code:?}");
        self.requests
            .get_or_create(&CallLabels {
                method: method.to_string(),
                code,
            })
            .inc();
        self.seconds
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

fn status_in(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

/// The tower layer.
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Option<ApiMetrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Option<ApiMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service the layer wraps around the server's routes.
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Option<ApiMetrics>,
}

impl<S, ReqB, ResB> tower::Service<http::Request<ReqB>> for MetricsService<S>
where
    S: tower::Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body + Unpin + Send + 'static,
{
    type Response = http::Response<MeteredBody<ResB>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqB>) -> Self::Future {
        let method = request.uri().path().to_string();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let (parts, body) = response.into_parts();
            let mut watch = metrics.map(|m| Watch {
                metrics: m,
                method,
                started,
            });
            // Trailers-only responses carry the status in the headers.
            if let Some(code) = status_in(&parts.headers)
                && let Some(w) = watch.take()
            {
                w.metrics.record(&w.method, code, w.started);
            }
            Ok(http::Response::from_parts(
                parts,
                MeteredBody { inner: body, watch },
            ))
        })
    }
}

struct Watch {
    metrics: ApiMetrics,
    method: String,
    started: Instant,
}

/// A response body that records the call when its status goes by.
pub struct MeteredBody<B> {
    inner: B,
    watch: Option<Watch>,
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        if let Some(w) = self.watch.take() {
            w.metrics
                .record(&w.method, tonic::Code::Cancelled, w.started);
        }
    }
}

impl<B: Body + Unpin> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
            && let Some(code) = status_in(trailers)
            && let Some(w) = self.watch.take()
        {
            w.metrics.record(&w.method, code, w.started);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
