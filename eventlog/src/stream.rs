//! Connecting to NATS and creating (or updating) the event stream; with
//! `nats.manage_streams` off, binding to it as it is.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use catalog_model::subject;

use crate::config::EventLogConfig;

/// How long JetStream remembers a `Nats-Msg-Id` for de-duplication.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Attempts at creating or updating the stream.
const STREAM_CREATE_ATTEMPTS: u64 = 4;
/// Largest event accepted by the stream, in bytes.
pub const MAX_EVENT_BYTES: i32 = 1 << 20;

/// Failures reaching or preparing the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("invalid event log configuration: {0}")]
    Config(String),
    #[error("connecting to NATS at {url}{tls}: {source}")]
    Connect {
        url: String,
        /// The TLS settings in use (` with TLS (...)`), or empty.
        tls: String,
        #[source]
        source: async_nats::ConnectError,
    },
    /// The server refused the connection's credentials (or their absence).
    #[error(
        "connecting to NATS at {url}: authentication failed: the server refused {credentials} \
         ({source}); check nats.user/nats.password, nats.token, nats.nkey_seed_file or \
         nats.creds_file"
    )]
    Authentication {
        url: String,
        /// Which credentials were offered (never the secret).
        credentials: String,
        #[source]
        source: async_nats::ConnectError,
    },
    /// With `nats.manage_streams` off, a stream this process binds to is
    /// missing or configured so that the catalog cannot work with it.
    #[error("JetStream stream {stream}: {problem}")]
    Unusable { stream: String, problem: String },
    #[error("creating or updating JetStream stream {stream}: {source}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    #[error("{context}: {message}")]
    Nats { context: String, message: String },
}

/// A connection to the event log, with its stream ready.
#[derive(Clone)]
pub struct EventLog {
    client: async_nats::Client,
    js: jetstream::Context,
    config: EventLogConfig,
}

