//! Location management: registration as an event the ingestor follows, dry
//! runs, status with every problem, and unregistration.

use std::time::Duration;

use catalog_e2e::{Pipeline, entity_event_count, wait_for};
use catalog_proto::v1 as pb;
use catalog_proto::v1::location_service_client::LocationServiceClient;
use catalog_proto::v1::location_status::Outcome;

const WAIT: Duration = Duration::from_secs(20);

fn write_catalog(dir: &std::path::Path) {
    std::fs::write(
        dir.join("catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: one}\nspec: {type: service, lifecycle: production, owner: team}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: two}\nspec: {type: service, lifecycle: production, owner: team}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: three}\nspec: {type: service, owner: team}\n",
    )
    .unwrap();
}

async fn register(
    locations: &mut LocationServiceClient<tonic::transport::Channel>,
    target: &str,
    dry_run: bool,
) -> pb::RegisterLocationResponse {
    locations
        .register_location(pb::RegisterLocationRequest {
            r#type: "file".into(),
            target: target.into(),
            dry_run,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn registered_locations_are_ingested_reported_and_removed() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_catalog(dir.path());
    let target = dir.path().join("catalog-info.yaml").display().to_string();
    let mut locations = LocationServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let mut ingestor = p.ingestor(vec![]).await;

    // A dry run reads the location and publishes nothing.
    let dry = register(&mut locations, &target, true).await;
    assert_eq!(dry.entities.len(), 2);
    assert_eq!(dry.problems.len(), 1);
    assert_eq!(dry.problems[0].document, 3);
    assert_eq!(dry.problems[0].field, "spec.lifecycle");
    assert!(!dry.exists);
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 0);

    // Registering is an event the ingestor picks up.
    let registered = register(&mut locations, &target, false).await;
    let id = registered.location.unwrap().id;
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!(report.upserted, 2, "{report:?}");
    assert_eq!(entity_event_count(&p.log).await, 2);
    let again = register(&mut locations, &target, false).await;
    assert!(again.exists);

    // Its status, with the problem located to file, document and field.
    let status = wait_for("the location's status", WAIT, || {
        let mut l = locations.clone();
        let id = id.clone();
        async move {
            l.get_location(pb::GetLocationRequest { id })
                .await
                .ok()?
                .into_inner()
                .status
        }
    })
    .await;
    assert_eq!(status.outcome(), Outcome::Partial);
    assert_eq!(status.entities, 2);
    assert_eq!(status.problems.len(), 1);
    assert!(status.problems[0].location.ends_with("catalog-info.yaml"));
    assert_eq!(
        (
            status.problems[0].document,
            status.problems[0].field.as_str()
        ),
        (3, "spec.lifecycle")
    );
    let list = locations
        .list_locations(pb::ListLocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(list.locations.iter().any(|l| l.id == id && l.registered));

    // Unregistering removes the location's entities.
    locations
        .unregister_location(pb::UnregisterLocationRequest {
            id: id.clone(),
            location_key: String::new(),
        })
        .await
        .unwrap();
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!(report.deleted, 2, "{report:?}");
    let err = locations
        .unregister_location(pb::UnregisterLocationRequest {
            id: id.clone(),
            location_key: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = locations
        .register_location(pb::RegisterLocationRequest {
            r#type: "ftp".into(),
            target: "x".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    p.stop().await;
}

#[tokio::test]
async fn a_location_removed_from_the_configuration_loses_its_entities_at_restart() {
    let p = Pipeline::start().await;
    let (kept, dropped) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_catalog(kept.path());
    std::fs::write(
        dropped.path().join("x.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: dropped}\nspec: {type: team, children: []}\n",
    )
    .unwrap();
    let mut first = p
        .ingestor_with(
            vec![kept.path().to_path_buf(), dropped.path().to_path_buf()],
            |c| c.leases = false,
        )
        .await;
    assert_eq!(first.sync_once().await.unwrap().upserted, 3);
    drop(first);
    // The same worker restarts without the second location.
    let mut restarted = p
        .ingestor_with(vec![kept.path().to_path_buf()], |c| c.leases = false)
        .await;
    let report = restarted.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 1), "{report:?}");
    p.stop().await;
}

#[tokio::test]
async fn configured_locations_report_status_and_cannot_be_unregistered() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_catalog(dir.path());
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    ingestor.sync_once().await.unwrap();
    let mut locations = LocationServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let location = wait_for("the configured location", WAIT, || {
        let mut l = locations.clone();
        async move {
            let list = l
                .list_locations(pb::ListLocationsRequest {})
                .await
                .ok()?
                .into_inner();
            // Registered by the worker at start; its status follows the first read.
            list.locations.into_iter().find(|l| l.status.is_some())
        }
    })
    .await;
    assert!(!location.registered);
    assert!(location.status.as_ref().unwrap().r#static);
    let err = locations
        .unregister_location(pb::UnregisterLocationRequest {
            id: location.id,
            location_key: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("configuration"), "{}", err.message());
    p.stop().await;
}

#[tokio::test]
async fn forgetting_a_location_no_one_reads_frees_its_entities() {
    let p = Pipeline::start().await;
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_catalog(old.path());
    write_catalog(new.path());
    // A checkout that has since moved: its worker published, then went away.
    let mut before = p
        .ingestor_with(vec![old.path().to_path_buf()], |c| {
            c.leases = false;
            c.producer = "old-host".into();
        })
        .await;
    assert_eq!(before.sync_once().await.unwrap().upserted, 2);
    let mut after = p
        .ingestor_with(vec![new.path().to_path_buf()], |c| {
            c.leases = false;
            c.producer = "new-host".into();
        })
        .await;
    let report = after.sync_once().await.unwrap();
    assert_eq!(report.upserted, 0);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("location key conflict")),
        "{report:?}"
    );

    let mut locations = LocationServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    locations
        .unregister_location(pb::UnregisterLocationRequest {
            id: String::new(),
            location_key: format!("file:{}", old.path().display()),
        })
        .await
        .unwrap();
    let report = after.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (2, 0), "{report:?}");
    assert!(
        !report
            .problems
            .iter()
            .any(|p| p.message.contains("location key conflict")),
        "{report:?}"
    );
    p.stop().await;
}

#[tokio::test]
async fn a_location_another_live_worker_still_reads_is_not_gone() {
    let p = Pipeline::start().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_catalog(a.path());
    // The old replica still runs with location A...
    let mut old = p.ingestor(vec![a.path().to_path_buf()]).await;
    assert_eq!(old.sync_once().await.unwrap().upserted, 2);
    // ...while a new one starts with a configuration without it (a rolling
    // change): A is unregistered, but the old replica holds its lease.
    let mut new = p.ingestor(vec![b.path().to_path_buf()]).await;
    let report = new.sync_once().await.unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    let report = old.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 0), "{report:?}");
    p.stop().await;
}
