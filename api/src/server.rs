//! The gRPC server: catalog service, health, reflection.

use catalog_proto::v1::FILE_DESCRIPTOR_SET;
use catalog_proto::v1::catalog_service_server::CatalogServiceServer;
use deadpool_postgres::Pool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use catalog_eventlog::EventLog;
use catalog_ingest::push::Pusher;
use catalog_model::kinds::KindPolicy;
use catalog_proto::v1::ingest_service_server::IngestServiceServer;

use crate::config::ApiConfig;
use crate::ingest_service::IngestApi;
use crate::location_service::LocationApi;
use crate::service::CatalogApi;
use catalog_proto::v1::location_service_server::LocationServiceServer;

/// Largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;
/// Largest `Apply` request accepted, in bytes (1000 descriptors).
pub const MAX_APPLY_BYTES: usize = 64 << 20;
/// Largest response sent, in bytes (a page of 1000 large entities fits).
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Whether the read model's tables exist.
/// How often the readers' health is re-checked.
const HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

async fn schema_ready(pool: &Pool) -> bool {
    match pool.get().await {
        Ok(client) => client
            .query_one("SELECT to_regclass('entities') IS NOT NULL", &[])
            .await
            .map(|row| row.get::<_, bool>(0))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The health of the services that read, and of the server ("") too when
/// `overall`: the server's own status only waits for the schema at start,
/// so that a liveness probe on it does not restart the server during a
/// PostgreSQL outage (readiness probes name `catalog.v1.CatalogService`).
async fn set_readers(health: &tonic_health::server::HealthReporter, ready: bool, overall: bool) {
    use tonic_health::ServingStatus::{NotServing, Serving};
    let status = if ready { Serving } else { NotServing };
    if overall {
        health.set_service_status("", status).await;
    }
    for service in [
        <CatalogServiceServer<CatalogApi> as tonic::server::NamedService>::NAME,
        <LocationServiceServer<LocationApi> as tonic::server::NamedService>::NAME,
    ] {
        health.set_service_status(service, status).await;
    }
}

/// Failures starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding gRPC API to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("building reflection service: {0}")]
    Reflection(String),
    #[error("gRPC server: {0}")]
    Serve(String),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthConfigError),
}

/// The gRPC API server.
pub struct ApiServer {
    config: ApiConfig,
    pool: Pool,
    log: EventLog,
    metrics: Option<crate::metrics::ApiMetrics>,
}

impl ApiServer {
    /// A server reading `pool` and publishing pushed entities to `log`.
    pub fn new(config: ApiConfig, pool: Pool, log: EventLog) -> Self {
        Self {
            config,
            pool,
            log,
            metrics: None,
        }
    }

    /// Records request metrics (`catalog_api_*`) in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::ApiMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> Result<TcpListener, ServerError> {
        TcpListener::bind(self.config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: self.config.listen,
                source,
            })
    }

    /// Serves on `listener` until `shutdown` is cancelled; in-flight calls
    /// are allowed to finish.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        let authorizer = std::sync::Arc::new(
            crate::auth::Authorizer::new(&self.config.auth, self.pool.clone()).await?,
        );
        if authorizer.enabled() {
            tracing::info!(
                anonymous_read = self.config.auth.anonymous_read,
                tokens = self.config.auth.tokens.len(),
                jwt = self.config.auth.jwt.is_some(),
                "calls are authenticated"
            );
        } else {
            tracing::warn!("api.auth.enabled is false: every caller may read and write");
        }
        let (health, health_service) = tonic_health::server::health_reporter();
        // Pushing needs only NATS; reading needs the read model's schema,
        // which the projector (or `catalog migrate`) creates: until it
        // exists the server and its reading services report NOT_SERVING,
        // so that orchestrators hold traffic back.
        health.set_serving::<IngestServiceServer<IngestApi>>().await;
        let ready = schema_ready(&self.pool).await;
        set_readers(&health, ready, true).await;
        if !ready {
            tracing::warn!("the read model has no schema yet; NOT_SERVING until it does");
        }
        // Reading needs PostgreSQL: while it cannot be reached (or the
        // schema is missing) the readers report NOT_SERVING, and SERVING
        // again once it answers.
        {
            let (health, pool, shutdown) = (health.clone(), self.pool.clone(), shutdown.clone());
            tokio::spawn(async move {
                let (mut serving, mut started) = (ready, ready);
                while !shutdown.is_cancelled() {
                    tokio::time::sleep(HEALTH_INTERVAL).await;
                    let now = tokio::time::timeout(HEALTH_INTERVAL, schema_ready(&pool))
                        .await
                        .unwrap_or(false);
                    if now != serving {
                        // The server itself serves from the first time the schema is readable.
                        set_readers(&health, now, !started).await;
                        started |= now;
                        if now {
                            tracing::info!("the read model answers; SERVING");
                        } else {
                            tracing::warn!("the read model cannot be read; NOT_SERVING");
                        }
                        serving = now;
                    }
                }
            });
        }
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let catalog = CatalogServiceServer::new(
            CatalogApi::new(
                self.pool.clone(),
                self.log.clone(),
                self.config.page_token_secret.expose(),
            )
            .with_page_token_ttl(
                self.config.page_token_secret.expose(),
                std::time::Duration::from_secs(self.config.page_token_ttl_secs.max(1)),
            )
            .with_shutdown(shutdown.clone()),
        )
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(MAX_RESPONSE_BYTES);
        let policy = KindPolicy {
            extra_kinds: self.config.extra_kinds.clone(),
        };
        let locations = LocationServiceServer::new(
            LocationApi::new(
                self.pool.clone(),
                self.log.clone(),
                policy.clone(),
                self.config.allow_file_locations,
            )
            .with_authorizer(authorizer.clone()),
        )
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(MAX_RESPONSE_BYTES);
        let ingest = IngestServiceServer::new(
            IngestApi::new(Pusher::new(self.log, policy)).with_authorizer(authorizer.clone()),
        )
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_APPLY_BYTES)
        .max_encoding_message_size(MAX_RESPONSE_BYTES);
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "gRPC API listening");
        }
        // gRPC-Web (HTTP/1.1 and HTTP/2) beside native gRPC, so a browser
        // or a stock HTTP tool can call every service.
        // A call ends at the client's deadline or at `request_timeout`,
        // whichever is first; waits inside calls (read-your-writes, refresh)
        // end with DEADLINE_EXCEEDED before either.
        Server::builder()
            .timeout(self.config.request_timeout())
            .accept_http1(true)
            .layer(catalog_telemetry::layer::ServerTraceLayer)
            .layer(crate::metrics::MetricsLayer::new(self.metrics.clone()))
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(crate::shed::ShedLayer::new(
                self.config.max_concurrent_requests,
            ))
            .layer(crate::auth::AuthLayer::new(authorizer))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(catalog)
            .add_service(ingest)
            .add_service(locations)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY, a response written in several pieces
                // (headers, message, trailers) waits on delayed ACKs: 40 ms.
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown.cancelled_owned(),
            )
            .await
            .map_err(|e| ServerError::Serve(e.to_string()))
    }
}
