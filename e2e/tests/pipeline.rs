//! End-to-end: descriptor files → ingest → NATS → projector → PostgreSQL →
//! gRPC API → UI bridge, on real servers.

use std::time::Duration;

use catalog_e2e::{Pipeline, wait_for};
use catalog_proto::v1 as pb;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

const SERVICE: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: My.Service
  description: The first version
  tags: [rust, grpc]
  links:
    - url: https://example.com/docs
      title: Docs
  annotations:
    example.com/team-channel: '#svc'
  team-size: 4
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: shop
  providesApis: [my-api]
";

const TEAM: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  children: []
";

async fn get(
    grpc: &mut pb::catalog_service_client::CatalogServiceClient<tonic::transport::Channel>,
    r: &str,
) -> Result<pb::Entity, tonic::Status> {
    grpc.get_entity(pb::GetEntityRequest {
        entity_ref: r.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().entity.unwrap_or_default())
}

async fn rest(url: &str) -> (u16, Value) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn stream_messages(p: &Pipeline) -> u64 {
    catalog_e2e::entity_event_count(&p.log).await
}

#[tokio::test]
async fn entity_written_to_a_file_is_served_by_grpc_and_rest_with_the_same_content() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog-info.yaml"),
        format!("{SERVICE}---\n{TEAM}"),
    )
    .unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!(report.upserted, 2, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");

    let mut grpc = p.grpc().await;
    let entity = wait_for("the component via gRPC", WAIT, || {
        let mut g = grpc.clone();
        async move { get(&mut g, "component:default/my.service").await.ok() }
    })
    .await;
    // Refs differing only in case address the same entity.
    let upper = get(&mut grpc, "Component:Default/MY.SERVICE")
        .await
        .unwrap();
    assert_eq!(upper, entity);
    let meta = entity.metadata.clone().unwrap();
    assert_eq!(meta.name, "My.Service");
    assert_eq!(meta.tags, vec!["rust", "grpc"]);

    let (status, body) = rest(&format!(
        "{}/api/catalog/entities/by-name/Component/default/MY.service",
        p.rest_base()
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    // REST carries exactly what gRPC carries...
    assert_eq!(body, catalog_ui_bridge::convert::entity_to_json(&entity));
    // ...and that is the file's descriptor plus what the catalog adds.
    let mut descriptor = body.clone();
    let m = descriptor["metadata"].as_object_mut().unwrap();
    assert_eq!(
        m.remove("uid").and_then(|v| v.as_str().map(str::to_string)),
        Some(meta.uid.clone())
    );
    assert!(m.remove("etag").is_some());
    assert_eq!(m.remove("namespace"), Some(json!("default")));
    // The location annotations Backstage sets.
    let annotations = m["annotations"].as_object_mut().unwrap();
    let dir = dir.path().display().to_string();
    assert_eq!(
        annotations.remove("backstage.io/managed-by-location"),
        Some(json!(format!("file:{dir}/catalog-info.yaml")))
    );
    assert_eq!(
        annotations.remove("backstage.io/managed-by-origin-location"),
        Some(json!(format!("file:{dir}")))
    );
    assert_eq!(
        annotations.remove("backstage.io/source-location"),
        Some(json!(format!("file:{dir}/")))
    );
    let relations = descriptor
        .as_object_mut()
        .unwrap()
        .remove("relations")
        .unwrap();
    assert_eq!(
        descriptor,
        json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "My.Service", "description": "The first version", "tags": ["rust", "grpc"],
                         "links": [{"url": "https://example.com/docs", "title": "Docs"}],
                         "annotations": {"example.com/team-channel": "#svc"}, "team-size": 4},
            "spec": {"type": "service", "lifecycle": "production", "owner": "team-a", "system": "shop",
                     "providesApis": ["my-api"]}
        })
    );
    assert_eq!(
        relations,
        json!([
            {"type": "ownedBy", "targetRef": "group:default/team-a"},
            {"type": "partOf", "targetRef": "system:default/shop"},
            {"type": "providesApi", "targetRef": "api:default/my-api"},
        ])
    );
    // The owner sees the inverse relation.
    let team = wait_for("the group", WAIT, || {
        let mut g = grpc.clone();
        async move { get(&mut g, "group:default/team-a").await.ok() }
    })
    .await;
    assert_eq!(
        team.relations,
        vec![pb::EntityRelation {
            r#type: "ownerOf".into(),
            target_ref: "component:default/my.service".into()
        }]
    );

    // Listing, filtered by kind and spec.type, through both APIs.
    let (status, list) = rest(&format!(
        "{}/api/catalog/entities?filter=kind=component,spec.type=SERVICE",
        p.rest_base()
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (_, all) = rest(&format!("{}/api/catalog/entities", p.rest_base())).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    p.stop().await;
}

#[tokio::test]
async fn updates_and_deletes_flow_through_and_unchanged_rereads_publish_nothing() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(&file, format!("{SERVICE}---\n{TEAM}")).unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 2);
    assert_eq!(stream_messages(&p).await, 2);

    // Re-reading, even after the file is rewritten unchanged, publishes nothing.
    let again = ingestor.sync_once().await.unwrap();
    assert_eq!((again.upserted, again.deleted, again.unchanged), (0, 0, 2));
    std::fs::write(&file, format!("{SERVICE}---\n{TEAM}")).unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 0);
    // A restarted ingestor learns the log's state and publishes nothing either.
    let mut restarted = p.ingestor(vec![dir.path().to_path_buf()]).await;
    assert_eq!(restarted.sync_once().await.unwrap().upserted, 0);
    assert_eq!(stream_messages(&p).await, 2);

    let grpc = p.grpc().await;
    let group_uid = wait_for("the group", WAIT, || {
        let mut g = grpc.clone();
        async move { get(&mut g, "group:default/team-a").await.ok() }
    })
    .await
    .metadata
    .unwrap()
    .uid;

    // An update flows through.
    std::fs::write(
        &file,
        format!(
            "{}---\n{TEAM}",
            SERVICE.replace("The first version", "The second version")
        ),
    )
    .unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    wait_for("the updated description", WAIT, || {
        let mut g = grpc.clone();
        async move {
            let e = get(&mut g, "component:default/my.service").await.ok()?;
            (e.metadata?.description == "The second version").then_some(())
        }
    })
    .await;

    // Removing a document deletes its entity; removing the file deletes the rest.
    std::fs::write(&file, TEAM).unwrap();
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 1));
    wait_for("the component to be gone", WAIT, || {
        let mut g = grpc.clone();
        async move {
            (get(&mut g, "component:default/my.service")
                .await
                .err()?
                .code()
                == tonic::Code::NotFound)
                .then_some(())
        }
    })
    .await;
    std::fs::remove_file(&file).unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().deleted, 1);
    wait_for("the group to be gone", WAIT, || {
        let mut g = grpc.clone();
        async move {
            (get(&mut g, "group:default/team-a").await.err()?.code() == tonic::Code::NotFound)
                .then_some(())
        }
    })
    .await;
    // A re-created entity is a new entity, with a new uid.
    std::fs::write(&file, TEAM).unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    let returned = wait_for("the group to return", WAIT, || {
        let mut g = grpc.clone();
        async move { get(&mut g, "group:default/team-a").await.ok() }
    })
    .await;
    assert_ne!(returned.metadata.unwrap().uid, group_uid);
    p.stop().await;
}

