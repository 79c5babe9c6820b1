//! Entity events for tests that write the log directly.

use catalog_eventlog::encode_event;
use catalog_model::{Entity, EntityChange, EntityEvent, EventSource};
use serde_json::json;

/// An upsert of the descriptor `doc`, at a time derived from `version`.
pub fn upsert_doc(doc: serde_json::Value, version: usize) -> EntityEvent {
    let entity = Entity::from_json(doc).unwrap_or_else(|e| panic!("{e}"));
    EntityEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        time_millis: 1_700_000_000_000 + version as i64,
        source: EventSource {
            producer: "test".into(),
            location: "file:/test.yaml".into(),
        },
        entity_ref: entity.entity_ref().clone(),
        change: EntityChange::Upserted {
            content_hash: entity.content_hash(),
            entity,
        },
    }
}

/// A Component upsert; `version` goes into the description and the time.
pub fn upsert(name: &str, owner: &str, version: usize) -> EntityEvent {
    upsert_doc(
        json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": name, "description": format!("version {version}")},
            "spec": {"type": "service", "lifecycle": "production", "owner": owner}
        }),
        version,
    )
}

/// The deletion of an upserted event's entity.
fn deleted(mut e: EntityEvent) -> EntityEvent {
    e.change = EntityChange::Deleted;
    e
}

/// A Component deletion.
pub fn delete(name: &str) -> EntityEvent {
    deleted(upsert(name, "x", 0))
}

/// Publishes without concurrency checks (tests write the log directly).
pub async fn publish(log: &catalog_eventlog::EventLog, events: Vec<EntityEvent>) -> Vec<u64> {
    let js = log.jetstream();
    let mut seqs = Vec::new();
    for chunk in events.chunks(500) {
        let mut acks = Vec::new();
        for e in chunk {
            let (subject, headers, payload) = encode_event(log.prefix(), e);
            acks.push(
                js.publish_with_headers(subject, headers, payload)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        for a in acks {
            seqs.push(a.await.unwrap_or_else(|e| panic!("{e}")).sequence);
        }
    }
    seqs
}

/// A Group upsert.
pub fn group(name: &str, version: usize) -> EntityEvent {
    upsert_doc(
        json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
            "metadata": {"name": name, "description": format!("version {version}")},
            "spec": {"type": "team", "children": []}
        }),
        version,
    )
}

/// A workload of creates, updates (owner changes move relations) and deletes.
pub fn workload(n: usize) -> Vec<EntityEvent> {
    let mut events = Vec::new();
    for i in 0..n {
        events.push(upsert(
            &format!("svc-{}", i % 400),
            &format!("team-{}", i % 7),
            i,
        ));
        if i % 11 == 0 {
            events.push(delete(&format!("svc-{}", (i + 5) % 400)));
        }
        // Owners come and go too: their relations and etags follow.
        if i % 97 == 0 {
            events.push(group(&format!("team-{}", i % 7), i));
        }
        if i % 389 == 0 {
            events.push(delete_group(&format!("team-{}", (i + 3) % 7)));
        }
    }
    events
}

/// A Group deletion.
pub fn delete_group(name: &str) -> EntityEvent {
    deleted(group(name, 0))
}

/// A random sequence of `n` upserts and deletes over a few hundred
/// components and a handful of owner groups (which come and go too), from
/// `seed` so that a failure can be replayed.
pub fn random_workload(seed: u64, n: usize) -> Vec<EntityEvent> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let component = format!("svc-{}", rng.random_range(0..300));
            let team = format!("team-{}", rng.random_range(0..9));
            match rng.random_range(0..100) {
                0..70 => upsert(&component, &team, i),
                70..85 => delete(&component),
                85..95 => group(&team, i),
                _ => delete_group(&team),
            }
        })
        .collect()
}
