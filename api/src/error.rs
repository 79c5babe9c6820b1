//! API errors and their gRPC status codes, in one place.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything an RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("read model unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let code = match &e {
            ApiError::InvalidArgument(_) => Code::InvalidArgument,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::DeadlineExceeded(_) => Code::DeadlineExceeded,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        };
        // Details of server-side failures go to the log, not to clients.
        let message = match &e {
            ApiError::Internal(_) => {
                tracing::error!(error = %e, "request failed");
                "internal error; see the API's log".to_string()
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %e, "request failed");
                e.to_string()
            }
            _ => e.to_string(),
        };
        match &e {
            // Client mistakes carry a google.rpc.BadRequest naming the field.
            ApiError::InvalidArgument(text) => Status::with_error_details(
                code,
                message,
                ErrorDetails::with_bad_request_violation(field_of(text), text.clone()),
            ),
            _ => Status::new(code, message),
        }
    }
}

/// The request field an INVALID_ARGUMENT message is about: by convention
/// every such message starts with the field's path (`filter.any_of[0].all_of[1].key`,
/// `page_size`, `entity_refs[3]`, `type/target`).
fn field_of(message: &str) -> String {
    message
        .split([' ', ':'])
        .next()
        .filter(|f| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]/".contains(c))
        })
        .unwrap_or("request")
        .to_string()
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
            return Self::Unavailable(
                "the read model has no schema yet; the projector creates it when it starts".into(),
            );
        }
        if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
            return Self::DeadlineExceeded(
                "the query ran longer than the API allows (api.statement_timeout_ms); narrow it"
                    .into(),
            );
        }
        if e.is_closed() || e.as_db_error().is_none() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_name_their_field_in_the_details() {
        let status: Status = ApiError::InvalidArgument(
            "filter.any_of[0].all_of[1].key \"relations.x\" names the unknown relation type".into(),
        )
        .into();
        let bad = status
            .get_details_bad_request()
            .expect("BadRequest details");
        assert_eq!(
            bad.field_violations[0].field,
            "filter.any_of[0].all_of[1].key"
        );
        assert!(
            bad.field_violations[0]
                .description
                .contains("unknown relation type")
        );
        assert_eq!(field_of("type/target: not a URL"), "type/target");
        assert_eq!(field_of("Something odd"), "Something");
        assert_eq!(field_of("\"x\" is bad"), "request");
    }
}
