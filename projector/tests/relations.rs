//! Relations in both directions, whatever order the two sides arrive in, and
//! etags that change when only a relation changes.

mod common;

use common::{apply, delete, migrated, upsert};
use deadpool_postgres::Pool;
use serde_json::json;

fn component(name: &str, owner: &str) -> serde_json::Value {
    json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
           "metadata": {"name": name},
           "spec": {"type": "service", "lifecycle": "production", "owner": owner}})
}

fn group(name: &str) -> serde_json::Value {
    json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Group",
           "metadata": {"name": name}, "spec": {"type": "team", "children": []}})
}

async fn relations_of(pool: &Pool, r: &str) -> Vec<(String, String)> {
    pool.get()
        .await
        .unwrap()
        .query(
            &format!(
                "SELECT DISTINCT type, target_ref FROM {} r WHERE source_ref = $1 ORDER BY 1, 2",
                catalog_projector::query::RELATIONS
            ),
            &[&r],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// The etag as readers serve it: from the entity's last event and the
/// relations served with it.
async fn etag(pool: &Pool, r: &str) -> String {
    let event_id: uuid::Uuid = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT event_id FROM entities WHERE entity_ref = $1", &[&r])
        .await
        .unwrap()
        .get(0);
    catalog_projector::query::etag(&event_id, &relations_of(pool, r).await)
}

fn owner_of(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| ("ownerOf".to_string(), format!("component:default/{n}")))
        .collect()
}

#[tokio::test]
async fn an_owner_arriving_after_its_components_shows_owner_of_for_all_of_them() {
    for batch in [1, 10] {
        let (_env, pool) = migrated().await;
        apply(
            &pool,
            1,
            &[
                upsert(component("a", "team"), 1),
                upsert(component("b", "team"), 2),
            ],
            batch,
        )
        .await;
        apply(&pool, 3, &[upsert(group("team"), 3)], batch).await;
        assert_eq!(
            relations_of(&pool, "group:default/team").await,
            owner_of(&["a", "b"])
        );
        assert_eq!(
            relations_of(&pool, "component:default/a").await,
            vec![("ownedBy".to_string(), "group:default/team".to_string())]
        );
    }
}

#[tokio::test]
async fn a_component_arriving_after_its_owner_changes_the_owners_etag() {
    let (_env, pool) = migrated().await;
    apply(&pool, 1, &[upsert(group("team"), 1)], 1).await;
    let before = etag(&pool, "group:default/team").await;
    apply(&pool, 2, &[upsert(component("a", "team"), 2)], 1).await;
    let after = etag(&pool, "group:default/team").await;
    assert_ne!(
        before, after,
        "a new ownerOf relation changes the owner's etag"
    );
    assert_eq!(
        relations_of(&pool, "group:default/team").await,
        owner_of(&["a"])
    );
}

#[tokio::test]
async fn removing_a_relation_from_a_spec_removes_both_directions() {
    let (_env, pool) = migrated().await;
    let events = [
        upsert(group("team"), 1),
        upsert(group("other"), 2),
        upsert(component("a", "team"), 3),
    ];
    apply(&pool, 1, &events, 3).await;
    let with = etag(&pool, "group:default/team").await;
    // The owner changes: both directions of the old relation go.
    apply(&pool, 4, &[upsert(component("a", "other"), 4)], 1).await;
    assert_eq!(relations_of(&pool, "group:default/team").await, vec![]);
    assert_eq!(
        relations_of(&pool, "group:default/other").await,
        owner_of(&["a"])
    );
    assert_eq!(
        relations_of(&pool, "component:default/a").await,
        vec![("ownedBy".to_string(), "group:default/other".to_string())]
    );
    assert_ne!(etag(&pool, "group:default/team").await, with);
    // Deleting the component removes what it produced on the other side.
    apply(&pool, 5, &[delete("component:default/a", 5)], 1).await;
    assert_eq!(relations_of(&pool, "group:default/other").await, vec![]);
}

#[tokio::test]
async fn etags_depend_on_the_final_state_not_on_batch_boundaries() {
    let events = [
        upsert(component("a", "team"), 1),
        upsert(group("team"), 2),
        upsert(component("b", "team"), 3),
        upsert(component("a", "other"), 4),
        delete("component:default/b", 5),
        upsert(component("c", "team"), 6),
    ];
    let mut seen = Vec::new();
    for batch in [1, 2, 6] {
        let (_env, pool) = migrated().await;
        apply(&pool, 1, &events, batch).await;
        seen.push(etag(&pool, "group:default/team").await);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}
