//! Load shedding: at most `api.max_concurrent_requests` calls run at once
//! (across all connections); a call beyond that is answered at once with
//! RESOURCE_EXHAUSTED rather than queued behind the others until every
//! caller times out. Health and reflection are never shed, so that an
//! overloaded server is not also taken for a dead one. A call holds its
//! slot until its response starts: a watch stream does not hold one while
//! it streams.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;

/// The layer; clones share the slots.
#[derive(Clone)]
pub struct ShedLayer {
    slots: Arc<Semaphore>,
    limit: usize,
}

impl ShedLayer {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            slots: Arc::clone(&self.slots),
            limit: self.limit,
        }
    }
}

/// The service the layer wraps around the server's routes.
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    slots: Arc<Semaphore>,
    limit: usize,
}

/// Paths never shed.
fn exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

impl<S, ReqB, ResB> tower::Service<http::Request<ReqB>> for Shed<S>
where
    S: tower::Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Default + Send + 'static,
{
    type Response = http::Response<ResB>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqB>) -> Self::Future {
        if exempt(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => {
                let future = self.inner.call(request);
                Box::pin(async move {
                    let response = future.await;
                    drop(slot);
                    response
                })
            }
            Err(_) => {
                let status = tonic::Status::resource_exhausted(format!(
                    "the catalog API is at its limit of {} concurrent calls \
                     (api.max_concurrent_requests); retry with backoff",
                    self.limit
                ));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
