//! PostgreSQL connection pools.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

/// Longest wait for a TCP connection to PostgreSQL, and for a free pooled
/// connection: past it, callers get an error instead of hanging.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a pool could not be built.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL URL {url:?}: {message}")]
pub struct PoolError {
    pub url: String,
    pub message: String,
}

/// Builds a connection pool for a `postgres://` URL. Connections are opened
/// lazily, on first use.
pub fn connect_pool(url: &str, max_size: usize) -> Result<Pool, PoolError> {
    pool_with(url, max_size, None, None)
}

/// A pool for readers: every statement is cancelled by PostgreSQL after
/// `statement_timeout` (SQLSTATE 57014), so a query whose caller gave up
/// does not keep running.
pub fn connect_read_pool(
    url: &str,
    max_size: usize,
    statement_timeout: Duration,
) -> Result<Pool, PoolError> {
    pool_with(url, max_size, None, Some(statement_timeout))
}

/// A pool whose connections see only `schema` (their `search_path`), so that
/// the read model's unqualified table names resolve there. Used to build a
/// read model beside the live one. `schema` must be a plain lower-case
/// identifier.
pub fn connect_pool_in_schema(url: &str, max_size: usize, schema: &str) -> Result<Pool, PoolError> {
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(PoolError {
            url: redact(url),
            message: format!("schema {schema:?} is not a plain lower-case identifier"),
        });
    }
    pool_with(url, max_size, Some(schema), None)
}

fn pool_with(
    url: &str,
    max_size: usize,
    schema: Option<&str>,
    statement_timeout: Option<Duration>,
) -> Result<Pool, PoolError> {
    let mut pg: tokio_postgres::Config =
        url.parse().map_err(|e: tokio_postgres::Error| PoolError {
            url: redact(url),
            message: e.to_string(),
        })?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    let mut options = Vec::new();
    if let Some(schema) = schema {
        options.push(format!("-c search_path={schema}"));
    }
    if let Some(timeout) = statement_timeout {
        options.push(format!(
            "-c statement_timeout={}",
            timeout.as_millis().max(1)
        ));
    }
    if !options.is_empty() {
        pg.options(options.join(" "));
    }
    let manager = Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| PoolError {
            url: redact(url),
            message: e.to_string(),
        })
}

/// A PostgreSQL error with the server's message and SQLSTATE, which the
/// error's own `Display` ("db error") leaves out.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(": {detail}"));
            }
            text
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// A pool error, with the server's message when PostgreSQL refused.
pub fn describe_pool(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => {
            format!("connecting to PostgreSQL: {}", describe(e))
        }
        other => other.to_string(),
    }
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
