//! HTTP routes and the server.

use std::sync::Arc;

use axum::Router;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path};
use axum::response::Response;
use axum::routing::{get, post};
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use catalog_proto::v1::location_service_client::LocationServiceClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tower_http::trace::TraceLayer;

use crate::assets;
use crate::auth::{self, Auth};
use crate::config::UiBridgeConfig;
use crate::plugins::{self, Plugin, PluginError};
use crate::rest::{entities, extras, locations};

/// Largest request header block accepted (HTTP/1 and HTTP/2); beyond it
/// the request is refused (431) or the connection closed.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Largest gRPC response accepted from the API (a page of large entities).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Failures starting or running the bridge.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("invalid gRPC API URL {url:?}: {message}")]
    ApiUrl { url: String, message: String },
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("ui_bridge.proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyConfigError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthConfigError),
    #[error("ui_bridge.{field}: {value:?} is not an origin (scheme://host[:port], no path, not *)")]
    Origin { field: &'static str, value: String },
    #[error("binding UI bridge to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The channel to the API: calls carry the caller's trace context and
/// credentials (`crate::auth::ApiCredentialsLayer`).
pub type ApiChannel = catalog_telemetry::layer::ClientTrace<auth::ApiCredentials<Channel>>;

/// A server span per request, continuing the trace of a caller that sends
/// a `traceparent` (a gateway, another service).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "http",
        otel.name = %request.method(),
        otel.kind = "server",
        http.method = %request.method(),
        http.target = %request.uri().path(),
    );
    if let Some(parent) = catalog_telemetry::propagation::http_parent(request.headers()) {
        catalog_telemetry::propagation::set_parent(&span, parent);
    }
    span
}

/// What every catalog handler reaches: the API's services.
#[derive(Clone)]
pub struct AppState {
    pub catalog: CatalogServiceClient<ApiChannel>,
    pub locations: LocationServiceClient<ApiChannel>,
    pub ingest: IngestServiceClient<ApiChannel>,
    /// Cancelled when the bridge starts shutting down: long-lived
    /// responses (server-sent events) end then, so that the graceful
    /// shutdown does not wait on them and clients reconnect elsewhere.
    pub stopping: CancellationToken,
}

/// The UI bridge server.
pub struct UiBridge {
    config: UiBridgeConfig,
    state: AppState,
    auth: Auth,
    plugins: Arc<Vec<Plugin>>,
    proxy: Router,
    metrics: Option<crate::metrics::Metered>,
    endpoints: Vec<String>,
    /// Requests handled at once (load shedding beyond them).
    slots: crate::shed::Slots,
}

