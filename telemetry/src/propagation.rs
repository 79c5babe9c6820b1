//! The W3C trace context (`traceparent`, `tracestate`) in NATS message
//! headers and HTTP headers.
//!
//! Ingest publishes each event with the context of the span that published
//! it; the projector continues that trace with a span per event it applies.
//! A span that is not recorded by the OpenTelemetry layer (no subscriber
//! installed, as in tests and benchmarks) has no valid context, and then no
//! header is written.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace context of a span, ready to be attached to any number of
/// messages (computed once per batch, not once per message).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeaders(Vec<(String, String)>);

struct FieldsInjector<'a>(&'a mut Vec<(String, String)>);

impl Injector for FieldsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

impl TraceHeaders {
    /// The context of the current span; empty when it has none.
    pub fn current() -> Self {
        Self::of(&tracing::Span::current())
    }

    /// The context of `span`; empty when it has none.
    pub fn of(span: &tracing::Span) -> Self {
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return Self::default();
        }
        let mut fields = Vec::new();
        TraceContextPropagator::new().inject_context(&cx, &mut FieldsInjector(&mut fields));
        Self(fields)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets the headers on a NATS message.
    pub fn apply_nats(&self, headers: &mut async_nats::HeaderMap) {
        for (name, value) in &self.0 {
            headers.insert(name.as_str(), value.as_str());
        }
    }

    /// Sets the headers on an HTTP (or gRPC) request.
    pub fn apply_http(&self, headers: &mut http::HeaderMap) {
        for (name, value) in &self.0 {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
    }
}

struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

struct HttpExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HttpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

fn valid(cx: Context) -> Option<Context> {
    cx.span().span_context().is_valid().then_some(cx)
}

/// The sampled trace a NATS message belongs to, if it carries one. An
/// unsampled or malformed `traceparent` is ignored.
pub fn nats_parent(headers: Option<&async_nats::HeaderMap>) -> Option<Context> {
    let cx = TraceContextPropagator::new().extract(&NatsExtractor(headers?));
    valid(cx).filter(|cx| cx.span().span_context().is_sampled())
}

/// The trace an HTTP request belongs to, if it carries a valid
/// `traceparent`.
pub fn http_parent(headers: &http::HeaderMap) -> Option<Context> {
    valid(TraceContextPropagator::new().extract(&HttpExtractor(headers)))
}

/// Makes `span` a child of the remote `parent` (before it is entered).
pub fn set_parent(span: &tracing::Span, parent: Context) {
    // Fails only when the span is disabled or already started; either way
    // it simply stays where it is.
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn context_round_trips_through_nats_and_http_headers() {
        let mut http_headers = http::HeaderMap::new();
        http_headers.insert("traceparent", PARENT.parse().unwrap());
        let cx = http_parent(&http_headers).unwrap();
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let mut fields = Vec::new();
        TraceContextPropagator::new().inject_context(&cx, &mut FieldsInjector(&mut fields));
        let headers = TraceHeaders(fields);
        let mut nats = async_nats::HeaderMap::new();
        headers.apply_nats(&mut nats);
        assert_eq!(nats.get("traceparent").map(|v| v.as_str()), Some(PARENT));
        let back = nats_parent(Some(&nats)).unwrap();
        assert_eq!(
            back.span().span_context().span_id(),
            cx.span().span_context().span_id()
        );
    }

    #[test]
    fn missing_malformed_and_unsampled_contexts_are_ignored() {
        assert!(nats_parent(None).is_none());
        let mut nats = async_nats::HeaderMap::new();
        assert!(nats_parent(Some(&nats)).is_none());
        nats.insert("traceparent", "00-not-a-trace-01");
        assert!(nats_parent(Some(&nats)).is_none());
        nats.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        );
        assert!(nats_parent(Some(&nats)).is_none());
        let mut http_headers = http::HeaderMap::new();
        http_headers.insert("traceparent", "garbage".parse().unwrap());
        assert!(http_parent(&http_headers).is_none());
        // Outside any span there is nothing to propagate.
        assert!(TraceHeaders::current().is_empty());
    }
}
