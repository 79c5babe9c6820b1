//! HTTP routes and the server.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_model::EntityRef;
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tower_http::trace::TraceLayer;

use crate::assets;
use crate::config::UiBridgeConfig;
use crate::convert::entity_to_json;
use crate::rest::{RestError, error_name, parse_filters, status_for};

/// Page size used when a REST call asks for every entity.
const FULL_LIST_PAGE: u32 = 200;
/// Largest gRPC response accepted from the API (a page of large entities).
const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Largest `limit` accepted.
const MAX_LIMIT: u32 = 1000;

/// Failures starting or running the bridge.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("invalid gRPC API URL {url:?}: {message}")]
    ApiUrl { url: String, message: String },
    #[error("binding UI bridge to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("UI bridge server: {0}")]
    Serve(String),
}

#[derive(Clone)]
struct AppState {
    catalog: CatalogServiceClient<Channel>,
}

/// The UI bridge server.
pub struct UiBridge {
    config: UiBridgeConfig,
    state: AppState,
}

/// Who asked, for error bodies.
struct Req {
    method: Method,
    uri: String,
}

impl Req {
    fn error(&self, status: StatusCode, message: impl Into<String>) -> RestError {
        RestError {
            status,
            name: error_name(status),
            message: message.into(),
            method: self.method.to_string(),
            url: self.uri.clone(),
        }
    }

    fn grpc_error(&self, s: tonic::Status) -> RestError {
        self.error(status_for(s.code()), s.message().to_string())
    }
}

impl UiBridge {
    /// Prepares the bridge; the API connection is made lazily.
    pub fn new(config: UiBridgeConfig) -> Result<Self, BridgeError> {
        let endpoint =
            Endpoint::from_shared(config.api_url.clone()).map_err(|e| BridgeError::ApiUrl {
                url: config.api_url.clone(),
                message: e.to_string(),
            })?;
        let catalog = CatalogServiceClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        Ok(Self {
            config,
            state: AppState { catalog },
        })
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
        Router::new()
            .route("/", get(index))
            .route("/catalog/{*path}", get(index))
            .route("/static/{*file}", get(static_file))
            .route("/healthz", get(|| async { "ok" }))
            .route("/api/catalog/entities", get(list_entities))
            .route(
                "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
                get(entity_by_name),
            )
            .layer(TraceLayer::new_for_http())
            .with_state(self.state.clone())
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
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|e| BridgeError::Serve(e.to_string()))
    }
}

async fn index() -> Response {
    assets::serve("index.html")
}

async fn static_file(Path(file): Path<String>) -> Response {
    assets::serve(&file)
}

async fn entity_by_name(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, RestError> {
    let req = Req {
        method,
        uri: uri.to_string(),
    };
    let entity_ref = EntityRef::new(&kind, &namespace, &name);
    let mut catalog = state.catalog.clone();
    let response = catalog
        .get_entity(pb::GetEntityRequest {
            entity_ref: entity_ref.to_string(),
            ..Default::default()
        })
        .await
        .map_err(|s| {
            if s.code() == tonic::Code::NotFound {
                req.error(
                    StatusCode::NOT_FOUND,
                    format!("No {kind} entity named '{name}' found in namespace '{namespace}'"),
                )
            } else {
                req.grpc_error(s)
            }
        })?;
    let entity = response
        .into_inner()
        .entity
        .ok_or_else(|| req.error(StatusCode::BAD_GATEWAY, "API returned no entity"))?;
    Ok(Json(entity_to_json(&entity)))
}

/// `GET /api/catalog/entities`: every matching entity, or one page of
/// `limit` with a `Link: <…&after=…>; rel="next"` header when more exist.
async fn list_entities(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, RestError> {
    let req = Req {
        method,
        uri: uri.to_string(),
    };
    let mut filters = Vec::new();
    let mut limit = None;
    let mut after = String::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "filter" => filters.push(v.into_owned()),
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = Some(n),
                _ => {
                    return Err(req.error(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "invalid limit {v:?}: must be a whole number from 1 to {MAX_LIMIT}"
                        ),
                    ));
                }
            },
            "after" => after = v.into_owned(),
            _ => {}
        }
    }
    let filter = parse_filters(&filters).map_err(|m| req.error(StatusCode::BAD_REQUEST, m))?;
    let mut catalog = state.catalog.clone();
    let mut entities = Vec::new();
    let mut page_token = after;
    loop {
        let page = catalog
            .list_entities(pb::ListEntitiesRequest {
                filter: Some(filter.clone()),
                page_size: limit.unwrap_or(FULL_LIST_PAGE),
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| req.grpc_error(s))?
            .into_inner();
        entities.extend(page.entities.iter().map(entity_to_json));
        page_token = page.next_page_token;
        if limit.is_some() || page_token.is_empty() {
            break;
        }
    }
    let mut response = Json(entities).into_response();
    if let (Some(limit), false) = (limit, page_token.is_empty()) {
        let mut next = String::from("/api/catalog/entities?");
        for f in &filters {
            next.push_str(&format!(
                "filter={}&",
                utf8_percent_encode(f, NON_ALPHANUMERIC)
            ));
        }
        next.push_str(&format!(
            "limit={limit}&after={}",
            utf8_percent_encode(&page_token, NON_ALPHANUMERIC)
        ));
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}
