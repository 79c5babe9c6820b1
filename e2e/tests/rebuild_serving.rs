//! The API keeps answering across a rebuild's switch, on connections that
//! prepared their statements against the tables the switch replaced.

use catalog_e2e::{Pipeline, test_projector_config};
use catalog_projector::rebuild::{RebuildOptions, rebuild};
use catalog_proto::v1 as pb;
use tokio_util::sync::CancellationToken;

async fn answers(
    g: &pb::catalog_service_client::CatalogServiceClient<tonic::transport::Channel>,
) -> (String, Vec<String>) {
    let lookups = (0..8).map(|_| {
        let mut g = g.clone();
        async move {
            g.get_entity(pb::GetEntityRequest {
                entity_ref: "component:default/artist-lookup".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entity
            .unwrap()
        }
    });
    let found = futures::future::join_all(lookups).await;
    let etag = found[0].metadata.as_ref().unwrap().etag.clone();
    assert!(
        found
            .iter()
            .all(|e| e.metadata.as_ref().unwrap().etag == etag)
    );
    let lists = (0..8).map(|_| {
        let mut g = g.clone();
        async move {
            g.list_entities(pb::ListEntitiesRequest {
                filter: Some(pb::EntityFilter {
                    any_of: vec![pb::FilterClause {
                        all_of: vec![pb::FilterCondition {
                            key: "relations.ownedBy".into(),
                            values: vec!["group:default/team-a".into()],
                            ..Default::default()
                        }],
                    }],
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        }
    });
    let pages = futures::future::join_all(lists).await;
    let refs: Vec<String> = pages[0]
        .entities
        .iter()
        .map(|e| e.provenance.as_ref().unwrap().entity_ref.clone())
        .collect();
    assert!(!refs.is_empty());
    (etag, refs)
}

#[tokio::test]
async fn the_api_serves_the_rebuilt_model_after_the_switch() {
    let p = Pipeline::start().await;
    let root = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/backstage-examples/all.yaml"
    ));
    let mut ingestor = p.ingestor(vec![root]).await;
    ingestor.sync_once().await.unwrap();
    p.wait_for_total(34).await;
    let g = p.grpc().await;
    let before = answers(&g).await;

    // The previous tables are dropped: a statement still bound to them
    // would fail.
    rebuild(
        &test_projector_config(),
        &p.log,
        &p.pool,
        &p.env.pg_url,
        RebuildOptions {
            keep_previous: false,
            on_progress: Box::new(|_| {}),
        },
        CancellationToken::new(),
    )
    .await
    .unwrap();

    assert_eq!(answers(&g).await, before);
    p.stop().await;
}
