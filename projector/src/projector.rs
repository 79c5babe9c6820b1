//! The consumer loop: pull a batch, apply it with its checkpoint in one
//! transaction, then acknowledge.
//!
//! The checkpoint in PostgreSQL, not the consumer's ack state, is the
//! authority on what was applied. At start-up and after any failure the
//! durable consumer is recreated to deliver from `checkpoint + 1`, so an
//! interrupted batch is simply delivered again, and nothing already committed
//! is applied twice (anything at or below the checkpoint is skipped anyway).

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use catalog_eventlog::{EventLog, decode_event};
use catalog_model::subject;
use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::apply::{ApplyOutcome, BatchItem, apply_batch, read_checkpoint};
use crate::config::ProjectorConfig;
use crate::schema::{self, SchemaError};

/// Pause before retrying after a failure.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long the server waits for an ack before redelivering.
const ACK_WAIT: Duration = Duration::from_secs(60);

/// Failures of the projector.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("NATS: {0}")]
    Nats(String),
}

fn nats(context: &str) -> impl Fn(String) -> ProjectorError + '_ {
    move |e| ProjectorError::Nats(format!("{context}: {e}"))
}

/// Maintains the read models from the event log.
pub struct Projector {
    config: ProjectorConfig,
    log: EventLog,
    pool: Pool,
}

impl Projector {
    pub fn new(config: ProjectorConfig, log: EventLog, pool: Pool) -> Self {
        Self { config, log, pool }
    }

    /// Migrates the schema, then projects until `shutdown` is cancelled.
    /// A batch in progress at shutdown is either committed and acknowledged,
    /// or abandoned whole (and delivered again on the next start).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        schema::migrate(&self.pool).await?;
        while !shutdown.is_cancelled() {
            match self.consume(&shutdown).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, "projection interrupted; resuming from the checkpoint");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(RETRY_DELAY) => {}
                    }
                }
            }
        }
        Ok(())
    }

    async fn checkpoint(&self) -> Result<u64, ProjectorError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| ProjectorError::Postgres(e.to_string()))?;
        read_checkpoint(&**client, &self.config.consumer)
            .await
            .map_err(|e| ProjectorError::Postgres(e.to_string()))
    }

    /// Recreates the durable consumer positioned just after the checkpoint.
    async fn consumer(&self, checkpoint: u64) -> Result<PullConsumer, ProjectorError> {
        let stream = self
            .log
            .stream()
            .await
            .map_err(|e| ProjectorError::Nats(e.to_string()))?;
        let name = &self.config.consumer;
        // Not found is fine: the consumer may not exist yet.
        let _ = stream.delete_consumer(name).await;
        stream
            .create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                // A single filter subject: `filter_subjects` is ignored by
                // servers older than 2.10.
                filter_subject: subject::entity_wildcard(self.log.prefix()),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: checkpoint + 1,
                },
                ack_policy: AckPolicy::All,
                ack_wait: ACK_WAIT,
                max_ack_pending: i64::try_from(self.config.batch_size() * 2).unwrap_or(i64::MAX),
                ..Default::default()
            })
            .await
            .map_err(|e| nats("creating consumer")(e.to_string()))
    }

    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        let checkpoint = self.checkpoint().await?;
        let consumer = self.consumer(checkpoint).await?;
        tracing::info!(consumer = %self.config.consumer, checkpoint, "projecting");
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                batch = self.next_batch(&consumer) => batch?,
            };
            let Some(last) = batch.last().map(|(_, m)| m.clone()) else {
                continue;
            };
            let items: Vec<BatchItem> = batch.into_iter().map(|(item, _)| item).collect();
            let started = std::time::Instant::now();
            let outcome = self.apply(items).await?;
            tracing::debug!(
                apply_ms = started.elapsed().as_millis() as u64,
                applied = outcome.applied,
                skipped = outcome.skipped,
                dead = outcome.dead,
                checkpoint = outcome.checkpoint,
                "applied batch"
            );
            // AckPolicy::All: acknowledging the last message acknowledges the batch.
            last.double_ack()
                .await
                .map_err(|e| nats("acknowledging batch")(e.to_string()))?;
        }
    }

    async fn apply(&self, items: Vec<BatchItem>) -> Result<ApplyOutcome, ProjectorError> {
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| ProjectorError::Postgres(e.to_string()))?;
        apply_batch(&mut client, &self.config.consumer, items)
            .await
            .map_err(|e| ProjectorError::Postgres(format!("applying batch: {e}")))
    }

    /// Pulls up to `batch_size` messages, waiting at most `batch_wait`.
    async fn next_batch(
        &self,
        consumer: &PullConsumer,
    ) -> Result<Vec<(BatchItem, async_nats::jetstream::Message)>, ProjectorError> {
        let mut messages = consumer
            .batch()
            .max_messages(self.config.batch_size())
            .expires(self.config.batch_wait())
            .messages()
            .await
            .map_err(|e| nats("pulling batch")(e.to_string()))?;
        let mut batch = Vec::new();
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| nats("receiving message")(e.to_string()))?;
            let sequence = message
                .info()
                .map_err(|e| nats("reading message metadata")(e.to_string()))?
                .stream_sequence;
            let subject = message.subject.to_string();
            let item = match decode_event(self.log.prefix(), &subject, &message.payload, sequence) {
                Ok(event) => BatchItem::Event(event),
                Err(reason) => BatchItem::Dead {
                    sequence,
                    subject,
                    reason: reason.to_string(),
                    payload: message.payload.to_vec(),
                },
            };
            batch.push((item, message));
        }
        Ok(batch)
    }
}
