//! Loading a synthetic catalog straight into the event log, and latency
//! statistics, shared by the benchmark binaries.

use std::time::Duration;

use anyhow::Context;
use catalog_eventlog::{EventLog, encode_event};
use catalog_model::{Entity, EntityChange, EntityEvent, EventSource, parse_descriptors};
use serde_json::json;

/// The synthetic catalog (`synthetic::documents`) as validated entities.
pub fn entities(n: usize) -> anyhow::Result<Vec<Entity>> {
    crate::synthetic::documents(n, crate::synthetic::DEFAULT_SEED)
        .iter()
        .map(|doc| {
            parse_descriptors(doc)
                .context("parsing a synthetic descriptor")?
                .into_iter()
                .next()
                .context("an empty synthetic descriptor")?
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect()
}

/// An upsert of `entity`; versions after 0 change its description.
pub fn event(entity: &Entity, version: usize) -> anyhow::Result<EntityEvent> {
    let entity = if version == 0 {
        entity.clone()
    } else {
        let mut doc = entity.to_value();
        doc["metadata"]["description"] = json!(format!("version {version}"));
        Entity::from_json(doc).context("re-validating a new version")?
    };
    Ok(EntityEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        time_millis: chrono::Utc::now().timestamp_millis(),
        source: EventSource {
            producer: "bench".into(),
            location: "file:/bench".into(),
        },
        entity_ref: entity.entity_ref().clone(),
        change: EntityChange::Upserted {
            content_hash: entity.content_hash(),
            entity,
        },
    })
}

/// Publishes with a bounded window of outstanding acks; returns the last sequence.
pub async fn publish(
    log: &EventLog,
    events: impl Iterator<Item = EntityEvent>,
) -> anyhow::Result<u64> {
    let js = log.jetstream();
    let mut window = std::collections::VecDeque::new();
    let mut last = 0;
    for e in events {
        let (subject, headers, payload) = encode_event(log.prefix(), &e);
        window.push_back(js.publish_with_headers(subject, headers, payload).await?);
        if window.len() >= 1000
            && let Some(ack) = window.pop_front()
        {
            last = last.max(ack.await?.sequence);
        }
    }
    for ack in window {
        last = last.max(ack.await?.sequence);
    }
    Ok(last)
}

/// The `p` quantile (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
