//! Load shedding: at most `ui_bridge.max_concurrent_requests` requests are
//! handled at once; one beyond that is answered at once with 503 and
//! `Retry-After: 1` rather than queued until every client times out.
//! `/healthz` is never refused. A request holds its slot until its response
//! starts: a server-sent event stream does not hold one while it streams.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::rest::RestError;

/// The shared slots and their number.
#[derive(Clone)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
    limit: usize,
}

impl Slots {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

/// The middleware.
pub async fn shed(State(slots): State<Slots>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    match Arc::clone(&slots.semaphore).try_acquire_owned() {
        Ok(slot) => {
            let response = next.run(request).await;
            drop(slot);
            response
        }
        Err(_) => {
            let mut response = RestError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                name: "ServiceUnavailableError",
                message: format!(
                    "the bridge is at its limit of {} concurrent requests \
                     (ui_bridge.max_concurrent_requests); retry shortly",
                    slots.limit
                ),
                method: request.method().to_string(),
                url: request.uri().to_string(),
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
