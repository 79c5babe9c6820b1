//! What the event log already holds, as far as this ingestor cares: for each
//! entity subject, its last sequence and, if the entity is live, the content
//! hash and location of its last upsert.
//!
//! Loaded at start-up from the last message of every entity subject
//! (`DeliverPolicy::LastPerSubject`, one message per entity however long the
//! history), then kept current from publish acks.

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use catalog_eventlog::{EventLog, EventLogError, decode_event};
use catalog_model::{EntityChange, EntityRef, subject};
use foldhash::HashMap as FoldMap;
use futures::StreamExt;

/// The last published state of a live entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEntity {
    pub content_hash: String,
    /// The source it was read from (`managed-by-location`).
    pub location: String,
    /// The location key that owns it (`managed-by-origin-location`, or the
    /// event's location when the annotation is absent).
    pub origin: String,
    /// Whether it is marked as an orphan.
    pub orphan: bool,
}

impl LiveEntity {
    /// The live state an event leaves behind (`None` after a deletion).
    pub fn after(event: &catalog_model::EntityEvent) -> Option<Self> {
        match &event.change {
            EntityChange::Upserted {
                entity,
                content_hash,
            } => Some(Self::of(entity, content_hash, &event.source.location)),
            EntityChange::Deleted => None,
        }
    }

    /// The state an entity found by a crawl leaves once published (what
    /// [`LiveEntity::of`] reads from its annotations, without parsing it).
    pub fn of_found(found: &crate::crawl::Found) -> Self {
        Self {
            content_hash: found.content_hash.clone(),
            location: found.location.clone(),
            origin: found.origin.clone(),
            orphan: found.orphan,
        }
    }

    /// The state of a live entity as published.
    pub fn of(entity: &catalog_model::Entity, content_hash: &str, location: &str) -> Self {
        let annotation = |k: &str| {
            entity
                .as_json()
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        Self {
            content_hash: content_hash.to_string(),
            location: location.to_string(),
            origin: annotation(crate::crawl::MANAGED_BY_ORIGIN_LOCATION)
                .unwrap_or_else(|| location.to_string()),
            orphan: annotation(crate::crawl::ORPHAN).as_deref() == Some("true"),
        }
    }
}

/// The state of one entity subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectState {
    /// Stream sequence of the subject's last event.
    pub sequence: u64,
    /// `None` when the last event was a deletion (or could not be decoded).
    pub live: Option<LiveEntity>,
}

/// Per-entity state of the log. (Its maps use foldhash, randomly seeded:
/// each plan looks up every entity of the catalog, and SipHash was a third
/// of that.)
#[derive(Debug, Default)]
pub struct PublishedState {
    subjects: FoldMap<EntityRef, SubjectState>,
    /// Live entities by origin (location key), kept with `subjects`: each
    /// poll asks which origins own anything, which must not cost a walk of
    /// every entity.
    origins: FoldMap<String, usize>,
    /// Changes with every recorded change, so that "the state is as it
    /// was" is one comparison.
    generation: u64,
}

fn nats_err(context: &str, e: impl std::fmt::Display) -> EventLogError {
    EventLogError::Nats {
        context: context.to_string(),
        message: e.to_string(),
    }
}

impl PublishedState {
    /// Reads the last event of every entity subject.
    pub async fn load(log: &EventLog) -> Result<Self, EventLogError> {
        let mut state = Self::default();
        let mut stream = log.stream().await?;
        let info = stream
            .info()
            .await
            .map_err(|e| nats_err("reading stream info", e))?;
        if info.state.messages == 0 {
            return Ok(state);
        }
        let mut consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject::entity_wildcard(log.prefix()),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err("creating state-loading consumer", e))?;
        // Messages on other subjects only: nothing to read, and waiting for
        // a first message would never end.
        let pending = consumer
            .info()
            .await
            .map_err(|e| nats_err("reading state-loading consumer", e))?
            .num_pending;
        if pending == 0 {
            return Ok(state);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| nats_err("reading entity subjects", e))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| nats_err("reading entity subjects", e))?;
            let info = message
                .info()
                .map_err(|e| nats_err("reading message metadata", e))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            state.record_message(log.prefix(), &message.subject, &message.payload, sequence);
            if pending == 0 {
                break;
            }
        }
        Ok(state)
    }

    fn record_message(&mut self, prefix: &str, subject_name: &str, payload: &[u8], sequence: u64) {
        match decode_event(prefix, subject_name, payload, sequence) {
            Ok(decoded) => {
                let live = LiveEntity::after(&decoded.event);
                self.set(decoded.event.entity_ref, sequence, live);
            }
            Err(reason) => {
                // Keep the sequence so the next publish's concurrency check
                // is right; with no live state the entity will be re-published.
                tracing::warn!(subject = subject_name, sequence, %reason, "undecodable event in the log");
                if let Ok(r) = subject::parse_entity_subject(prefix, subject_name) {
                    self.set(r, sequence, None);
                }
            }
        }
    }

    /// Re-reads one entity's subject after a concurrency conflict.
    pub async fn refresh(
        &mut self,
        log: &EventLog,
        entity: &EntityRef,
    ) -> Result<(), EventLogError> {
        let subject_name = subject::entity_subject(log.prefix(), entity);
        let stream = log.stream().await?;
        match stream.get_last_raw_message_by_subject(&subject_name).await {
            Ok(m) => {
                self.record_message(log.prefix(), &subject_name, &m.payload, m.sequence);
                Ok(())
            }
            Err(e) => Err(nats_err(
                &format!("reading last event of {subject_name}"),
                e,
            )),
        }
    }

    /// Records the outcome of a publish.
    pub fn set(&mut self, entity: EntityRef, sequence: u64, live: Option<LiveEntity>) {
        self.generation += 1;
        if let Some(live) = &live {
            *self.origins.entry(live.origin.clone()).or_default() += 1;
        }
        let old = self
            .subjects
            .insert(entity, SubjectState { sequence, live });
        if let Some(old) = old.and_then(|o| o.live)
            && let Some(count) = self.origins.get_mut(&old.origin)
        {
            *count -= 1;
            if *count == 0 {
                self.origins.remove(&old.origin);
            }
        }
    }

    /// Every origin (location key) that owns a live entity.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.origins.keys().map(String::as_str)
    }

    /// A number that changes whenever the state does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The state of one entity's subject.
    pub fn get(&self, entity: &EntityRef) -> Option<&SubjectState> {
        self.subjects.get(entity)
    }

    /// Every live entity.
    pub fn live(&self) -> impl Iterator<Item = (&EntityRef, &SubjectState, &LiveEntity)> {
        self.subjects
            .iter()
            .filter_map(|(r, s)| s.live.as_ref().map(|l| (r, s, l)))
    }
}

/// The entity as last published on its subject, if it is live.
pub async fn last_entity(
    log: &EventLog,
    entity: &EntityRef,
) -> Result<Option<catalog_model::Entity>, EventLogError> {
    let subject_name = subject::entity_subject(log.prefix(), entity);
    let stream = log.stream().await?;
    let message = stream
        .get_last_raw_message_by_subject(&subject_name)
        .await
        .map_err(|e| nats_err(&format!("reading last event of {subject_name}"), e))?;
    let decoded = decode_event(
        log.prefix(),
        &subject_name,
        &message.payload,
        message.sequence,
    )
    .map_err(|e| nats_err(&format!("decoding last event of {subject_name}"), e))?;
    Ok(match decoded.event.change {
        EntityChange::Upserted { entity, .. } => Some(entity),
        EntityChange::Deleted => None,
    })
}
