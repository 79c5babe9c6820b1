//! An entity's uid is the id of the event that created it (its first upsert
//! after its last deletion), however the events are split into batches.

mod common;

use common::{apply, delete, migrated, upsert};
use serde_json::json;

fn version(description: &str) -> serde_json::Value {
    json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
           "metadata": {"name": "svc", "description": description},
           "spec": {"type": "service", "lifecycle": "production", "owner": "team"}})
}

#[tokio::test]
async fn the_uid_is_the_creating_events_id_whatever_the_batches() {
    let events = [
        upsert(version("created"), 1),
        upsert(version("changed"), 2),
        delete("component:default/svc", 3),
        upsert(version("created again"), 4),
        upsert(version("changed again"), 5),
    ];
    let id = |i: usize| uuid::Uuid::parse_str(&events[i].event_id).unwrap();
    for (applied, uid_after) in [(2, id(0)), (5, id(3))] {
        for batch in 1..=applied {
            let (_env, pool) = migrated().await;
            apply(&pool, 1, &events[..applied], batch).await;
            let uid: uuid::Uuid = pool
                .get()
                .await
                .unwrap()
                .query_one("SELECT uid FROM entities", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(uid, uid_after, "{applied} events in batches of {batch}");
        }
    }
}
