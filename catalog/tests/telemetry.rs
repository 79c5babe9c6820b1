//! Traces and logs of a running catalog: spans exported over OTLP to a real
//! collector endpoint (a gRPC server in this test that keeps what it is
//! sent), one trace from a gRPC call through NATS into the projector, one
//! from the UI bridge into the API, the file ingestor's traces continued by
//! the projector, and JSON log lines that carry the trace id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalog_proto::v1 as pb;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

mod common;
use common::{catalog_all, free_port, wait_for_component};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    links: Vec<String>,
    attributes: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent_span_id: hex::encode(&span.parent_span_id),
                        links: span.links.iter().map(|l| hex::encode(&l.span_id)).collect(),
                        attributes: span
                            .attributes
                            .into_iter()
                            .filter_map(|a| match a.value?.value? {
                                Value::StringValue(s) => Some((a.key, s)),
                                Value::IntValue(i) => Some((a.key, i.to_string())),
                                _ => None,
                            })
                            .collect(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";
const BRIDGE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn a_change_is_one_trace_from_the_caller_through_nats_to_the_projector() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = catalog_test_support::TestEnv::new().await;
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: from-file}\nspec: {type: service, lifecycle: production, owner: team-a}\n",
    )
    .unwrap();
    let logs = dir.path().join("stderr.log");
    let (api_port, ui_port) = (free_port(), free_port());
    let file = dir.path().join("catalog-info.yaml");
    let mut child = catalog_all(&env, &file.display().to_string(), api_port, ui_port)
        .env("CATALOG_TELEMETRY__OTLP_ENDPOINT", &otlp)
        .env("CATALOG_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&logs).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{ui_port}");
    wait_for_component(&base, "from-file").await;

    // A gRPC caller that is itself traced: its context travels on.
    let mut ingest = IngestServiceClient::connect(format!("http://127.0.0.1:{api_port}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::ApplyRequest {
        source: "traced-caller".into(),
        descriptors: vec![pb::Descriptor {
            name: "pushed.yaml".into(),
            content: "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: pushed}\nspec: {type: service, lifecycle: production, owner: team-a}\n".into(),
        }],
        dry_run: false,
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE}-{CALLER}-01").parse().unwrap(),
    );
    ingest.apply(request).await.unwrap();
    wait_for_component(&base, "pushed").await;
    // A browser request that arrives with a trace (from a gateway).
    let status = reqwest::Client::new()
        .get(format!(
            "{base}/api/catalog/entities/by-name/component/default/pushed"
        ))
        .header("traceparent", format!("00-{BRIDGE_TRACE}-{CALLER}-01"))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());

    // SIGTERM: the exporter flushes what it holds before the process ends.
    let pid = child.id().unwrap().to_string();
    assert!(
        tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("catalog stops within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    let spans = collector.spans.lock().unwrap().clone();
    let in_trace =
        |trace: &str| -> Vec<&Received> { spans.iter().filter(|s| s.trace_id == trace).collect() };
    let named = |list: &[&Received], name: &str| -> Option<Received> {
        list.iter().find(|s| s.name == name).map(|s| (*s).clone())
    };
    let describe = |list: &[&Received]| {
        list.iter()
            .map(|s| format!("{} {} parent={}", s.name, s.span_id, s.parent_span_id))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Caller -> API server span -> Apply -> publish -> projector.
    let pushed = in_trace(TRACE);
    let server = named(&pushed, "catalog.v1.IngestService/Apply")
        .unwrap_or_else(|| panic!("no server span in:\n{}", describe(&pushed)));
    assert_eq!(server.parent_span_id, CALLER);
    assert_eq!(server.service, "catalog-all");
    assert_eq!(server.attributes["rpc.method"], "Apply");
    let publish = named(&pushed, "publish")
        .unwrap_or_else(|| panic!("no publish span in:\n{}", describe(&pushed)));
    let project = named(&pushed, "project")
        .unwrap_or_else(|| panic!("no projector span in:\n{}", describe(&pushed)));
    assert_eq!(
        project.parent_span_id, publish.span_id,
        "the projector continues the publisher's span"
    );
    assert!(
        project.attributes["subject"].ends_with(".component.default.pushed"),
        "{:?}",
        project.attributes
    );
    // ... and is linked to the batch it was applied in.
    let batch = spans
        .iter()
        .find(|s| s.name == "project batch" && project.links.contains(&s.span_id))
        .unwrap_or_else(|| panic!("the projector span links no batch: {project:?}"));
    assert_ne!(batch.trace_id, TRACE);

    // The file ingestor's publication is continued by the projector too.
    let ingested = spans
        .iter()
        .find(|s| s.name == "ingest")
        .expect("an ingest span");
    let from_file = in_trace(&ingested.trace_id);
    let publish = named(&from_file, "publish").expect("the ingestor's publish span");
    assert_eq!(publish.parent_span_id, ingested.span_id);
    assert!(
        from_file
            .iter()
            .any(|s| s.name == "project" && s.parent_span_id == publish.span_id),
        "{}",
        describe(&from_file)
    );

    // Browser -> bridge -> API: one trace.
    let through_bridge = in_trace(BRIDGE_TRACE);
    let http = named(&through_bridge, "GET").expect("the bridge's request span");
    assert_eq!(http.parent_span_id, CALLER);
    let api = named(&through_bridge, "catalog.v1.CatalogService/GetEntity")
        .unwrap_or_else(|| panic!("no API span in:\n{}", describe(&through_bridge)));
    assert_ne!(api.parent_span_id, "");
    assert!(
        through_bridge
            .iter()
            .any(|s| s.span_id == api.parent_span_id),
        "the API's span hangs under the bridge's:\n{}",
        describe(&through_bridge)
    );

    // JSON logs: every line is an object; the Apply's log line carries the
    // caller's trace id.
    let text = std::fs::read_to_string(&logs).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let applied = lines
        .iter()
        .find(|l| l["fields"]["message"] == "applied")
        .unwrap_or_else(|| panic!("no Apply log line in:\n{text}"));
    assert_eq!(applied["trace_id"], TRACE, "{applied}");
    assert_eq!(applied["fields"]["outcomes"], "1 Created", "{applied}");
}
