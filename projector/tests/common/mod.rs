//! Helpers for the projector's tests: a migrated database of its own and
//! events applied straight through `apply_batch`.
#![allow(dead_code)]

use catalog_eventlog::DecodedEvent;
use catalog_model::{Entity, EntityChange, EntityEvent, EventSource};
use catalog_projector::apply::{BatchItem, apply_batch};
use catalog_test_support::TestEnv;
use deadpool_postgres::Pool;
use serde_json::Value;

/// A test database with the read-model schema.
pub async fn migrated() -> (TestEnv, Pool) {
    let env = TestEnv::new().await;
    let pool = catalog_projector::db::connect_pool(&env.pg_url, 4).unwrap();
    catalog_projector::schema::migrate(&pool).await.unwrap();
    (env, pool)
}

/// An upsert event of `doc` at `time_millis`.
pub fn upsert(doc: Value, time_millis: i64) -> EntityEvent {
    let entity = Entity::from_json(doc).unwrap();
    EntityEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        time_millis,
        source: EventSource {
            producer: "test".into(),
            location: "file:/test".into(),
        },
        entity_ref: entity.entity_ref().clone(),
        change: EntityChange::Upserted {
            content_hash: entity.content_hash(),
            entity,
        },
    }
}

/// A deletion event of `entity_ref`.
pub fn delete(entity_ref: &str, time_millis: i64) -> EntityEvent {
    EntityEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        time_millis,
        source: EventSource {
            producer: "test".into(),
            location: "file:/test".into(),
        },
        entity_ref: entity_ref.parse().unwrap(),
        change: EntityChange::Deleted,
    }
}

/// Applies `events` with sequences `first..` in batches of `batch`.
pub async fn apply(pool: &Pool, first: u64, events: &[EntityEvent], batch: usize) {
    let items: Vec<BatchItem> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            BatchItem::event(DecodedEvent {
                sequence: first + i as u64,
                event: e.clone(),
            })
        })
        .collect();
    let mut client = pool.get().await.unwrap();
    for chunk in items.chunks(batch.max(1)) {
        apply_batch(&mut client, "projector", chunk.to_vec(), 0)
            .await
            .unwrap();
    }
}

/// Empties the read model (between property-test cases).
pub async fn reset(pool: &Pool) {
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "TRUNCATE entities, relations, entity_history, projector_checkpoints, dead_letters, facet_counts",
        )
        .await
        .unwrap();
}
