//! Backstage's catalog REST conventions: the `filter` query syntax and the
//! error body.
//!
//! `?filter=a=b,c=d&filter=e`: repeated `filter` parameters are OR-ed; the
//! comma-separated conditions inside one are AND-ed; the same key repeated
//! inside one parameter matches any of its values; a key without `=` means
//! "exists" (Backstage's `parseEntityFilterParams`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog_proto::v1 as pb;
use serde_json::{Value, json};

pub mod entities;
pub mod extras;
pub mod locations;
pub mod predicate;

/// A REST error in Backstage's body shape.
#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    pub name: &'static str,
    pub message: String,
    pub method: String,
    pub url: String,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {"name": self.name, "message": self.message},
            "request": {"method": self.method, "url": self.url},
            "response": {"statusCode": self.status.as_u16()},
        });
        (self.status, Json(body)).into_response()
    }
}

/// A request's query string as decoded `(key, value)` pairs, in order.
pub fn query_pairs(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The filter of a body's optional predicate `query` (everything without one).
pub fn predicate_filter(req: &Req, query: Option<&Value>) -> Result<pb::EntityFilter, RestError> {
    match query {
        Some(q) => predicate::to_filter(q).map_err(|m| req.bad_request(m)),
        None => Ok(pb::EntityFilter::default()),
    }
}

/// The request an error is about (for Backstage's error body).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: axum::http::Method,
    pub uri: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Req {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        // Nested routers see a shortened URI; the original is the one asked for.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.to_string(), |u| u.0.to_string());
        Ok(Self {
            method: parts.method.clone(),
            uri,
        })
    }
}

impl Req {
    /// An error about this request.
    pub fn error(&self, status: StatusCode, message: impl Into<String>) -> RestError {
        RestError {
            status,
            name: error_name(status),
            message: message.into(),
            method: self.method.to_string(),
            url: self.uri.clone(),
        }
    }

    /// A 400 `InputError`.
    pub fn bad_request(&self, message: impl Into<String>) -> RestError {
        self.error(StatusCode::BAD_REQUEST, message)
    }

    /// The error for a JSON body that could not be read: 413 when it is
    /// too large, 415 without a JSON content type, else 400.
    pub fn invalid_body(&self, e: &axum::extract::rejection::JsonRejection) -> RestError {
        let status = match e.status() {
            s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
            _ => StatusCode::BAD_REQUEST,
        };
        self.error(status, format!("invalid body: {e}"))
    }

    /// The REST error for a gRPC status from the API.
    pub fn grpc_error(&self, s: tonic::Status) -> RestError {
        self.error(status_for(s.code()), s.message().to_string())
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            method: axum::http::Method::GET,
            uri: "/test".into(),
        }
    }
}

/// The error name Backstage uses for a status.
pub fn error_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "InputError",
        StatusCode::NOT_FOUND => "NotFoundError",
        StatusCode::CONFLICT => "ConflictError",
        StatusCode::UNAUTHORIZED => "AuthenticationError",
        StatusCode::FORBIDDEN => "NotAllowedError",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLargeError",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableError",
        StatusCode::GATEWAY_TIMEOUT => "TimeoutError",
        _ => "Error",
    }
}

/// The HTTP status for a gRPC status.
pub fn status_for(code: tonic::Code) -> StatusCode {
    match code {
        tonic::Code::InvalidArgument
        | tonic::Code::OutOfRange
        | tonic::Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        tonic::Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Parses the values of the `filter` parameters into the wire filter.
pub fn parse_filters(params: &[String]) -> Result<pb::EntityFilter, String> {
    let mut any_of = Vec::new();
    for param in params {
        let mut all_of: Vec<pb::FilterCondition> = Vec::new();
        for part in param.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (part, None),
            };
            if key.is_empty() {
                return Err(format!(
                    "invalid filter {param:?}: condition {part:?} has no key"
                ));
            }
            let key = key.to_lowercase();
            match all_of.iter_mut().find(|c| c.key == key) {
                Some(existing) => existing.values.extend(value.map(str::to_string)),
                None => all_of.push(pb::FilterCondition {
                    key,
                    values: value.map(str::to_string).into_iter().collect(),
                    ..Default::default()
                }),
            }
        }
        if !all_of.is_empty() {
            any_of.push(pb::FilterClause { all_of });
        }
    }
    Ok(pb::EntityFilter { any_of })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_backstage_semantics() {
        let f = parse_filters(&[
            "kind=component,spec.type=service".into(),
            "kind=API,kind=group".into(),
            "metadata.tags".into(),
        ])
        .unwrap();
        assert_eq!(f.any_of.len(), 3);
        assert_eq!(f.any_of[0].all_of.len(), 2);
        assert_eq!(f.any_of[0].all_of[1].key, "spec.type");
        assert_eq!(f.any_of[1].all_of.len(), 1);
        assert_eq!(f.any_of[1].all_of[0].values, vec!["API", "group"]);
        assert!(f.any_of[2].all_of[0].values.is_empty());
        assert!(parse_filters(&["=x".into()]).is_err());
    }
}
