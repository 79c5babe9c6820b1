//! Upgrading a read model written by an older schema keeps what it holds.

mod common;

use catalog_projector::query::RELATIONS;
use catalog_projector::query::facets::facets;
use catalog_projector::query::filter::{Condition, Filter, Key, Params, param_refs};
use catalog_test_support::TestEnv;
use deadpool_postgres::Pool;
use serde_json::{Value, json};

fn component() -> catalog_model::Entity {
    catalog_model::Entity::from_json(json!({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "svc", "tags": ["java"], "annotations": {"example.com/pager": "Team-A"}},
        "spec": {"type": "service", "lifecycle": "Production", "owner": "team"}
    }))
    .unwrap()
}

/// The `fields` document as schema v5 stored it: values as written.
fn v5_fields(entity: &catalog_model::Entity) -> (Value, Vec<String>) {
    let flat = catalog_model::entity_fields(entity);
    let keys = flat.keys().cloned().collect();
    let doc = flat
        .into_iter()
        .map(|(k, vs)| {
            (
                k,
                vs.into_iter()
                    .map(|v| v.map_or(Value::Null, Value::String))
                    .collect(),
            )
        })
        .collect();
    (Value::Object(doc), keys)
}

async fn matching(pool: &Pool, filter: Filter) -> Vec<String> {
    let mut params = Params::new();
    let sql = format!(
        "SELECT e.entity_ref FROM entities e WHERE {} ORDER BY 1",
        filter.to_sql(&mut params)
    );
    let client = pool.get().await.unwrap();
    client
        .query(&sql, &param_refs(&params))
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn condition(key: &str, values: &[&str]) -> Filter {
    Filter::all_of(vec![Condition::new(
        Key::parse(key).unwrap(),
        values.iter(),
    )])
}

#[tokio::test]
async fn a_v5_read_model_keeps_its_relations_filters_and_facets_after_the_upgrade() {
    let env = TestEnv::new().await;
    let pool = catalog_projector::db::connect_pool(&env.pg_url, 2).unwrap();
    catalog_projector::schema::migrate_to(&pool, 5)
        .await
        .unwrap();

    // What the v5 projector wrote for one component owned by a group that
    // does not exist yet: the entity, both directions of each relation
    // (owned by the component), and the relation hashes.
    let entity = component();
    let (fields, keys) = v5_fields(&entity);
    let client = pool.get().await.unwrap();
    let id = uuid::Uuid::now_v7();
    client
        .execute(
            "INSERT INTO entities (entity_ref, uid, kind, namespace, name, spec_type, entity, etag, \
               sequence, event_id, location, updated_at, fields, field_keys) \
             VALUES ('component:default/svc', $1, 'component', 'default', 'svc', 'service', $2, $3, \
               1, $1, 'file:/x', now(), $4, $5)",
            &[&id, &entity.to_value(), &id.to_string(), &fields, &keys],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "INSERT INTO relations VALUES \
               ('component:default/svc', 'component:default/svc', 'ownedBy', 'group:default/team'), \
               ('component:default/svc', 'group:default/team', 'ownerOf', 'component:default/svc'); \
             INSERT INTO relation_hashes VALUES ('component:default/svc', 1), ('group:default/team', 2);",
        )
        .await
        .unwrap();
    drop(client);

    catalog_projector::schema::migrate(&pool).await.unwrap();

    let client = pool.get().await.unwrap();
    let both_ways: Vec<(String, String, String)> = client
        .query(
            &format!("SELECT source_ref, type, target_ref FROM {RELATIONS} r ORDER BY 1"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        both_ways,
        vec![
            (
                "component:default/svc".into(),
                "ownedBy".into(),
                "group:default/team".into()
            ),
            (
                "group:default/team".into(),
                "ownerOf".into(),
                "component:default/svc".into()
            ),
        ]
    );
    let stored: i64 = client
        .query_one("SELECT count(*) FROM relations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "each relation is stored once");
    drop(client);

    let svc = vec!["component:default/svc".to_string()];
    assert_eq!(
        matching(&pool, condition("spec.lifecycle", &["PRODUCTION"])).await,
        svc
    );
    assert_eq!(
        matching(&pool, condition("metadata.tags", &["java"])).await,
        svc
    );
    assert_eq!(
        matching(
            &pool,
            condition("metadata.annotations.example.com/pager", &["team-a"])
        )
        .await,
        svc
    );
    assert_eq!(matching(&pool, condition("spec.lifecycle", &[])).await, svc);
    assert_eq!(
        matching(&pool, condition("spec.system", &[])).await,
        Vec::<String>::new()
    );
    assert_eq!(
        matching(
            &pool,
            condition("relations.ownedBy", &["group:default/team"])
        )
        .await,
        svc
    );
    let client = pool.get().await.unwrap();
    let counted = facets(
        &**client,
        &[
            Key::parse("spec.lifecycle").unwrap(),
            Key::parse("metadata.annotations.example.com/pager").unwrap(),
        ],
        &Filter::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        counted["spec.lifecycle"][0].value, "Production",
        "facets keep the case as written"
    );
    assert_eq!(
        counted["metadata.annotations.example.com/pager"][0].value,
        "Team-A"
    );
}

/// v8: large documents are stored compressed with LZ4 where the server has
/// it (pglz otherwise), and read back unchanged.
#[tokio::test]
async fn documents_are_compressed_with_lz4_where_the_server_has_it() {
    let (_env, pool) = common::migrated().await;
    let client = pool.get().await.unwrap();
    let lz4 = client
        .batch_execute("SET default_toast_compression = lz4")
        .await
        .is_ok();
    client
        .batch_execute("RESET default_toast_compression")
        .await
        .unwrap();
    // A description long enough that PostgreSQL compresses the row.
    let description = "owned by the platform team; ".repeat(200);
    let doc = json!({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "big", "description": description},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team"}
    });
    common::apply(&pool, 1, &[common::upsert(doc, 1_000)], 10).await;
    let row = client
        .query_one(
            "SELECT pg_column_compression(e.entity), pg_column_compression(h.entity), \
                    e.entity #>> '{metadata,description}' \
             FROM entities e JOIN entity_history h USING (entity_ref)",
            &[],
        )
        .await
        .unwrap();
    let expected = if lz4 { "lz4" } else { "pglz" };
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some(expected));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some(expected));
    assert_eq!(row.get::<_, String>(2), description);
}
