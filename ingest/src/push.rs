//! Push ingestion (`IngestService`): descriptors sent by a named source are
//! validated and published one entity at a time, with optimistic
//! concurrency, skipping unchanged ones. A pushing source owns its entities
//! (location key `push:<source>`) exactly as a location owns what it reads.

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use catalog_eventlog::{EventLog, EventLogError, PublishOutcome, Publisher, decode_event};
use catalog_model::kinds::{KindPolicy, check_kind};
use catalog_model::{
    Entity, EntityChange, EntityEvent, EntityRef, EventSource, parse_documents, subject,
};
use futures::StreamExt;
use serde_json::Value;

use crate::crawl::{MANAGED_BY_LOCATION, MANAGED_BY_ORIGIN_LOCATION};
use crate::placeholder;
use crate::state::LiveEntity;

/// Most descriptors in one call.
pub const MAX_DESCRIPTORS: usize = 1000;
/// Concurrent reads of current entity state.
const READ_CONCURRENCY: usize = 64;

/// What happened to one descriptor or ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Invalid,
    Conflict,
    Failed,
    Deleted,
    NotFound,
}

/// The result for one descriptor or ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    pub name: String,
    pub entity_ref: Option<EntityRef>,
    pub outcome: Outcome,
    pub message: String,
    pub sequence: u64,
}

/// Why a whole call was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("source {0:?} must be 1-63 characters of [a-z0-9-_.]")]
    BadSource(String),
    #[error("{0} descriptors sent; at most {MAX_DESCRIPTORS} are allowed per call")]
    TooMany(usize),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
}

/// The current state of an entity's subject.
struct Current {
    sequence: u64,
    live: Option<LiveEntity>,
}

/// Validates and publishes pushed descriptors.
#[derive(Clone)]
pub struct Pusher {
    log: EventLog,
    publisher: Publisher,
    policy: KindPolicy,
    producer: String,
}

/// The location key of a pushing source.
pub fn push_key(source: &str) -> String {
    format!("push:{source}")
}

fn check_source(source: &str) -> Result<(), PushError> {
    let ok = (1..=63).contains(&source.len())
        && source.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(PushError::BadSource(source.to_string()))
    }
}

fn result(
    name: &str,
    entity_ref: Option<EntityRef>,
    outcome: Outcome,
    message: impl Into<String>,
) -> PushResult {
    PushResult {
        name: name.to_string(),
        entity_ref,
        outcome,
        message: message.into(),
        sequence: 0,
    }
}

impl Pusher {
    pub fn new(log: EventLog, policy: KindPolicy) -> Self {
        Self {
            publisher: Publisher::new(log.clone()),
            log,
            policy,
            producer: "ingest-service".into(),
        }
    }

    /// Parses and validates one descriptor as pushed by `source`.
    fn entity(&self, source: &str, content: &str) -> Result<Entity, String> {
        let mut docs = parse_documents(content).map_err(|e| e.to_string())?;
        if docs.len() != 1 {
            return Err(format!(
                "must hold exactly one document, found {}",
                docs.len()
            ));
        }
        let mut doc = docs.remove(0);
        let found = placeholder::find(&doc).map_err(|(f, m)| format!("{f:?} {m}"))?;
        if let Some(p) = found.first() {
            return Err(format!(
                "{:?} is a placeholder; pushed descriptors must have them resolved (`catalog apply` does)",
                placeholder::field_of(&p.pointer)
            ));
        }
        if let Some(annotations) = doc
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .map(|m| {
                m.entry("annotations")
                    .or_insert_with(|| Value::Object(Default::default()))
            })
            .and_then(Value::as_object_mut)
        {
            let key = Value::String(push_key(source));
            annotations.insert(MANAGED_BY_LOCATION.into(), key.clone());
            annotations.insert(MANAGED_BY_ORIGIN_LOCATION.into(), key);
        }
        let entity = Entity::from_json(doc).map_err(|e| e.to_string())?;
        check_kind(&entity, &self.policy).map_err(|e| e.to_string())?;
        Ok(entity)
    }

    async fn current(&self, r: &EntityRef) -> Result<Current, EventLogError> {
        let subject_name = subject::entity_subject(self.log.prefix(), r);
        let stream = self.log.stream().await?;
        match stream.get_last_raw_message_by_subject(&subject_name).await {
            Ok(m) => {
                let live = decode_event(self.log.prefix(), &subject_name, &m.payload, m.sequence)
                    .ok()
                    .and_then(|d| LiveEntity::after(&d.event));
                Ok(Current {
                    sequence: m.sequence,
                    live,
                })
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(Current {
                sequence: 0,
                live: None,
            }),
            Err(e) => Err(EventLogError::Nats {
                context: format!("reading the last event of {r}"),
                message: e.to_string(),
            }),
        }
    }

    async fn currents(&self, refs: &[EntityRef]) -> Vec<Result<Current, EventLogError>> {
        let reads = refs.iter().cloned().map(|r| {
            let this = self.clone();
            async move { this.current(&r).await }
        });
        futures::stream::iter(reads)
            .buffered(READ_CONCURRENCY)
            .collect()
            .await
    }

    fn event(&self, source: &str, r: &EntityRef, change: EntityChange) -> EntityEvent {
        EntityEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            time_millis: chrono::Utc::now().timestamp_millis(),
            source: EventSource {
                producer: self.producer.clone(),
                location: push_key(source),
            },
            entity_ref: r.clone(),
            change,
        }
    }

