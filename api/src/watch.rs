//! `WatchEntities`: changes read from the event log (an ordered consumer from
//! the cursor on), each sent once the read model reflects it, filtered in
//! memory, with heartbeats.
//!
//! The cursor is a stream sequence: a change's own, or for a heartbeat the
//! last sequence examined. Resuming after cursor `c` reads from `c + 1`, so a
//! reconnecting client sees every later change exactly once.

use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use catalog_eventlog::{EventLog, decode_event};
use catalog_model::{Entity, EntityChange, RelationType, derive_relations, entity_fields};
use catalog_projector::query::{Filter, Key};
use catalog_proto::v1 as pb;
use deadpool_postgres::Pool;
use std::collections::HashMap;

use futures::{FutureExt as _, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;

use crate::checkpoint::Checkpoints;
use crate::error::ApiError;

/// The response stream.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchEntitiesResponse, Status>> + Send>>;

/// Messages buffered per watcher before the reader waits for the client.
const BUFFER: usize = 64;
/// Messages already received that are handled together.
const MAX_BATCH: usize = 256;

/// A validated watch request.
pub struct WatchRequest {
    pub filter: Filter,
    pub after_cursor: u64,
    pub from_start: bool,
    pub heartbeat: Duration,
}

impl WatchRequest {
    pub fn parse(req: pb::WatchEntitiesRequest) -> Result<Self, ApiError> {
        let filter = crate::query::parse_filter(req.filter.as_ref())?;
        if filter.clauses.iter().flatten().any(|c| c.key == Key::Uid) {
            return Err(ApiError::InvalidArgument(
                "filter: metadata.uid cannot be watched; watch by ref (metadata.name, kind) instead"
                    .into(),
            ));
        }
        let heartbeat = match req.heartbeat_seconds {
            0 => 15,
            n @ 1..=300 => n,
            n => {
                return Err(ApiError::InvalidArgument(format!(
                    "heartbeat_seconds {n} is not between 1 and 300"
                )));
            }
        };
        Ok(Self {
            filter,
            after_cursor: req.after_cursor,
            from_start: req.from_start,
            heartbeat: Duration::from_secs(u64::from(heartbeat)),
        })
    }
}

/// Starts a watcher task and returns its stream.
pub async fn watch(
    pool: Pool,
    log: EventLog,
    checkpoints: Checkpoints,
    req: WatchRequest,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<WatchStream, ApiError> {
    let start = if req.after_cursor > 0 {
        req.after_cursor + 1
    } else if req.from_start {
        1
    } else {
        log.last_sequence()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
            + 1
    };
    let stream = log
        .stream()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("{}.entity.>", log.prefix()),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::Unavailable(format!("reading the event log: {e}")))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| ApiError::Unavailable(format!("reading the event log: {e}")))?;
    let (tx, rx) = mpsc::channel(BUFFER);
    let watcher = Watcher {
        pool,
        checkpoints,
        prefix: log.prefix().to_string(),
        req,
        tx: tx.clone(),
        cursor: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(start - 1)),
        examined: start - 1,
    };
    tokio::spawn(async move {
        let cursor = watcher.cursor.clone();
        let result = tokio::select! {
            result = watcher.run(messages) => result,
            () = shutdown.cancelled() => Err(ApiError::Unavailable(format!(
                "the catalog API is shutting down; reconnect with after_cursor = {}",
                cursor.load(std::sync::atomic::Ordering::Relaxed)
            ))),
        };
        if let Err(e) = result {
            let _ = tx.send(Err(Status::from(e))).await;
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

struct Watcher {
    pool: Pool,
    checkpoints: Checkpoints,
    prefix: String,
    req: WatchRequest,
    tx: mpsc::Sender<Result<pb::WatchEntitiesResponse, Status>>,
    /// Last cursor sent, shared so that a shutdown can name it.
    cursor: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Last sequence examined.
    examined: u64,
}

impl Watcher {
    async fn run(mut self, mut messages: pull::Ordered) -> Result<(), ApiError> {
        self.examined = self.cursor.load(std::sync::atomic::Ordering::Relaxed);
        let mut last_sent = Instant::now();
        loop {
            let wait = self.req.heartbeat.saturating_sub(last_sent.elapsed());
            let next = tokio::select! {
                () = self.tx.closed() => return Ok(()),
                next = tokio::time::timeout(wait, messages.next()) => next,
            };
            let first = match next {
                // The heartbeat is due.
                Err(_) => None,
                Ok(next) => Some(received(next)?),
            };
            if let Some(first) = first {
                // What has already arrived is handled with it: one wait for
                // the read model and one query for the lot.
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match messages.next().now_or_never() {
                        Some(next) => batch.push(received(next)?),
                        None => break,
                    }
                }
                let mut events = Vec::with_capacity(batch.len());
                for message in &batch {
                    let sequence = message
                        .info()
                        .map_err(|e| {
                            ApiError::Unavailable(format!("reading message metadata: {e}"))
                        })?
                        .stream_sequence;
                    // A message that cannot be decoded is a dead letter for
                    // the projector too: nothing to report, but the cursor
                    // moves on.
                    let event =
                        decode_event(&self.prefix, &message.subject, &message.payload, sequence)
                            .ok()
                            .map(|d| d.event);
                    events.push((sequence, event));
                }
                let last = events.last().map_or(0, |(sequence, _)| *sequence);
                if !self.wait_for_read_model(last).await? {
                    return Ok(());
                }
                let changes = self.changes(events.iter()).await?;
                for ((sequence, _), change) in events.iter().zip(changes) {
                    self.examined = *sequence;
                    if let Some(change) = change {
                        if !self
                            .send(pb::watch_entities_response::Event::Change(change))
                            .await
                        {
                            return Ok(());
                        }
                        last_sent = Instant::now();
                    }
                }
                if last_sent.elapsed() < self.req.heartbeat {
                    continue;
                }
            }
            if !self
                .send(pb::watch_entities_response::Event::Heartbeat(
                    pb::Heartbeat {},
                ))
                .await
            {
                return Ok(());
            }
            last_sent = Instant::now();
        }
    }

    async fn send(&self, event: pb::watch_entities_response::Event) -> bool {
        let sent = self
            .tx
            .send(Ok(pb::WatchEntitiesResponse {
                cursor: self.examined,
                event: Some(event),
            }))
            .await
            .is_ok();
        if sent {
            self.cursor
                .store(self.examined, std::sync::atomic::Ordering::Relaxed);
        }
        sent
    }

    /// Waits until every projector partition has applied `sequence`; false
    /// when the client went away meanwhile.
    async fn wait_for_read_model(&mut self, sequence: u64) -> Result<bool, ApiError> {
        self.checkpoints.reached(sequence, self.tx.closed()).await
    }

    /// The changes to send for a batch of events (`None` where the filter
    /// does not match or the message was not an event), in order, with two
    /// queries for the whole batch.
    async fn changes<'a>(
        &self,
        events: impl Iterator<Item = &'a (u64, Option<catalog_model::EntityEvent>)> + Clone,
    ) -> Result<Vec<Option<pb::EntityChangeEvent>>, ApiError> {
        let wanted: Vec<(String, u64)> = events
            .clone()
            .filter_map(|(sequence, e)| e.as_ref().map(|e| (e.entity_ref.to_string(), *sequence)))
            .collect();
        if wanted.is_empty() {
            return Ok(events.map(|_| None).collect());
        }
        let client = self.pool.get().await?;
        let mut previous = catalog_projector::query::history::before_many(&**client, &wanted)
            .await?
            .into_iter();
        // The relations other entities give it (group membership, ...) are
        // read only when the filter asks about relations.
        let mut stored: HashMap<String, Vec<(RelationType, String)>> = HashMap::new();
        if self
            .req
            .filter
            .clauses
            .iter()
            .flatten()
            .any(|c| matches!(c.key, Key::Relation(_)))
        {
            let refs: Vec<&str> = wanted.iter().map(|(r, _)| r.as_str()).collect();
            for row in client
                .query(
                    &format!(
                        "SELECT DISTINCT source_ref, type, target_ref FROM {} r WHERE source_ref = ANY($1)",
                        catalog_projector::query::RELATIONS
                    ),
                    &[&refs],
                )
                .await?
            {
                if let Some(t) = RelationType::parse(row.get(1)) {
                    stored
                        .entry(row.get(0))
                        .or_default()
                        .push((t, row.get(2)));
                }
            }
        }
        Ok(events
            .map(|(_, event)| {
                let event = event.as_ref()?;
                let previous = previous.next().flatten();
                self.change(event.clone(), previous, &stored)
            })
            .collect())
    }

    /// The change to send for an event, or `None` when the filter does not
    /// match.
    fn change(
        &self,
        event: catalog_model::EntityEvent,
        previous: Option<catalog_projector::query::Version>,
        stored: &HashMap<String, Vec<(RelationType, String)>>,
    ) -> Option<pb::EntityChangeEvent> {
        let entity_ref = event.entity_ref.to_string();
        // The version the filter is evaluated on.
        let version: Option<Entity> = match &event.change {
            EntityChange::Upserted { entity, .. } => Some(entity.clone()),
            EntityChange::Deleted => previous
                .as_ref()
                .and_then(|p| p.entity.clone())
                .and_then(|v| Entity::from_json(v).ok()),
        };
        let version = version?;
        let mut relations: Vec<(RelationType, String)> = derive_relations(&version)
            .into_iter()
            .filter(|r| r.source == *version.entity_ref())
            .map(|r| (r.relation, r.target.to_string()))
            .collect();
        if let Some(more) = stored.get(&entity_ref) {
            relations.extend(more.iter().cloned());
        }
        if !self
            .req
            .filter
            .matches(&entity_fields(&version), &relations)
        {
            return None;
        }
        let change = match &event.change {
            EntityChange::Deleted => pb::ChangeKind::Deleted,
            EntityChange::Upserted { .. } => match previous {
                Some(p) if p.entity.is_some() => pb::ChangeKind::Updated,
                _ => pb::ChangeKind::Created,
            },
        };
        let time = chrono::DateTime::from_timestamp_millis(event.time_millis).unwrap_or_default();
        Some(pb::EntityChangeEvent {
            entity_ref,
            change: change as i32,
            entity: match &event.change {
                EntityChange::Upserted { entity, .. } => {
                    Some(catalog_proto::json_to_struct(&entity.to_value()))
                }
                EntityChange::Deleted => None,
            },
            event_id: event.event_id,
            time: Some(prost_types::Timestamp {
                seconds: time.timestamp(),
                nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            producer: event.source.producer,
            location: event.source.location,
        })
    }
}

/// A message from the ordered consumer, or why there is none.
fn received(
    next: Option<
        Result<async_nats::jetstream::Message, async_nats::jetstream::consumer::pull::OrderedError>,
    >,
) -> Result<async_nats::jetstream::Message, ApiError> {
    match next {
        None => Err(ApiError::Unavailable("the event stream ended".into())),
        Some(Err(e)) => Err(ApiError::Unavailable(format!("reading the event log: {e}"))),
        Some(Ok(message)) => Ok(message),
    }
}