#[tokio::test]
async fn running_ingestor_picks_up_edits_and_deletions_without_restart() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.yaml");
    std::fs::write(&file, TEAM).unwrap();
    let ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(ingestor.run(shutdown.clone()));
    let url = format!(
        "{}/api/catalog/entities/by-name/group/default/team-a",
        p.rest_base()
    );
    wait_for("the group via REST", WAIT, || {
        let url = url.clone();
        async move { (rest(&url).await.0 == 200).then_some(()) }
    })
    .await;
    std::fs::write(
        &file,
        TEAM.replace("name: team-a", "name: team-a\n  title: Team A"),
    )
    .unwrap();
    wait_for("the new title via REST", WAIT, || {
        let url = url.clone();
        async move { (rest(&url).await.1["metadata"]["title"] == "Team A").then_some(()) }
    })
    .await;
    std::fs::write(&file, "").unwrap();
    wait_for("a 404 after deletion", WAIT, || {
        let url = url.clone();
        async move { (rest(&url).await.0 == 404).then_some(()) }
    })
    .await;
    shutdown.cancel();
    running.await.unwrap().unwrap();
    p.stop().await;
}

#[tokio::test]
async fn invalid_yaml_and_invalid_entities_are_reported_and_do_not_block_the_rest() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), TEAM).unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: v1\nkind: [Component\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mixed.yaml"),
        format!(
            "{SERVICE}---\n{}",
            TEAM.replace("name: team-a", "name: 'Team B!'")
        ),
    )
    .unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!(report.upserted, 2, "{report:?}");
    let broken = report
        .errors
        .iter()
        .find(|e| e.contains("broken.yaml"))
        .expect("broken.yaml reported");
    assert!(broken.contains("invalid YAML"), "{broken}");
    let mixed = report
        .errors
        .iter()
        .find(|e| e.contains("mixed.yaml"))
        .expect("mixed.yaml reported");
    assert!(
        mixed.contains("document 2")
            && mixed.contains("metadata.name")
            && mixed.contains("Team B!"),
        "{mixed}"
    );

    // A file that breaks after it was ingested keeps its entity, and so does
    // a document that stops validating.
    std::fs::write(dir.path().join("good.yaml"), "{{{ not yaml").unwrap();
    std::fs::write(
        dir.path().join("mixed.yaml"),
        SERVICE.replace("name: My.Service", "name: My Service!"),
    )
    .unwrap();
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 0), "{report:?}");
    assert!(
        report.errors.iter().any(|e| e.contains("My Service!")),
        "{report:?}"
    );
    let grpc = p.grpc().await;
    wait_for("the group still served", WAIT, || {
        let mut g = grpc.clone();
        async move { get(&mut g, "group:default/team-a").await.ok() }
    })
    .await;
    wait_for("the valid component of mixed.yaml", WAIT, || {
        let mut g = grpc.clone();
        async move { get(&mut g, "component:default/my.service").await.ok() }
    })
    .await;
    p.stop().await;
}

#[tokio::test]
async fn missing_entities_are_not_found_in_grpc_and_rest() {
    let p = Pipeline::start().await;
    let mut grpc = p.grpc().await;
    let err = get(&mut grpc, "component:default/nope").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(
        err.message().contains("component:default/nope"),
        "{}",
        err.message()
    );
    let (status, body) = rest(&format!(
        "{}/api/catalog/entities/by-name/component/default/nope",
        p.rest_base()
    ))
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["name"], "NotFoundError");
    // A malformed ref is the client's mistake, not a missing entity.
    let err = get(&mut grpc, "component:").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = get(&mut grpc, "nokind").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    p.stop().await;
}
