//! The consumer loop: pull a batch, apply it with its checkpoint in one
//! transaction, then acknowledge.
//!
//! The checkpoint in PostgreSQL, not the consumer's ack state, is the
//! authority on what was applied. At start-up and after any failure the
//! durable consumer is recreated to deliver from `checkpoint + 1`, so an
//! interrupted batch is simply delivered again, and nothing already committed
//! is applied twice (anything at or below the checkpoint is skipped anyway).
//!
//! Messages arrive on one long-lived pull subscription and are grouped into
//! batches of up to `batch_size`, waiting at most `batch_wait` after the
//! first, and not at all once a delivery reports nothing more pending (so
//! that at idle an event is applied as soon as it arrives). Deliveries carry a gapless consumer sequence; a gap (a delivery
//! lost on the way) restarts consumption from the checkpoint rather than
//! letting the checkpoint move past an event that was never applied.
//!
//! Scale-out: the log's subjects are split into `partitions` by a hash of
//! the subject ([`crate::config::partition_of`]), so every event of one
//! entity falls in one partition and keeps its order. Each partition has its
//! own durable consumer and checkpoint; an instance runs one worker per
//! partition it owns. NATS 2.9 cannot filter a consumer by hash, so every
//! partition's consumer receives the whole stream and skips, undecoded, the
//! messages of other partitions (they only move its checkpoint).
//!
//! Poison messages (undecodable, invalid, or refused by PostgreSQL) are
//! published to the dead-letter subject ([`catalog_eventlog::deadletter`])
//! before the batch that skips them commits, recorded in `dead_letters`, and
//! counted; they never stop the stream.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::pull::MessagesError;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use catalog_eventlog::checkpoint::checkpoint_subject;
use catalog_eventlog::location::is_location_subject;
use catalog_eventlog::{
    DeadLetter, EventLog, decode_event, decode_location_event, encode_event,
    ensure_dead_letter_stream, publish_dead_letters,
};
use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use tracing::Instrument as _;

use crate::apply::{ApplyOutcome, BatchItem, apply_batch, read_checkpoint};
use crate::config::{ProjectorConfig, partition_of};
use crate::metrics::ProjectorMetrics;
use crate::schema::{self, SchemaError};
use crate::upkeep::IndexUpkeep;

/// Pause before retrying after a failure; doubled after each failure in a
/// row, up to [`MAX_RETRY_DELAY`].
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest pause between retries (also: a worker that ran this long before
/// failing starts again from [`RETRY_DELAY`]).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);
/// How long the server waits for an ack before redelivering.
const ACK_WAIT: Duration = Duration::from_secs(60);
/// Lifetime of one pull request of the long-lived subscription.
const PULL_EXPIRES: Duration = Duration::from_secs(30);
/// Idle heartbeat the server sends on an open pull request.
const PULL_HEARTBEAT: Duration = Duration::from_secs(10);
/// How often the stream's last sequence is read for the lag metric.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// Attempts at a batch that PostgreSQL aborted for a deadlock or a
/// serialisation failure (partitions writing the same entity).
const CONFLICT_ATTEMPTS: usize = 5;

/// Failures of the projector.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn nats(context: &str) -> impl Fn(String) -> ProjectorError + '_ {
    move |e| ProjectorError::Nats(format!("{context}: {e}"))
}

/// Maintains the read models from the event log.
pub struct Projector {
    config: ProjectorConfig,
    log: EventLog,
    pool: Pool,
    metrics: ProjectorMetrics,
    /// Prefix of the NATS consumer names (the checkpoint keys stay the
    /// configured ones); a rebuild uses its own.
    consumer_prefix: Option<String>,
    /// Told of every batch that wrote; merges the GIN pending lists after.
    upkeep: IndexUpkeep,
}

impl Projector {
    pub fn new(config: ProjectorConfig, log: EventLog, pool: Pool) -> Self {
        Self {
            config,
            log,
            pool,
            metrics: ProjectorMetrics::default(),
            consumer_prefix: None,
            upkeep: IndexUpkeep::default(),
        }
    }

