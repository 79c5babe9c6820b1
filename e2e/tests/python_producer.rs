//! The documented way for other languages to publish entity events: the
//! Python example in `examples/python` publishes an event the projector
//! accepts and applies.

use std::time::Duration;

use catalog_e2e::{Pipeline, wait_for};
use catalog_proto::v1 as pb;

fn python() -> String {
    std::env::var("CATALOG_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.dev/py/bin/python").to_string()
    })
}

#[tokio::test]
async fn python_example_publishes_an_event_the_catalog_applies() {
    let p = Pipeline::start().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/publish_entity.py"
    );
    let py = python();
    let out = tokio::process::Command::new(&py)
        .args([
            script,
            "--nats",
            &p.env.nats_url,
            "--prefix",
            &p.env.subject_prefix,
            "--stream",
            &p.env.stream,
            "--name",
            "Py.Service",
        ])
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("running {py} (deploy/dev/test.sh sets up its environment): {e}")
        });
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["entity_ref"], "component:default/py.service");

    let grpc = p.grpc().await;
    let entity = wait_for(
        "the Python-published entity",
        Duration::from_secs(20),
        || {
            let mut g = grpc.clone();
            async move {
                g.get_entity(pb::GetEntityRequest {
                    entity_ref: "component:default/py.service".into(),
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner()
                .entity
            }
        },
    )
    .await;
    assert_eq!(entity.metadata.unwrap().name, "Py.Service");
    // Nothing was dead-lettered.
    let c = p.pool.get().await.unwrap();
    let dead: i64 = c
        .query_one("SELECT count(*) FROM dead_letters", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(dead, 0);
    p.stop().await;
}

/// A stock gRPC client not written for this project (Python's grpcio with
/// reflection, no generated code) discovers the services and lists entities.
#[tokio::test]
async fn a_stock_python_client_lists_entities_through_reflection() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: reflected}\nspec: {type: service, lifecycle: production, owner: team}\n",
    )
    .unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    ingestor.sync_once().await.unwrap();
    p.wait_for_total(1).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/list_entities.py"
    );
    let out = tokio::process::Command::new(python())
        .args([
            script,
            "--api",
            &p.api_addr.to_string(),
            "--kind",
            "Component",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services: Vec<&str> = printed["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for s in [
        "catalog.v1.CatalogService",
        "catalog.v1.IngestService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&s), "{services:?}");
    }
    let entities = printed["response"]["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 1, "{printed}");
    assert_eq!(entities[0]["metadata"]["name"], "reflected");
    assert_eq!(printed["response"]["totalSize"], "1");
    p.stop().await;
}
