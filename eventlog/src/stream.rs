//! Connecting to NATS and creating (or updating) the event stream.

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
    #[error("connecting to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
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
        let mut options = async_nats::ConnectOptions::new();
        if let Some(path) = &config.creds_file {
            options = async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| {
                    EventLogError::Config(format!("nats.creds_file {}: {e}", path.display()))
                })?;
        }
        if let Some(token) = &config.token {
            options = options.token(token.clone());
        }
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
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
            .map_err(|source| EventLogError::Connect {
                url: config.url.clone(),
                source,
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
        log.ensure_stream().await?;
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