    /// Validates and publishes descriptors; one result per descriptor.
    pub async fn apply(
        &self,
        source: &str,
        descriptors: &[(String, String)],
        dry_run: bool,
    ) -> Result<Vec<PushResult>, PushError> {
        check_source(source)?;
        if descriptors.len() > MAX_DESCRIPTORS {
            return Err(PushError::TooMany(descriptors.len()));
        }
        let key = push_key(source);
        let mut results = Vec::with_capacity(descriptors.len());
        let mut valid: Vec<(usize, Entity)> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (i, (name, content)) in descriptors.iter().enumerate() {
            match self.entity(source, content) {
                Err(message) => results.push(result(name, None, Outcome::Invalid, message)),
                Ok(entity) => {
                    let r = entity.entity_ref().clone();
                    if let Some(first) = seen.insert(r.clone(), name.clone()) {
                        results.push(result(
                            name,
                            Some(r.clone()),
                            Outcome::Invalid,
                            format!("{r} is also defined by {first}"),
                        ));
                        continue;
                    }
                    results.push(result(name, Some(r), Outcome::Failed, "not published"));
                    valid.push((i, entity));
                }
            }
        }
        // Two rounds: a lost optimistic-concurrency race is retried once
        // from freshly read state.
        let mut pending = valid;
        for round in 0..2 {
            if pending.is_empty() {
                break;
            }
            let refs: Vec<EntityRef> = pending
                .iter()
                .map(|(_, e)| e.entity_ref().clone())
                .collect();
            let currents = self.currents(&refs).await;
            let mut events = Vec::new();
            let mut slots = Vec::new();
            for ((i, entity), current) in pending.drain(..).zip(currents) {
                let r = entity.entity_ref().clone();
                let current = match current {
                    Ok(c) => c,
                    Err(e) => {
                        results[i].message = e.to_string();
                        continue;
                    }
                };
                let hash = entity.content_hash();
                if let Some(live) = &current.live {
                    if live.origin != key {
                        results[i].outcome = Outcome::Conflict;
                        results[i].message =
                            format!("{r} is managed by {}; not changed", live.origin);
                        continue;
                    }
                    if live.content_hash == hash {
                        results[i].outcome = Outcome::Unchanged;
                        results[i].message = String::new();
                        results[i].sequence = current.sequence;
                        continue;
                    }
                }
                let outcome = if current.live.is_some() {
                    Outcome::Updated
                } else {
                    Outcome::Created
                };
                if dry_run {
                    results[i].outcome = outcome;
                    results[i].message = "dry run: not published".into();
                    continue;
                }
                let change = EntityChange::Upserted {
                    entity: entity.clone(),
                    content_hash: hash,
                };
                events.push((self.event(source, &r, change), current.sequence));
                slots.push((i, entity, outcome));
            }
            let outcomes = self.publisher.publish_all(events).await;
            for ((i, entity, outcome), published) in slots.into_iter().zip(outcomes) {
                match published {
                    PublishOutcome::Stored { sequence, .. } => {
                        results[i].outcome = outcome;
                        results[i].message = String::new();
                        results[i].sequence = sequence;
                    }
                    PublishOutcome::Conflict if round == 0 => pending.push((i, entity)),
                    PublishOutcome::Conflict => {
                        results[i].outcome = Outcome::Failed;
                        results[i].message = "changed concurrently twice; not published".into();
                    }
                    PublishOutcome::Failed(m) => results[i].message = m,
                }
            }
        }
        Ok(results)
    }

    /// Deletes entities the source owns.
    pub async fn delete(
        &self,
        source: &str,
        refs: &[String],
    ) -> Result<Vec<PushResult>, PushError> {
        check_source(source)?;
        if refs.len() > MAX_DESCRIPTORS {
            return Err(PushError::TooMany(refs.len()));
        }
        let key = push_key(source);
        let mut results = Vec::new();
        let mut parsed = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, text) in refs.iter().enumerate() {
            match text.parse::<EntityRef>() {
                Ok(r) if !seen.insert(r.clone()) => {
                    results.push(result(
                        text,
                        Some(r.clone()),
                        Outcome::Invalid,
                        format!("{r} is listed twice"),
                    ));
                }
                Ok(r) => {
                    results.push(result(
                        text,
                        Some(r.clone()),
                        Outcome::Failed,
                        "not published",
                    ));
                    parsed.push((i, r));
                }
                Err(e) => results.push(result(text, None, Outcome::Invalid, e.to_string())),
            }
        }
        let currents = self
            .currents(&parsed.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())
            .await;
        let mut events = Vec::new();
        let mut slots = Vec::new();
        for ((i, r), current) in parsed.into_iter().zip(currents) {
            match current {
                Err(e) => results[i].message = e.to_string(),
                Ok(Current { live: None, .. }) => {
                    results[i].outcome = Outcome::NotFound;
                    results[i].message = format!("no entity {r}");
                }
                Ok(Current { live: Some(l), .. }) if l.origin != key => {
                    results[i].outcome = Outcome::Conflict;
                    results[i].message = format!("{r} is managed by {}; not deleted", l.origin);
                }
                Ok(Current { sequence, .. }) => {
                    events.push((self.event(source, &r, EntityChange::Deleted), sequence));
                    slots.push(i);
                }
            }
        }
        for (i, published) in slots
            .into_iter()
            .zip(self.publisher.publish_all(events).await)
        {
            match published {
                PublishOutcome::Stored { sequence, .. } => {
                    results[i].outcome = Outcome::Deleted;
                    results[i].message = String::new();
                    results[i].sequence = sequence;
                }
                PublishOutcome::Conflict => {
                    results[i].message = "changed concurrently; not deleted".into()
                }
                PublishOutcome::Failed(m) => results[i].message = m,
            }
        }
        Ok(results)
    }
}