    /// Reports into `metrics` (registered by the caller).
    pub fn with_metrics(mut self, metrics: ProjectorMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Uses NATS consumers named `<prefix>-<checkpoint key>`, leaving the
    /// configured consumers alone (for a rebuild running beside them).
    pub fn with_consumer_prefix(mut self, prefix: &str) -> Self {
        self.consumer_prefix = Some(prefix.to_string());
        self
    }

    /// Migrates the schema, then projects every owned partition until
    /// `shutdown` is cancelled. A batch in progress at shutdown is either
    /// committed and acknowledged, or abandoned whole (and delivered again on
    /// the next start).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        self.config.validate().map_err(ProjectorError::Config)?;
        schema::migrate(&self.pool).await?;
        if self.config.dead_letter_subject {
            ensure_dead_letter_stream(&self.log)
                .await
                .map_err(|e| ProjectorError::Nats(e.to_string()))?;
        }
        let this = Arc::new(self);
        let mut tasks = JoinSet::new();
        for partition in this.config.owned() {
            let worker = Worker {
                projector: this.clone(),
                partition,
                name: this.config.partition_name(partition),
            };
            tasks.spawn(worker.run(shutdown.clone()));
        }
        tasks.spawn(this.clone().track_stream(shutdown.clone()));
        let upkeeper = this.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let (pool, metrics) = (upkeeper.pool.clone(), upkeeper.metrics.clone());
            upkeeper.upkeep.run(pool, metrics, stop).await;
            Ok(())
        });
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::error!(error = %e, "projector task failed");
            }
        }
        // Every batch is committed or abandoned: what they wrote is merged.
        this.upkeep.finish(&this.pool, &this.metrics).await;
        Ok(())
    }

    /// Keeps the stream's last sequence (and so the lag) current.
    async fn track_stream(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> Result<(), ProjectorError> {
        let names: Vec<String> = self
            .config
            .owned()
            .into_iter()
            .map(|p| self.config.partition_name(p))
            .collect();
        loop {
            match self.log.last_sequence().await {
                Ok(last) => self.metrics.set_stream_last_sequence(&names, last),
                Err(e) => tracing::debug!(error = %e, "reading the stream's last sequence"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(LAG_INTERVAL) => {}
            }
        }
    }
}

/// Applies one partition.
struct Worker {
    projector: Arc<Projector>,
    partition: u32,
    /// Checkpoint key (and, without a consumer prefix, consumer name).
    name: String,
}

impl Worker {
    async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let mut delay = RETRY_DELAY;
        while !shutdown.is_cancelled() {
            let started = tokio::time::Instant::now();
            match self.consume(&shutdown).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    // Backoff while the servers stay unreachable; a worker
                    // that had been running a while starts over.
                    if started.elapsed() >= MAX_RETRY_DELAY {
                        delay = RETRY_DELAY;
                    }
                    tracing::error!(partition = %self.name, error = %e, retry_in = ?delay, "projection interrupted; resuming from the checkpoint");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
        Ok(())
    }

    fn config(&self) -> &ProjectorConfig {
        &self.projector.config
    }

    fn log(&self) -> &EventLog {
        &self.projector.log
    }

    async fn checkpoint(&self) -> Result<u64, ProjectorError> {
        let client = self
            .projector
            .pool
            .get()
            .await
            .map_err(|e| ProjectorError::Postgres(crate::db::describe_pool(&e)))?;
        read_checkpoint(&**client, &self.name)
            .await
            .map_err(|e| ProjectorError::Postgres(crate::db::describe(&e)))
    }

    /// Recreates the durable consumer positioned just after the checkpoint.
    async fn consumer(&self, checkpoint: u64) -> Result<PullConsumer, ProjectorError> {
        let stream = self
            .log()
            .stream()
            .await
            .map_err(|e| ProjectorError::Nats(e.to_string()))?;
        let name = &match &self.projector.consumer_prefix {
            Some(prefix) => format!("{prefix}-{}", self.name),
            None => self.name.clone(),
        };
        // Not found is fine: the consumer may not exist yet.
        let _ = stream.delete_consumer(name).await;
        stream
            .create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                // A single filter subject: `filter_subjects` is ignored by
                // servers older than 2.10.
                // Everything under the prefix: entity and location events.
                filter_subject: format!("{}.>", self.log().prefix()),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: checkpoint + 1,
                },
                ack_policy: AckPolicy::All,
                ack_wait: ACK_WAIT,
                max_ack_pending: i64::try_from(self.config().batch_size() * 2).unwrap_or(i64::MAX),
                ..Default::default()
            })
            .await
            .map_err(|e| nats("creating consumer")(e.to_string()))
    }

    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        let checkpoint = self.checkpoint().await?;
        let consumer = self.consumer(checkpoint).await?;
        tracing::info!(partition = %self.name, checkpoint, "projecting");
        self.projector
            .metrics
            .set_checkpoint(&self.name, checkpoint);
        // One long-lived pull subscription: nothing the server delivers is
        // dropped between batches.
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.config().batch_size())
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|e| nats("subscribing to the consumer")(e.to_string()))?;
        // Deliveries are numbered without gaps (the consumer sequence). A gap
        // means a delivery was lost on the way; applying what follows would
        // move the checkpoint past it, so start over from the checkpoint.
        let mut next_delivery = 1;
        // The checkpoint this worker last saw committed: one found below it
        // means a commit was lost, and consumption starts over from there.
        let mut committed = checkpoint;
        // One batch is applied while the next is received and decoded, so
        // the decoding and PostgreSQL's work overlap. A batch starts as soon
        // as none is being applied and it is full, or the server has nothing
        // more pending (at idle an event is applied as soon as it arrives),
        // or `batch_wait` has passed since its first message.
        let mut next: Vec<(BatchItem, Delivery)> = Vec::new();
        let mut next_started = tokio::time::Instant::now();
        let mut pending_on_server = 0;
        let mut applying = None;
        loop {
            let ready = !next.is_empty()
                && (next.len() >= self.config().batch_size()
                    || pending_on_server == 0
                    || next_started.elapsed() >= self.config().batch_wait());
            if applying.is_none() && ready {
                applying = Some(Box::pin(
                    self.apply_and_ack(std::mem::take(&mut next), committed),
                ));
            }
            let wait = async {
                if next.is_empty() {
                    std::future::pending::<()>().await;
                } else {
                    tokio::time::sleep_until(next_started + self.config().batch_wait()).await;
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {
                    // A batch being applied is finished (committed and
                    // acknowledged) or abandoned whole; what was received
                    // after it is delivered again on the next start.
                    if let Some(batch) = applying {
                        batch.await?;
                    }
                    return Ok(());
                }
                done = async {
                    match applying.as_mut() {
                        Some(batch) => batch.await,
                        None => std::future::pending().await,
                    }
                } => {
                    applying = None;
                    let outcome = done?;
                    if outcome.behind {
                        return Err(ProjectorError::Postgres(format!(
                            "the checkpoint went back from {committed} to {} (a commit was lost); resuming from it",
                            outcome.checkpoint
                        )));
                    }
                    committed = outcome.checkpoint;
                }
                message = messages.next(), if next.len() < self.config().batch_size() => {
                    let message = message.ok_or_else(|| {
                        ProjectorError::Nats("the consumer's message stream ended".into())
                    })?;
                    let (item, message, consumer_sequence, pending) = self.decode(message)?;
                    if consumer_sequence != next_delivery {
                        return Err(ProjectorError::Nats(format!(
                            "delivery {consumer_sequence} arrived when {next_delivery} was expected"
                        )));
                    }
                    next_delivery += 1;
                    if next.is_empty() {
                        next_started = tokio::time::Instant::now();
                    }
                    pending_on_server = pending;
                    next.push((item, Delivery { message }));
                }
                () = wait, if applying.is_none() => {}
            }
        }
    }

    /// Applies one batch, then acknowledges it.
    async fn apply_and_ack(
        &self,
        batch: Vec<(BatchItem, Delivery)>,
        committed: u64,
    ) -> Result<ApplyOutcome, ProjectorError> {
        let Some(last) = batch.last().map(|(_, d)| d.message.clone()) else {
            return Ok(ApplyOutcome {
                checkpoint: committed,
                ..Default::default()
            });
        };
        // The batch is a span of its own; each event that arrived with a
        // sampled trace context gets a span in that trace, linked to the
        // batch, that lasts until the batch is committed and acked.
        let batch_span = tracing::info_span!(
            "project batch",
            partition = %self.name,
            events = batch.len()
        );
        let event_spans: Vec<tracing::Span> = batch
            .iter()
            .filter_map(|(_, delivery)| event_span(&delivery.message, &batch_span))
            .collect();
        let items: Vec<BatchItem> = batch.into_iter().map(|(item, _)| item).collect();
        let started = std::time::Instant::now();
        let messages = items.len();
        let outcome = self
            .apply(items, committed)
            .instrument(batch_span.clone())
            .await?;
        if outcome.behind {
            return Ok(outcome);
        }
        self.projector.metrics.batch(
            &self.name,
            messages,
            &outcome,
            started.elapsed().as_secs_f64(),
        );
        tracing::debug!(
            parent: &batch_span,
            partition = %self.name,
            apply_ms = started.elapsed().as_millis() as u64,
            applied = outcome.applied,
            skipped = outcome.skipped,
            dead = outcome.dead,
            checkpoint = outcome.checkpoint,
            "applied batch"
        );
        // AckPolicy::All: acknowledging the last message acknowledges the batch.
        last.double_ack()
            .instrument(batch_span)
            .await
            .map_err(|e| nats("acknowledging batch")(e.to_string()))?;
        drop(event_spans);
        if outcome.applied > 0 {
            self.projector.upkeep.wrote();
        }
        // Readers waiting for the read model to reach these events wake now
        // rather than at their next poll.
        if outcome.checkpoint > committed {
            let subject = checkpoint_subject(self.log().prefix(), &self.name);
            let payload = outcome.checkpoint.to_string().into();
            if let Err(e) = self.log().client().publish(subject, payload).await {
                tracing::debug!(partition = %self.name, error = %e, "announcing the checkpoint");
            }
        }
        Ok(outcome)
    }

    /// Applies a batch. Its dead letters are published first. When
    /// PostgreSQL rejects the data itself (a value it cannot store), the batch
    /// is applied event by event and the event it rejects becomes a dead
    /// letter, so one bad event cannot wedge the stream.
    async fn apply(
        &self,
        items: Vec<BatchItem>,
        expected: u64,
    ) -> Result<ApplyOutcome, ProjectorError> {
        self.publish_dead(&items).await?;
        match self.apply_once(items.clone(), expected).await {
            Err(e) if is_data_error(&e) => {
                tracing::warn!(partition = %self.name, error = %e, events = items.len(), "batch rejected by PostgreSQL; applying events one by one");
                let mut total = ApplyOutcome {
                    checkpoint: expected,
                    ..Default::default()
                };
                for item in items {
                    let outcome = match self.apply_once(vec![item.clone()], total.checkpoint).await
                    {
                        Err(e) if is_data_error(&e) => {
                            let item = dead(self.log().prefix(), item, &e);
                            self.publish_dead(std::slice::from_ref(&item)).await?;
                            self.apply_once(vec![item], total.checkpoint).await
                        }
                        other => other,
                    }
                    .map_err(|e| ProjectorError::Postgres(format!("applying event: {e}")))?;
                    if outcome.behind {
                        return Ok(outcome);
                    }
                    total.applied += outcome.applied;
                    total.skipped += outcome.skipped;
                    total.dead += outcome.dead;
                    total.checkpoint = outcome.checkpoint;
                }
                Ok(total)
            }
            other => other.map_err(|e| ProjectorError::Postgres(format!("applying batch: {e}"))),
        }
    }

    /// Publishes the batch's dead letters (idempotently: a retried batch
    /// republishes with the same message ids).
    async fn publish_dead(&self, items: &[BatchItem]) -> Result<(), ProjectorError> {
        if !self.config().dead_letter_subject {
            return Ok(());
        }
        let letters: Vec<DeadLetter> = items
            .iter()
            .filter_map(|item| match item {
                BatchItem::Dead {
                    sequence,
                    subject,
                    reason,
                    payload,
                    headers,
                } => Some(DeadLetter {
                    sequence: *sequence,
                    subject: subject.clone(),
                    headers: headers.clone(),
                    payload: bytes::Bytes::copy_from_slice(payload),
                    reason: reason.clone(),
                }),
                _ => None,
            })
            .collect();
        if letters.is_empty() {
            return Ok(());
        }
        for l in &letters {
            tracing::warn!(partition = %self.name, sequence = l.sequence, subject = %l.subject, reason = %l.reason, "dead letter");
        }
        publish_dead_letters(self.log(), &self.name, &letters)
            .await
            .map_err(|e| ProjectorError::Nats(e.to_string()))
    }

    async fn apply_once(
        &self,
        items: Vec<BatchItem>,
        expected: u64,
    ) -> Result<ApplyOutcome, ApplyError> {
        let mut attempt = 1;
        loop {
            let mut client = self
                .projector
                .pool
                .get()
                .await
                .map_err(|e| ApplyError::Pool(crate::db::describe_pool(&e)))?;
            match apply_batch(&mut client, &self.name, items.clone(), expected).await {
                Err(e) if attempt < CONFLICT_ATTEMPTS && is_conflict(&e) => {
                    tracing::debug!(partition = %self.name, error = %e, attempt, "batch aborted by a conflict; retrying");
                    attempt += 1;
                }
                other => return other.map_err(ApplyError::Db),
            }
        }
    }

    fn decode(
        &self,
        message: Result<Message, MessagesError>,
    ) -> Result<(BatchItem, Message, u64, u64), ProjectorError> {
        let message = message.map_err(|e| nats("receiving message")(e.to_string()))?;
        let info = message
            .info()
            .map_err(|e| nats("reading message metadata")(e.to_string()))?;
        let (sequence, consumer_sequence, pending) =
            (info.stream_sequence, info.consumer_sequence, info.pending);
        let subject = message.subject.to_string();
        if partition_of(&subject, self.config().partitions) != self.partition {
            return Ok((
                BatchItem::Foreign { sequence },
                message,
                consumer_sequence,
                pending,
            ));
        }
        let prefix = self.log().prefix();
        let decoded = if is_location_subject(prefix, &subject) {
            decode_location_event(prefix, &subject, &message.payload)
                .map(|event| BatchItem::Location { sequence, event })
        } else {
            decode_event(prefix, &subject, &message.payload, sequence).map(BatchItem::event)
        };
        let item = match decoded {
            Ok(item) => item,
            Err(reason) => BatchItem::Dead {
                sequence,
                subject,
                reason: reason.to_string(),
                payload: message.payload.to_vec(),
                headers: message.headers.clone(),
            },
        };
        Ok((item, message, consumer_sequence, pending))
    }
}