impl EventLog {
    /// Connects to NATS and creates the stream, or updates it to the
    /// expected configuration. Works with nats-server 2.9 and newer: no
    /// stream field newer than 2.9 is set.
    pub async fn connect(config: EventLogConfig, client_name: &str) -> Result<Self, EventLogError> {
        subject::validate_prefix(&config.subject_prefix)
            .map_err(|e| EventLogError::Config(e.to_string()))?;
        config.validate().map_err(EventLogError::Config)?;
        let options = connect_options(&config).await?;
        // A comma-separated list names several servers of one cluster.
        let servers = config
            .url
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EventLogError::Config(format!("nats.url {:?}: {e}", config.url)))?;
        let client = options
            .name(client_name)
            .connection_timeout(Duration::from_secs(5))
            .connect(servers)
            .await
            .map_err(|source| match source.kind() {
                async_nats::ConnectErrorKind::AuthorizationViolation
                | async_nats::ConnectErrorKind::Authentication => EventLogError::Authentication {
                    url: config.url.clone(),
                    credentials: config.credentials(),
                    source,
                },
                _ => EventLogError::Connect {
                    url: config.url.clone(),
                    tls: config.tls_settings(),
                    source,
                },
            })?;
        let version = client.server_info().version;
        tracing::info!(server = %config.url, %version, stream = %config.stream, "connected to NATS");
        if version.starts_with("2.9.") || version.starts_with("2.8.") {
            tracing::warn!(
                %version,
                "this NATS server cannot fsync before acknowledging; use >= 2.12.3 with \
                 `jetstream {{ sync_interval: always }}` in production"
            );
        }
        let js = jetstream::new(client.clone());
        let log = Self { client, js, config };
        if log.config.manage_streams {
            log.ensure_stream().await?;
        } else {
            log.check_stream().await?;
        }
        Ok(log)
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![format!("{}.>", self.config.subject_prefix)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            // The log is the system of record: nothing ages out.
            max_age: Duration::ZERO,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_subject: -1,
            max_message_size: MAX_EVENT_BYTES,
            duplicate_window: DUPLICATE_WINDOW,
            // History is never rewritten: no message deletion, no purge.
            deny_delete: true,
            deny_purge: true,
            allow_rollup: false,
            allow_direct: true,
            num_replicas: self.config.replicas,
            ..Default::default()
        }
    }

    /// With `nats.manage_streams` off: the stream must exist and capture
    /// the prefix; other differences from the expected configuration are
    /// reported, not corrected (only a user allowed to update the stream can).
    async fn check_stream(&self) -> Result<(), EventLogError> {
        let stream = &self.config.stream;
        let mut handle = self
            .js
            .get_stream(stream)
            .await
            .map_err(|e| EventLogError::Unusable {
                stream: stream.clone(),
                problem: describe_get_stream_error(&e, stream),
            })?;
        let actual = handle
            .info()
            .await
            .map_err(|e| EventLogError::Unusable {
                stream: stream.clone(),
                problem: format!("reading its configuration: {e}"),
            })?
            .config
            .clone();
        let expected = self.stream_config();
        let wanted = format!("{}.>", self.config.subject_prefix);
        if !actual.subjects.contains(&wanted) {
            return Err(EventLogError::Unusable {
                stream: stream.clone(),
                problem: format!(
                    "captures {:?}, not {wanted}: nats.subject_prefix does not match the stream",
                    actual.subjects
                ),
            });
        }
        let differences = stream_differences(&expected, &actual);
        if !differences.is_empty() {
            tracing::warn!(
                %stream,
                differences = %differences.join(", "),
                "the stream's configuration differs from the expected one; run `catalog init-streams` \
                 to update it"
            );
        }
        Ok(())
    }

    async fn ensure_stream(&self) -> Result<(), EventLogError> {
        // The server can fail a creation transiently (nats-server 2.9 may
        // race a stream's storage directory against another stream's
        // deletion): retry a few times before giving up.
        let mut attempt = 1;
        loop {
            match self.js.create_or_update_stream(self.stream_config()).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < STREAM_CREATE_ATTEMPTS => {
                    tracing::warn!(stream = %self.config.stream, error = %e, attempt, "creating the stream failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    attempt += 1;
                }
                Err(source) => {
                    return Err(EventLogError::Stream {
                        stream: self.config.stream.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The plain NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The configuration this log was opened with.
    pub fn config(&self) -> &EventLogConfig {
        &self.config
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.config.subject_prefix
    }

    /// The stream handle.
    pub async fn stream(&self) -> Result<stream::Stream, EventLogError> {
        self.js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| EventLogError::Nats {
                context: format!("getting stream {}", self.config.stream),
                message: e.to_string(),
            })
    }

    /// The stream's last sequence (0 when empty).
    pub async fn last_sequence(&self) -> Result<u64, EventLogError> {
        let mut stream = self.stream().await?;
        let info = stream.info().await.map_err(|e| EventLogError::Nats {
            context: format!("reading info of stream {}", self.config.stream),
            message: e.to_string(),
        })?;
        Ok(info.state.last_sequence)
    }
}

/// The client options for `config`: credentials and TLS.
async fn connect_options(
    config: &EventLogConfig,
) -> Result<async_nats::ConnectOptions, EventLogError> {
    let mut options = async_nats::ConnectOptions::new();
    if let Some(path) = &config.creds_file {
        options = async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| {
                EventLogError::Config(format!("nats.creds_file {}: {e}", path.display()))
            })?;
    }
    if let Some(path) = &config.nkey_seed_file {
        let seed = tokio::fs::read_to_string(path).await.map_err(|e| {
            EventLogError::Config(format!("nats.nkey_seed_file {}: {e}", path.display()))
        })?;
        let seed = seed.trim();
        // A user seed: `S` (seed) then `U` (user); anything else cannot sign
        // a user's connection.
        if !seed.starts_with("SU") {
            return Err(EventLogError::Config(format!(
                "nats.nkey_seed_file {}: not an NKey user seed (one line starting with SU)",
                path.display()
            )));
        }
        options = options.nkey(seed.to_string());
    }
    if let Some(token) = &config.token {
        options = options.token(token.expose().to_string());
    }
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        options = options.user_and_password(user.clone(), password.expose().to_string());
    }
    if let Some(path) = &config.tls_ca_file {
        // async-nats reads the file only while connecting, and then names
        // neither the key nor the file: check it here.
        check_readable(path, "nats.tls_ca_file").await?;
        options = options.add_root_certificates(path.clone());
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
        check_readable(cert, "nats.tls_cert_file").await?;
        check_readable(key, "nats.tls_key_file").await?;
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls_required {
        options = options.require_tls(true);
    }
    Ok(options)
}

async fn check_readable(path: &std::path::Path, key: &str) -> Result<(), EventLogError> {
    tokio::fs::metadata(path)
        .await
        .map(|_| ())
        .map_err(|e| EventLogError::Config(format!("{key} {}: {e}", path.display())))
}

/// Why a stream could not be bound to, with what to do about it.
pub fn describe_get_stream_error(e: &jetstream::context::GetStreamError, stream: &str) -> String {
    use jetstream::context::GetStreamErrorKind;
    match e.kind() {
        GetStreamErrorKind::JetStream(js)
            if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
        {
            "does not exist; nats.manage_streams is false, so this process does not create \
             it: run `catalog init-streams` as a NATS user allowed to create streams"
                .to_string()
        }
        // A request the user may not publish is dropped by the server
        // without an answer: it looks like a timeout.
        GetStreamErrorKind::Request => format!(
            "reading its configuration: {e} (if the server is up, the NATS user may lack \
             permission to publish to $JS.API.STREAM.INFO.{stream})"
        ),
        _ => format!("reading its configuration: {e}"),
    }
}

/// The settings in which `actual` differs from `expected`, as
/// `name: actual (expected ...)`.
fn stream_differences(expected: &stream::Config, actual: &stream::Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut compare = |name: &str, actual: String, expected: String| {
        if actual != expected {
            out.push(format!("{name}: {actual} (expected {expected})"));
        }
    };
    compare(
        "deny_delete",
        actual.deny_delete.to_string(),
        expected.deny_delete.to_string(),
    );
    compare(
        "deny_purge",
        actual.deny_purge.to_string(),
        expected.deny_purge.to_string(),
    );
    compare(
        "allow_rollup",
        actual.allow_rollup.to_string(),
        expected.allow_rollup.to_string(),
    );
    compare(
        "max_message_size",
        actual.max_message_size.to_string(),
        expected.max_message_size.to_string(),
    );
    compare(
        "duplicate_window",
        format!("{:?}", actual.duplicate_window),
        format!("{:?}", expected.duplicate_window),
    );
    compare(
        "max_age",
        format!("{:?}", actual.max_age),
        format!("{:?}", expected.max_age),
    );
    compare(
        "num_replicas",
        actual.num_replicas.to_string(),
        expected.num_replicas.to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_from_the_expected_stream_are_named() {
        let log_config = EventLogConfig::default();
        let expected = stream::Config {
            name: log_config.stream.clone(),
            deny_delete: true,
            deny_purge: true,
            max_message_size: MAX_EVENT_BYTES,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: 1,
            ..Default::default()
        };
        assert!(stream_differences(&expected, &expected).is_empty());
        let actual = stream::Config {
            deny_purge: false,
            duplicate_window: Duration::from_secs(60),
            ..expected.clone()
        };
        assert_eq!(
            stream_differences(&expected, &actual),
            [
                "deny_purge: false (expected true)",
                "duplicate_window: 60s (expected 120s)"
            ]
        );
    }
}
