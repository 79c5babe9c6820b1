//! A stock gRPC client can discover and health-check the API: server
//! reflection lists the services and health reports SERVING.

use catalog_e2e::Pipeline;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn reflection_lists_the_services_and_health_reports_serving() {
    let p = Pipeline::start().await;
    let url = format!("http://{}", p.api_addr);

    let channel = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in ["catalog.v1.CatalogService", "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    // The descriptor for the catalog service resolves, so clients can build calls.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "catalog.v1.CatalogService".into(),
        )),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    assert!(
        matches!(response.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{response:?}"
    );

    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: "catalog.v1.CatalogService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    p.stop().await;
}

/// A statement past `api.statement_timeout_ms` is cancelled by PostgreSQL
/// and reported as DEADLINE_EXCEEDED, not INTERNAL.
#[tokio::test]
async fn statements_past_the_statement_timeout_end_with_deadline_exceeded() {
    let env = catalog_test_support::TestEnv::new().await;
    let pool = catalog_projector::db::connect_read_pool(
        &env.pg_url,
        1,
        std::time::Duration::from_millis(50),
    )
    .unwrap();
    let client = pool.get().await.unwrap();
    client.query_one("SELECT 1", &[]).await.unwrap();
    let err = client
        .query_one("SELECT pg_sleep(2)", &[])
        .await
        .unwrap_err();
    let status: tonic::Status = catalog_api::error::ApiError::from(err).into();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("statement_timeout_ms"),
        "{status:?}"
    );
}

/// gzip and zstd both ways, and requests over the size limit refused.
#[tokio::test]
async fn calls_may_be_compressed_and_oversized_requests_are_refused() {
    use tonic::codec::CompressionEncoding;
    let p = Pipeline::start().await;
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut grpc = p
            .grpc()
            .await
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let response = grpc
            .list_entities(catalog_proto::v1::ListEntitiesRequest::default())
            .await
            .unwrap();
        let used = response
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(used, encoding.to_string(), "response encoding");
    }
    // 5 MiB of refs: over the 4 MiB request limit, refused before any work.
    let mut grpc = p.grpc().await;
    let err = grpc
        .batch_get_entities(catalog_proto::v1::BatchGetEntitiesRequest {
            entity_refs: vec!["x".repeat(5 << 20)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    p.stop().await;
}

/// Before the read model's schema exists the API reports NOT_SERVING (so
/// readiness probes hold traffic back), and SERVING once it does.
#[tokio::test]
async fn health_waits_for_the_read_model_schema() {
    let env = catalog_test_support::TestEnv::new().await;
    let log = catalog_e2e::connect_log(&env).await;
    let pool = catalog_projector::db::connect_pool(&env.pg_url, 2).unwrap();
    let api = catalog_api::ApiServer::new(
        catalog_api::ApiConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ..catalog_api::ApiConfig::default()
        },
        pool.clone(),
        log,
    );
    let listener = api.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(api.run(listener, shutdown.clone()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    for service in ["", "catalog.v1.CatalogService"] {
        let s = health.check(status(service)).await.unwrap().into_inner();
        assert_eq!(s.status(), ServingStatus::NotServing, "{service:?}");
    }
    let s = health
        .check(status("catalog.v1.IngestService"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status(), ServingStatus::Serving);
    catalog_projector::schema::migrate(&pool).await.unwrap();
    catalog_e2e::wait_for(
        "SERVING after the migration",
        std::time::Duration::from_secs(20),
        || {
            let mut h = health.clone();
            async move {
                let s = h.check(status("")).await.ok()?.into_inner();
                (s.status() == ServingStatus::Serving).then_some(())
            }
        },
    )
    .await;
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
