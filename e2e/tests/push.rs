//! Push ingestion through `IngestService`: per-item outcomes, unchanged
//! skipping, dry runs, and ownership by source.

use std::time::Duration;

use catalog_e2e::{Pipeline, wait_for};
use catalog_proto::v1 as pb;
use catalog_proto::v1::apply_result::Outcome;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;

const WAIT: Duration = Duration::from_secs(20);

fn component(name: &str, description: &str) -> pb::Descriptor {
    pb::Descriptor {
        content: format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}, description: '{description}'}}\nspec: {{type: service, lifecycle: production, owner: team}}\n"
        ),
        name: format!("{name}.yaml"),
    }
}

async fn apply(
    c: &mut IngestServiceClient<tonic::transport::Channel>,
    source: &str,
    d: Vec<pb::Descriptor>,
    dry_run: bool,
) -> Vec<(Outcome, String)> {
    c.apply(pb::ApplyRequest {
        source: source.into(),
        descriptors: d,
        dry_run,
    })
    .await
    .unwrap()
    .into_inner()
    .results
    .into_iter()
    .map(|r| (r.outcome(), r.message))
    .collect()
}

fn outcomes(r: &[(Outcome, String)]) -> Vec<Outcome> {
    r.iter().map(|(o, _)| *o).collect()
}

async fn messages(p: &Pipeline) -> u64 {
    catalog_e2e::entity_event_count(&p.log).await
}

#[tokio::test]
async fn apply_publishes_changes_once_and_respects_ownership() {
    let p = Pipeline::start().await;
    let mut c = IngestServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let bad = pb::Descriptor {
        content: "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: 'no good'}\nspec: {}\n".into(),
        name: "bad.yaml".into(),
    };
    let r = apply(
        &mut c,
        "ci-shop",
        vec![component("cart", "v1"), component("checkout", "v1"), bad],
        false,
    )
    .await;
    assert_eq!(
        outcomes(&r),
        vec![Outcome::Created, Outcome::Created, Outcome::Invalid]
    );
    assert!(r[2].1.contains("metadata.name"), "{}", r[2].1);
    assert_eq!(messages(&p).await, 2);

    // Unchanged descriptors publish nothing; a dry run publishes nothing.
    let r = apply(
        &mut c,
        "ci-shop",
        vec![component("cart", "v1"), component("checkout", "v2")],
        true,
    )
    .await;
    assert_eq!(outcomes(&r), vec![Outcome::Unchanged, Outcome::Updated]);
    assert_eq!(messages(&p).await, 2);
    let r = apply(
        &mut c,
        "ci-shop",
        vec![component("cart", "v1"), component("checkout", "v2")],
        false,
    )
    .await;
    assert_eq!(outcomes(&r), vec![Outcome::Unchanged, Outcome::Updated]);
    assert_eq!(messages(&p).await, 3);

    // Another source cannot overwrite or delete the source's entities.
    let r = apply(
        &mut c,
        "someone-else",
        vec![component("cart", "hijacked")],
        false,
    )
    .await;
    assert_eq!(outcomes(&r), vec![Outcome::Conflict]);
    assert!(r[0].1.contains("push:ci-shop"), "{}", r[0].1);
    let del = c
        .delete(pb::DeleteRequest {
            source: "someone-else".into(),
            entity_refs: vec!["component:default/cart".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.results[0].outcome(), Outcome::Conflict);

    let mut grpc = p.grpc().await;
    let checkout = wait_for("checkout v2", WAIT, || {
        let mut g = grpc.clone();
        async move {
            let e = g
                .get_entity(pb::GetEntityRequest {
                    entity_ref: "component:default/checkout".into(),
                    ..Default::default()
                })
                .await
                .ok()?;
            let e = e.into_inner().entity?;
            (e.metadata.as_ref()?.description == "v2").then_some(e)
        }
    })
    .await;
    assert_eq!(
        checkout.metadata.unwrap().annotations["backstage.io/managed-by-origin-location"],
        "push:ci-shop"
    );

    // The owner deletes; a second delete finds nothing.
    let del = c
        .delete(pb::DeleteRequest {
            source: "ci-shop".into(),
            entity_refs: vec![
                "component:default/cart".into(),
                "component:default/cart".into(),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.results[0].outcome(), Outcome::Deleted);
    assert_eq!(del.results[1].outcome(), Outcome::Invalid);
    let again = c
        .delete(pb::DeleteRequest {
            source: "ci-shop".into(),
            entity_refs: vec!["component:default/cart".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.results[0].outcome(), Outcome::NotFound);
    wait_for("cart gone", WAIT, || {
        let mut g = grpc.clone();
        async move {
            let e = g
                .get_entity(pb::GetEntityRequest {
                    entity_ref: "component:default/cart".into(),
                    ..Default::default()
                })
                .await
                .err()?;
            (e.code() == tonic::Code::NotFound).then_some(())
        }
    })
    .await;
    let _ = &mut grpc;

    // A bad source name is the client's mistake.
    let err = c
        .apply(pb::ApplyRequest {
            source: "Bad Source".into(),
            descriptors: vec![],
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    p.stop().await;
}

#[tokio::test]
async fn pushed_descriptors_cannot_take_over_location_entities() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("svc.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: owned}\nspec: {type: service, lifecycle: production, owner: team}\n",
    )
    .unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    let mut c = IngestServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let r = apply(&mut c, "ci", vec![component("owned", "pushed")], false).await;
    assert_eq!(outcomes(&r), vec![Outcome::Conflict]);
    // ...and the location does not delete what a source pushed.
    let r = apply(&mut c, "ci", vec![component("pushed-only", "x")], false).await;
    assert_eq!(outcomes(&r), vec![Outcome::Created]);
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 0), "{report:?}");
    p.stop().await;
}

/// Read-your-writes: the sequence `Apply` returned, sent back in the
/// `catalog-min-sequence` header, makes a read wait for the read model.
#[tokio::test]
async fn reads_with_the_applied_sequence_see_the_write() {
    let p = Pipeline::start().await;
    let mut c = IngestServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let mut g = p.grpc().await;
    for round in 0..5 {
        let results = c
            .apply(pb::ApplyRequest {
                source: "ryw".into(),
                descriptors: vec![component("ryw", &format!("round {round}"))],
                dry_run: false,
            })
            .await
            .unwrap()
            .into_inner()
            .results;
        let sequence = results[0].sequence;
        assert!(sequence > 0);
        let mut req = tonic::Request::new(pb::GetEntityRequest {
            entity_ref: "component:ryw".into(),
            ..Default::default()
        });
        req.metadata_mut().insert(
            "catalog-min-sequence",
            sequence.to_string().parse().unwrap(),
        );
        let e = g
            .get_entity(req)
            .await
            .unwrap()
            .into_inner()
            .entity
            .unwrap();
        assert_eq!(
            e.metadata.unwrap().description,
            format!("round {round}"),
            "read after applying round {round}"
        );
    }
    // A sequence the log has not reached: the deadline, not a hang.
    let mut req = tonic::Request::new(pb::GetEntityRequest {
        entity_ref: "component:ryw".into(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("catalog-min-sequence", "99999999".parse().unwrap());
    req.set_timeout(Duration::from_millis(300));
    let err = g.get_entity(req).await.unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{err:?}"
    );
    let mut req = tonic::Request::new(pb::ListEntitiesRequest::default());
    req.metadata_mut()
        .insert("catalog-min-sequence", "soon".parse().unwrap());
    let err = g.list_entities(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("catalog-min-sequence"),
        "{}",
        err.message()
    );
    p.stop().await;
}
