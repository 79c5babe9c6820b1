//! API errors and their gRPC status codes, in one place.

use tonic::{Code, Status};

/// Everything an RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
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
        Status::new(code, message)
    }
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
        if e.is_closed() || e.as_db_error().is_none() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}