impl UiBridge {
    /// Prepares the bridge: loads the plugins' manifests; the API
    /// connection is made lazily.
    pub fn new(config: UiBridgeConfig) -> Result<Self, BridgeError> {
        let endpoint =
            Endpoint::from_shared(config.api_url.clone()).map_err(|e| BridgeError::ApiUrl {
                url: config.api_url.clone(),
                message: e.to_string(),
            })?;
        // Calls to the API carry the trace of the request that made them.
        let channel = tower::Layer::layer(
            &catalog_telemetry::layer::ClientTraceLayer,
            tower::Layer::layer(&auth::ApiCredentialsLayer, endpoint.connect_lazy()),
        );
        for (field, list) in [
            ("cors.allowed_origins", &config.cors.allowed_origins),
            ("csp_origins", &config.csp_origins),
        ] {
            for value in list {
                if !is_origin(value) {
                    return Err(BridgeError::Origin {
                        field,
                        value: value.clone(),
                    });
                }
            }
        }
        let state = AppState {
            catalog: CatalogServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            locations: LocationServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            ingest: IngestServiceClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES),
            stopping: CancellationToken::new(),
        };
        let endpoints = crate::proxy::endpoint_names(&config.proxy);
        let configured = match &config.plugins {
            Some(listed) => listed.clone(),
            None => plugins::available_defaults(&endpoints),
        };
        let plugins = plugins::load(&configured, &endpoints)?;
        let proxy = crate::proxy::router(&config.proxy)?;
        Ok(Self {
            proxy,
            slots: crate::shed::Slots::new(config.max_concurrent_requests),
            metrics: None,
            endpoints,
            auth: Auth::new(&config.auth, &config.cors.allowed_origins)?,
            plugins: Arc::new(plugins),
            config,
            state,
        })
    }

    /// Records request metrics (`catalog_http_*`, `catalog_proxy_*`).
    pub fn with_metrics(mut self, metrics: crate::metrics::BridgeMetrics) -> Self {
        self.metrics = Some(crate::metrics::Metered {
            metrics,
            endpoints: self.endpoints.clone(),
        });
        self
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> Result<TcpListener, BridgeError> {
        TcpListener::bind(self.config.listen)
            .await
            .map_err(|source| BridgeError::Bind {
                addr: self.config.listen,
                source,
            })
    }

    /// The bridge's routes.
    pub fn router(&self) -> Router {
        let catalog = Router::new()
            .route("/entities", get(entities::list))
            .route(
                "/entities/by-query",
                get(entities::query_get).post(entities::query_post),
            )
            .route("/entities/by-refs", post(entities::by_refs))
            .route(
                "/entities/by-uid/{uid}",
                get(entities::by_uid).delete(entities::delete_by_uid),
            )
            .route(
                "/entities/by-name/{kind}/{namespace}/{name}",
                get(entities::by_name),
            )
            .route(
                "/entities/by-name/{kind}/{namespace}/{name}/ancestry",
                get(entities::ancestry),
            )
            .route(
                "/entities/by-name/{kind}/{namespace}/{name}/history",
                get(extras::history),
            )
            .route(
                "/entities/by-name/{kind}/{namespace}/{name}/graph",
                get(extras::graph),
            )
            .route(
                "/entity-facets",
                get(entities::facets_get).post(entities::facets_post),
            )
            .route("/locations", get(locations::list).post(locations::create))
            .route("/locations/by-query", post(locations::query))
            .route(
                "/locations/by-entity/{kind}/{namespace}/{name}",
                get(locations::by_entity),
            )
            .route(
                "/locations/{id}",
                get(locations::get).delete(locations::delete),
            )
            .route("/refresh", post(locations::refresh))
            .route("/validate-entity", post(locations::validate))
            .route("/analyze-location", post(locations::analyze))
            .route("/search", get(extras::search))
            .route("/events", get(extras::events))
            .with_state(self.state.clone());
        let identity = Router::new()
            .route("/", get(auth::whoami))
            .route("/sign-in", post(auth::sign_in))
            .route("/sign-out", post(auth::sign_out))
            .with_state(self.auth.clone());
        let plugin_routes = Router::new()
            .route("/api/plugins", get(plugins::list))
            .route("/plugin-assets/{id}/{*file}", get(plugins::asset))
            .with_state(self.plugins.clone());
        let router = Router::new()
            .route("/", get(index))
            .route("/catalog", get(index))
            .route("/catalog/{*path}", get(index))
            .route("/plugins/{id}", get(index))
            .route("/plugins/{id}/{*path}", get(index))
            .route("/static/{*file}", get(static_file))
            .route("/healthz", get(|| async { "ok" }))
            .nest("/api/catalog", catalog)
            .nest("/api/identity", identity)
            .nest("/api/proxy", self.proxy.clone())
            .merge(plugin_routes)
            .layer(axum::middleware::from_fn_with_state(
                self.auth.clone(),
                auth::attach,
            ));
        let router = match &self.metrics {
            // Outermost but one, so it sees the matched route and every status.
            Some(m) => router.route_layer(axum::middleware::from_fn_with_state(
                m.clone(),
                crate::metrics::record,
            )),
            None => router,
        };
        let router = router
            .layer(axum::middleware::from_fn_with_state(
                self.slots.clone(),
                crate::shed::shed,
            ))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(crate::headers::SecurityHeaders::new(
                    &self.config.csp_origins,
                )),
                crate::headers::set,
            ));
        let router = if self.config.cors.allowed_origins.is_empty() {
            router
        } else {
            router.layer(crate::headers::cors(&self.config.cors.allowed_origins))
        };
        router.layer(TraceLayer::new_for_http().make_span_with(request_span))
    }

    /// Serves on `listener` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), BridgeError> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "UI bridge listening");
        }
        let stopping = self.state.stopping.clone();
        let router = self.router();
        // hyper's own server rather than `axum::serve`, for what that lacks:
        // a deadline on a request's headers (a slow client cannot hold a
        // connection open) and the largest header block.
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(
                self.config.header_read_timeout_secs.max(1),
            ))
            .max_buf_size(MAX_HEADER_BYTES);
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(MAX_HEADER_BYTES as u32);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, go on.
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            // The peer's address decides whether a trusted proxy's identity
            // header is believed.
            let service = tower::ServiceExt::map_request(
                router.clone(),
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.map(axum::body::Body::new)
                },
            );
            let service = hyper_util::service::TowerToHyperService::new(service);
            let connection = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection ended");
                }
            });
        }
        // Long-lived responses (event streams) end now; the others finish.
        stopping.cancel();
        graceful.shutdown().await;
        Ok(())
    }
}

/// `scheme://host[:port]` and nothing else.
fn is_origin(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.path() == "/"
            && !value.ends_with('/')
            && u.query().is_none()
            && u.username().is_empty()
    })
}

async fn index() -> Response {
    assets::serve("index.html")
}

async fn static_file(Path(file): Path<String>) -> Response {
    assets::serve(&file)
}
