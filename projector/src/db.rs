//! PostgreSQL connection pools.
//!
//! TLS follows libpq's URL parameters: `sslmode=require` (or `verify-ca`,
//! `verify-full`) encrypts every connection and always verifies the
//! server's certificate and host name, against the system's roots plus
//! the CA file in `sslrootcert=/path/ca.pem` when given. `disable` and
//! `prefer` (the default) connect without TLS.

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
    let (mut pg, tls) = parse_url(url)?;
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
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls {
        Some(tls) => Manager::from_config(pg, tls, manager_config),
        None => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
    };
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

/// Parses a connection URL (or `key=value` string), taking out the
/// parameters tokio-postgres does not know (`sslrootcert`, and the
/// `verify-*` SSL modes), and builds the TLS connector it asks for.
fn parse_url(
    url: &str,
) -> Result<
    (
        tokio_postgres::Config,
        Option<tokio_postgres_rustls::MakeRustlsConnect>,
    ),
    PoolError,
> {
    let fail = |message: String| PoolError {
        url: redact(url),
        message,
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) if url.contains("://") => (base, query),
        _ => (url, ""),
    };
    let mut root_cert = None;
    let mut verify = false;
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("sslrootcert", path) => root_cert = Some(path.to_string()),
            ("sslmode", "verify-ca" | "verify-full") => {
                verify = true;
                kept.append_pair("sslmode", "require");
            }
            (key, value) => {
                kept.append_pair(key, value);
            }
        }
    }
    let kept = kept.finish();
    let rebuilt = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{kept}")
    };
    let pg: tokio_postgres::Config = rebuilt
        .parse()
        .map_err(|e: tokio_postgres::Error| fail(e.to_string()))?;
    let tls = verify || pg.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
    if !tls {
        if root_cert.is_some() {
            return Err(fail(
                "sslrootcert is set but TLS is not: add sslmode=require".into(),
            ));
        }
        return Ok((pg, None));
    }
    let connector = tls_connector(root_cert.as_deref()).map_err(fail)?;
    Ok((pg, Some(connector)))
}

/// A rustls connector trusting the system's roots and `root_cert`.
fn tls_connector(
    root_cert: Option<&str>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped; a configured CA file
    // must load.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = root_cert {
        let mut added = 0;
        for cert in
            CertificateDer::pem_file_iter(path).map_err(|e| format!("sslrootcert {path}: {e}"))?
        {
            let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("sslrootcert {path}: no PEM certificate in it"));
        }
    }
    if roots.is_empty() {
        return Err(
            "sslmode=require: no trusted root certificates (none in the system store; \
             give the server's CA with sslrootcert=/path/ca.pem)"
                .into(),
        );
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
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
