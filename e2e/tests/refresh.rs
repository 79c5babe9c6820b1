//! Refreshing a location or an entity on request: the ingest worker reading
//! the location re-reads it at once and answers with a status, so a caller
//! can wait for the read and then read what it produced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use catalog_e2e::{Pipeline, wait_for};
use catalog_proto::v1 as pb;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use catalog_proto::v1::location_service_client::LocationServiceClient;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

fn component(description: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: remote, description: '{description}'}}\nspec: {{type: service, lifecycle: production, owner: team}}\n"
    )
}

/// Registers a location; returns its id.
async fn register(
    locations: &mut LocationServiceClient<tonic::transport::Channel>,
    r#type: &str,
    target: &str,
) -> String {
    locations
        .register_location(pb::RegisterLocationRequest {
            r#type: r#type.into(),
            target: target.into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner()
        .location
        .unwrap()
        .id
}

/// Serves `/repo/catalog-info.yaml` with whatever `content` holds.
async fn serve(content: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route(
        "/repo/catalog-info.yaml",
        get(move || {
            let content = content.clone();
            async move { content.lock().unwrap().clone() }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{port}/repo/catalog-info.yaml")
}

async fn description(p: &Pipeline, min_sequence: Option<u64>) -> String {
    let mut grpc = p.grpc().await;
    let mut request = tonic::Request::new(pb::GetEntityRequest {
        entity_ref: "component:remote".into(),
        ..Default::default()
    });
    if let Some(s) = min_sequence {
        request
            .metadata_mut()
            .insert("catalog-min-sequence", s.to_string().parse().unwrap());
    }
    let entity = grpc.get_entity(request).await.unwrap().into_inner().entity;
    entity.unwrap().metadata.unwrap().description
}

#[tokio::test]
async fn a_refresh_rereads_a_url_location_before_its_schedule() {
    let p = Pipeline::start().await;
    let content = Arc::new(Mutex::new(component("first")));
    let url = serve(content.clone()).await;
    let mut locations = LocationServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let id = register(&mut locations, "url", &url).await;
    // URLs are re-fetched only hourly: any change seen below is the refresh's.
    let ingestor = p
        .ingestor_with(vec![], |c| c.refresh_interval_secs = 3600)
        .await;
    let worker = CancellationToken::new();
    let running = tokio::spawn(ingestor.run(worker.clone()));
    wait_for("the remote component", WAIT, || async {
        let mut grpc = p.grpc().await;
        grpc.get_entity(pb::GetEntityRequest {
            entity_ref: "component:remote".into(),
            ..Default::default()
        })
        .await
        .ok()
    })
    .await;
    assert_eq!(description(&p, None).await, "first");

    // The source changes; a refresh of the entity re-reads its location, and
    // once it returns, a read at its status sequence sees the change.
    *content.lock().unwrap() = component("second");
    let r = locations
        .refresh_entity(pb::RefreshEntityRequest {
            entity_ref: "Component:default/remote".into(),
            wait: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.location.as_ref().unwrap().id, id);
    assert!(r.status_sequence > r.request_sequence, "{r:?}");
    let status = r.location.unwrap().status.unwrap();
    assert!(status.refresh_sequence >= r.request_sequence, "{status:?}");
    assert_eq!(description(&p, Some(r.status_sequence)).await, "second");

    // A refresh of the location itself, without waiting, is answered too.
    *content.lock().unwrap() = component("third");
    let r = locations
        .refresh_location(pb::RefreshLocationRequest {
            id: id.clone(),
            wait: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status_sequence, 0);
    let wanted = r.request_sequence;
    wait_for("the refresh answered", WAIT, || {
        let mut l = locations.clone();
        let id = id.clone();
        async move {
            let s = l
                .get_location(pb::GetLocationRequest { id })
                .await
                .ok()?
                .into_inner()
                .status?;
            (s.refresh_sequence >= wanted).then_some(())
        }
    })
    .await;
    wait_for("the third version", WAIT, || async {
        (description(&p, None).await == "third").then_some(())
    })
    .await;

    // With no worker to answer, a waiting refresh ends at its deadline.
    worker.cancel();
    running.await.unwrap().unwrap();
    let mut request = tonic::Request::new(pb::RefreshLocationRequest {
        id: id.clone(),
        wait: true,
    });
    request.set_timeout(Duration::from_millis(500));
    let err = locations.refresh_location(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("no ingest worker"), "{err:?}");
    p.stop().await;
}

#[tokio::test]
async fn refresh_requests_for_unknown_or_pushed_things_are_refused() {
    let p = Pipeline::start().await;
    let mut locations = LocationServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let refresh = |id: &str| pb::RefreshLocationRequest {
        id: id.into(),
        wait: false,
    };
    let err = locations
        .refresh_location(refresh("not-a-uuid"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("not-a-uuid"), "{err:?}");
    let err = locations
        .refresh_location(refresh(&uuid::Uuid::new_v4().to_string()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    let entity = |r: &str| pb::RefreshEntityRequest {
        entity_ref: r.into(),
        wait: true,
    };
    let err = locations
        .refresh_entity(entity("component:nowhere"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = locations.refresh_entity(entity("")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("entity_ref"), "{err:?}");

    // A pushed entity has no location to read.
    let mut ingest = IngestServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    ingest
        .apply(pb::ApplyRequest {
            source: "ci".into(),
            descriptors: vec![pb::Descriptor {
                content: component("pushed"),
                name: "c.yaml".into(),
            }],
            dry_run: false,
        })
        .await
        .unwrap();
    wait_for("the pushed entity", WAIT, || async {
        let mut grpc = p.grpc().await;
        grpc.get_entity(pb::GetEntityRequest {
            entity_ref: "component:remote".into(),
            ..Default::default()
        })
        .await
        .ok()
    })
    .await;
    let err = locations
        .refresh_entity(entity("component:remote"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("push:ci"), "{err:?}");
    p.stop().await;
}

#[tokio::test]
async fn a_running_worker_reads_locations_registered_and_unregistered_at_once() {
    // A running worker hears registrations as they are published: with a
    // poll interval of an hour, a location registered after it started is
    // read at once, and one unregistered has its entities deleted at once.
    // (Between registrations it does not read them from the log again.)
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(&file, component("registered later")).unwrap();
    let ingestor = p
        .ingestor_with(vec![], |c| c.poll_interval_ms = 3_600_000)
        .await;
    let worker = CancellationToken::new();
    let running = tokio::spawn(ingestor.run(worker.clone()));
    // The worker's first pass, with nothing to read, is over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut locations = LocationServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let entity = || async {
        let mut grpc = p.grpc().await;
        grpc.get_entity(pb::GetEntityRequest {
            entity_ref: "component:remote".into(),
            ..Default::default()
        })
        .await
    };
    assert_eq!(entity().await.unwrap_err().code(), tonic::Code::NotFound);
    let id = register(&mut locations, "file", &file.to_string_lossy()).await;
    wait_for("the registered location's entity", WAIT, || async {
        entity().await.ok()
    })
    .await;
    assert_eq!(description(&p, None).await, "registered later");

    locations
        .unregister_location(pb::UnregisterLocationRequest {
            id,
            ..Default::default()
        })
        .await
        .unwrap();
    wait_for(
        "the unregistered location's entity deleted",
        WAIT,
        || async { (entity().await.err()?.code() == tonic::Code::NotFound).then_some(()) },
    )
    .await;
    worker.cancel();
    running.await.unwrap().unwrap();
    p.stop().await;
}

#[tokio::test]
async fn a_running_worker_reads_changed_files_at_once_without_waiting_for_its_poll() {
    // With a poll interval of an hour, only the file watch can bring these
    // changes in: one written in place in a nested directory, one replaced
    // through a rename as editors do, and a single-file location.
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("team/service");
    std::fs::create_dir_all(&nested).unwrap();
    let file = nested.join("catalog-info.yaml");
    std::fs::write(&file, component("first")).unwrap();
    let ingestor = p
        .ingestor_with(vec![dir.path().to_path_buf()], |c| {
            c.poll_interval_ms = 3_600_000
        })
        .await;
    let worker = CancellationToken::new();
    let running = tokio::spawn(ingestor.run(worker.clone()));
    let shows = |wanted: &'static str| {
        let p = &p;
        async move {
            wait_for(wanted, WAIT, || async {
                let mut grpc = p.grpc().await;
                let e = grpc
                    .get_entity(pb::GetEntityRequest {
                        entity_ref: "component:remote".into(),
                        ..Default::default()
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .entity?;
                (e.metadata?.description == wanted).then_some(())
            })
            .await
        }
    };
    shows("first").await;
    std::fs::write(&file, component("written in place")).unwrap();
    shows("written in place").await;
    let tmp = nested.join(".catalog-info.yaml.swp");
    std::fs::write(&tmp, component("replaced by a rename")).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    shows("replaced by a rename").await;
    worker.cancel();
    running.await.unwrap().unwrap();

    // A location that is one file: its directory is watched.
    let single = dir.path().join("single.yaml");
    std::fs::write(&single, component("single, first")).unwrap();
    std::fs::remove_file(&file).unwrap();
    let ingestor = p
        .ingestor_with(vec![single.clone()], |c| c.poll_interval_ms = 3_600_000)
        .await;
    let worker = CancellationToken::new();
    let running = tokio::spawn(ingestor.run(worker.clone()));
    shows("single, first").await;
    std::fs::write(&single, component("single, changed")).unwrap();
    shows("single, changed").await;
    worker.cancel();
    running.await.unwrap().unwrap();
    p.stop().await;
}