/// A span for projecting `message` in the trace its publisher started, if
/// it carries a sampled one.
fn event_span(message: &Message, batch: &tracing::Span) -> Option<tracing::Span> {
    let parent = catalog_telemetry::propagation::nats_parent(message.headers.as_ref())?;
    let span = tracing::info_span!(
        parent: None,
        "project",
        otel.kind = "consumer",
        messaging.system = "nats",
        subject = %message.subject,
        sequence = message.info().map(|i| i.stream_sequence).unwrap_or_default(),
    );
    catalog_telemetry::propagation::set_parent(&span, parent);
    span.follows_from(batch);
    Some(span)
}

/// Whether PostgreSQL refused the data itself (SQLSTATE class 22, data
/// exception, or 54, program limit exceeded), as opposed to being unavailable.
fn is_data_error(e: &ApplyError) -> bool {
    match e {
        ApplyError::Db(e) => e
            .code()
            .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("54")),
        ApplyError::Pool(_) => false,
    }
}

/// Whether PostgreSQL aborted the transaction for a deadlock (40P01) or a
/// serialisation failure (40001): worth retrying as is.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| c.code() == "40P01" || c.code() == "40001")
}

/// Why applying a batch failed.
#[derive(Debug)]
enum ApplyError {
    Pool(String),
    Db(tokio_postgres::Error),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pool(e) => write!(f, "no PostgreSQL connection: {e}"),
            Self::Db(e) => write!(f, "{}", crate::db::describe(e)),
        }
    }
}

/// The dead letter for an event PostgreSQL refused.
fn dead(prefix: &str, item: BatchItem, e: &ApplyError) -> BatchItem {
    let reason = format!("rejected by the read model: {e}");
    match item {
        BatchItem::Event(ev) => {
            let (subject, headers, payload) = encode_event(prefix, &ev.decoded.event);
            BatchItem::Dead {
                sequence: ev.decoded.sequence,
                subject,
                reason,
                payload: payload.to_vec(),
                headers: Some(headers),
            }
        }
        BatchItem::Location { sequence, event } => {
            let (subject, headers, payload) =
                catalog_eventlog::encode_location_event(prefix, &event);
            BatchItem::Dead {
                sequence,
                subject,
                reason,
                payload: payload.to_vec(),
                headers: Some(headers),
            }
        }
        other @ (BatchItem::Dead { .. } | BatchItem::Foreign { .. }) => other,
    }
}

/// A delivered message, acknowledged once its batch is committed.
struct Delivery {
    message: Message,
}
