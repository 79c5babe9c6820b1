//! `catalog.v1.CatalogService`.

use std::time::Duration;

use catalog_model::EntityRef;
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_server::CatalogService;
use deadpool_postgres::Pool;
use tonic::{Request, Response, Status};

use crate::convert::{Projection, entity_view, highlight_segments, render, version_to_proto};
use crate::error::ApiError;
use crate::page_token::{PageTokens, fingerprint};
use crate::query;

/// Page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Most refs in one `BatchGetEntities`.
pub const MAX_BATCH: usize = 1000;
/// Search hits when the request gives no page size, and the most.
pub const DEFAULT_SEARCH_HITS: usize = 20;
pub const MAX_SEARCH_HITS: usize = 100;

/// `requested` as a page size: 0 means `default`, more than `max` is refused.
fn page_size(field: &str, requested: u32, default: usize, max: usize) -> Result<usize, ApiError> {
    match usize::try_from(requested).unwrap_or(usize::MAX) {
        0 => Ok(default),
        n if n > max => Err(ApiError::InvalidArgument(format!(
            "{field} {n} is larger than the maximum of {max}"
        ))),
        n => Ok(n),
    }
}

fn parse_ref(field: &str, text: &str) -> Result<EntityRef, ApiError> {
    text.parse()
        .map_err(|e| ApiError::InvalidArgument(format!("{field} {text:?}: {e}")))
}

/// The service implementation.
#[derive(Clone)]
pub struct CatalogApi {
    pool: Pool,
    log: catalog_eventlog::EventLog,
    tokens: PageTokens,
    /// Ends live streams when the server shuts down.
    shutdown: tokio_util::sync::CancellationToken,
    /// The read model's checkpoint, followed once the first watch starts.
    checkpoints: std::sync::Arc<tokio::sync::OnceCell<crate::checkpoint::Checkpoints>>,
}

impl CatalogApi {
    pub fn new(pool: Pool, log: catalog_eventlog::EventLog, page_token_secret: &str) -> Self {
        Self {
            pool,
            log,
            tokens: PageTokens::new(page_token_secret),
            shutdown: tokio_util::sync::CancellationToken::new(),
            checkpoints: Default::default(),
        }
    }

    /// Page tokens accepted for `ttl` (instead of an hour).
    pub fn with_page_token_ttl(mut self, secret: &str, ttl: Duration) -> Self {
        self.tokens = PageTokens::with_ttl(secret, ttl);
        self
    }

    /// Ends watch streams (with UNAVAILABLE and the cursor to resume from)
    /// when `shutdown` is cancelled, so that a graceful shutdown does not
    /// wait for clients to hang up.
    pub fn with_shutdown(mut self, shutdown: tokio_util::sync::CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    async fn get_entity(
        &self,
        req: pb::GetEntityRequest,
    ) -> Result<pb::GetEntityResponse, ApiError> {
        let view = entity_view("view", req.view)?;
        let client = self.pool.get().await?;
        let row = match (req.entity_ref.is_empty(), req.uid.is_empty()) {
            (false, true) => {
                let entity_ref = parse_ref("entity_ref", &req.entity_ref)?;
                query::get_entity(&client, &entity_ref.to_string())
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no entity {entity_ref}")))?
            }
            (true, false) => {
                let uid = uuid::Uuid::parse_str(&req.uid).map_err(|e| {
                    ApiError::InvalidArgument(format!("uid {:?} is not a UUID: {e}", req.uid))
                })?;
                query::get_entity_by_uid(&client, uid)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no entity with uid {uid}")))?
            }
            (true, true) => {
                return Err(ApiError::InvalidArgument(
                    "entity_ref or uid is required; set one of them".into(),
                ));
            }
            (false, false) => {
                return Err(ApiError::InvalidArgument(
                    "entity_ref and uid: set only one of them".into(),
                ));
            }
        };
        Ok(pb::GetEntityResponse {
            entity: Some(render(row, view, &Projection::default())),
        })
    }

    async fn batch_get_entities(
        &self,
        req: pb::BatchGetEntitiesRequest,
    ) -> Result<pb::BatchGetEntitiesResponse, ApiError> {
        if req.entity_refs.len() > MAX_BATCH {
            return Err(ApiError::InvalidArgument(format!(
                "entity_refs has {} refs; at most {MAX_BATCH} are allowed",
                req.entity_refs.len()
            )));
        }
        let parsed: Vec<Result<String, String>> = req
            .entity_refs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.parse::<EntityRef>()
                    .map(|r| r.to_string())
                    .map_err(|e| format!("entity_refs[{i}] {r:?}: {e}"))
            })
            .collect();
        let view = entity_view("view", req.view)?;
        let wanted: Vec<String> = parsed.iter().flatten().cloned().collect();
        let client = self.pool.get().await?;
        let found = query::get_entities(&client, &wanted).await?;
        let items = req
            .entity_refs
            .into_iter()
            .zip(parsed)
            .map(|(asked, parsed)| {
                let (entity, error) = match parsed {
                    Err(message) => (
                        None,
                        Some(pb::ItemError {
                            code: tonic::Code::InvalidArgument as i32,
                            message,
                        }),
                    ),
                    Ok(canonical) => match found.get(&canonical) {
                        Some(row) => (
                            Some(render(row.clone(), view, &Projection::default())),
                            None,
                        ),
                        None => (
                            None,
                            Some(pb::ItemError {
                                code: tonic::Code::NotFound as i32,
                                message: format!("no entity {canonical}"),
                            }),
                        ),
                    },
                };
                pb::BatchGetEntitiesItem {
                    entity_ref: asked,
                    entity,
                    error,
                }
            })
            .collect();
        Ok(pb::BatchGetEntitiesResponse { items })
    }

    async fn search_entities(
        &self,
        req: pb::SearchEntitiesRequest,
    ) -> Result<pb::SearchEntitiesResponse, ApiError> {
        let text = search_text("query", &req.query)?.ok_or_else(|| {
            ApiError::InvalidArgument("query is empty; give the text to search for".into())
        })?;
        let limit = page_size(
            "page_size",
            req.page_size,
            DEFAULT_SEARCH_HITS,
            MAX_SEARCH_HITS,
        )?;
        let filter = query::parse_filter(req.filter.as_ref())?;
        let view = entity_view("view", req.view)?;
        let client = self.pool.get().await?;
        let hits = catalog_projector::query::search(&**client, text, &filter, limit).await?;
        let refs: Vec<String> = hits.iter().map(|h| h.entity_ref.clone()).collect();
        let mut rows = query::get_entities(&client, &refs).await?;
        Ok(pb::SearchEntitiesResponse {
            hits: hits
                .into_iter()
                .filter_map(|h| {
                    rows.remove(&h.entity_ref).map(|row| pb::SearchHit {
                        entity: Some(render(row, view, &Projection::default())),
                        rank: h.rank,
                        highlight: highlight_segments(&h.highlight),
                    })
                })
                .collect(),
        })
    }

    async fn get_facets(
        &self,
        req: pb::GetFacetsRequest,
    ) -> Result<pb::GetFacetsResponse, ApiError> {
        use catalog_projector::query::{Key, facets::MAX_FACETS};
        if req.facets.is_empty() {
            return Err(ApiError::InvalidArgument(
                "facets is empty; name at least one field path".into(),
            ));
        }
        if req.facets.len() > MAX_FACETS {
            return Err(ApiError::InvalidArgument(format!(
                "facets has {} paths; at most {MAX_FACETS} are allowed",
                req.facets.len()
            )));
        }
        let keys = req
            .facets
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Key::parse(f)
                    .map_err(|e| ApiError::InvalidArgument(format!("facets[{i}] {f:?} {e}")))
            })
            .collect::<Result<Vec<Key>, ApiError>>()?;
        let filter = query::parse_filter(req.filter.as_ref())?;
        let client = self.pool.get().await?;
        let counts = catalog_projector::query::facets(&**client, &keys, &filter).await?;
        Ok(pb::GetFacetsResponse {
            facets: counts
                .into_iter()
                .map(|(key, values)| {
                    (
                        key,
                        pb::FacetValues {
                            values: values
                                .into_iter()
                                .map(|v| pb::FacetCount {
                                    value: v.value,
                                    count: v.count,
                                })
                                .collect(),
                        },
                    )
                })
                .collect(),
        })
    }

    async fn get_entity_history(
        &self,
        req: pb::GetEntityHistoryRequest,
    ) -> Result<pb::GetEntityHistoryResponse, ApiError> {
        use catalog_projector::query::{as_of, before, history};
        let entity_ref = parse_ref("entity_ref", &req.entity_ref)?.to_string();
        let limit = page_size("page_size", req.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let client = self.pool.get().await?;
        if let Some(at) = req.as_of {
            if !req.page_token.is_empty() {
                return Err(ApiError::InvalidArgument(
                    "as_of and page_token: set only one of them".into(),
                ));
            }
            let at =
                chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0))
                    .ok_or_else(|| ApiError::InvalidArgument("as_of is out of range".into()))?;
            let Some(version) = as_of(&**client, &entity_ref, at).await? else {
                return Ok(pb::GetEntityHistoryResponse::default());
            };
            let previous = before(&**client, &entity_ref, version.sequence).await?;
            return Ok(pb::GetEntityHistoryResponse {
                versions: vec![version_to_proto(version, previous.as_ref())],
                next_page_token: String::new(),
            });
        }
        let query_id = fingerprint(&format!("history:{entity_ref}"));
        let after = if req.page_token.is_empty() {
            0
        } else {
            self.tokens
                .decode(&query_id, &req.page_token)
                .map_err(|e| ApiError::InvalidArgument(e.to_string()))?
                .parse::<u64>()
                .map_err(|_| ApiError::InvalidArgument("page_token is not valid".into()))?
        };
        let mut versions = history(&**client, &entity_ref, after, limit + 1).await?;
        if versions.is_empty() && after == 0 {
            return Err(ApiError::NotFound(format!(
                "no entity {entity_ref} has ever existed"
            )));
        }
        let next_page_token = if versions.len() > limit {
            versions.truncate(limit);
            versions
                .last()
                .map(|v| self.tokens.encode(&query_id, &v.sequence.to_string()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let mut previous = match versions.first() {
            Some(first) => before(&**client, &entity_ref, first.sequence).await?,
            None => None,
        };
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            let proto = version_to_proto(v.clone(), previous.as_ref());
            previous = Some(v);
            out.push(proto);
        }
        Ok(pb::GetEntityHistoryResponse {
            versions: out,
            next_page_token,
        })
    }

    async fn get_relations(
        &self,
        req: pb::GetRelationsRequest,
    ) -> Result<pb::GetRelationsResponse, ApiError> {
        let entity_ref = parse_ref("entity_ref", &req.entity_ref)?.to_string();
        let types = relation_types(&req.types)?;
        let view = entity_view("view", req.view)?;
        let client = self.pool.get().await?;
        if query::get_entity(&client, &entity_ref).await?.is_none() {
            return Err(ApiError::NotFound(format!("no entity {entity_ref}")));
        }
        let edges = catalog_projector::query::relations(&**client, &entity_ref, &types).await?;
        let targets: Vec<String> = edges.iter().map(|e| e.target_ref.clone()).collect();
        let found = query::get_entities(&client, &targets).await?;
        Ok(pb::GetRelationsResponse {
            relations: edges
                .into_iter()
                .map(|e| pb::RelatedEntity {
                    entity: found
                        .get(&e.target_ref)
                        .cloned()
                        .map(|row| render(row, view, &Projection::default())),
                    r#type: e.kind,
                    target_ref: e.target_ref,
                })
                .collect(),
        })
    }

    async fn get_entity_ancestry(
        &self,
        req: pb::GetEntityAncestryRequest,
    ) -> Result<pb::GetEntityAncestryResponse, ApiError> {
        let entity_ref = parse_ref("entity_ref", &req.entity_ref)?.to_string();
        let client = self.pool.get().await?;
        crate::ancestry::ancestry(&**client, &entity_ref).await
    }

    async fn get_graph(&self, req: pb::GetGraphRequest) -> Result<pb::GetGraphResponse, ApiError> {
        let root = parse_ref("root_ref", &req.root_ref)?.to_string();
        let types = relation_types(&req.types)?;
        let depth = page_size("max_depth", req.max_depth, 3, 10)?;
        let max_nodes = page_size("max_nodes", req.max_nodes, 1000, 10_000)?;
        let client = self.pool.get().await?;
        if query::get_entity(&client, &root).await?.is_none() {
            return Err(ApiError::NotFound(format!("no entity {root}")));
        }
        let graph = catalog_projector::query::graph(
            &**client,
            &root,
            &types,
            u32::try_from(depth).unwrap_or(3),
            max_nodes,
        )
        .await?;
        Ok(pb::GetGraphResponse {
            nodes: graph
                .nodes
                .into_iter()
                .map(|n| {
                    let exists = n.entity.is_some();
                    let (kind, title) = n.entity.unwrap_or_default();
                    pb::GraphNode {
                        entity_ref: n.entity_ref,
                        depth: n.depth,
                        exists,
                        kind,
                        title: title.unwrap_or_default(),
                    }
                })
                .collect(),
            edges: graph
                .edges
                .into_iter()
                .map(|e| pb::GraphEdge {
                    source_ref: e.source_ref,
                    r#type: e.kind,
                    target_ref: e.target_ref,
                })
                .collect(),
            truncated: graph.truncated,
        })
    }

    async fn list_entities(
        &self,
        req: pb::ListEntitiesRequest,
    ) -> Result<pb::ListEntitiesResponse, ApiError> {
        let filter = query::parse_filter(req.filter.as_ref())?;
        let page_size = page_size("page_size", req.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let text = search_text("query", &req.query)?;
        let order = match req.order_by.as_ref().filter(|o| !o.field.is_empty()) {
            None => None,
            Some(o) => {
                let key = catalog_projector::query::Key::parse(&o.field).map_err(|e| {
                    ApiError::InvalidArgument(format!("order_by.field {:?} {e}", o.field))
                })?;
                match key.field_path() {
                    Some(path) if key != catalog_projector::query::Key::Uid => Some(query::Order {
                        path,
                        descending: o.descending,
                    }),
                    _ => {
                        return Err(ApiError::InvalidArgument(format!(
                            "order_by.field {:?} cannot be sorted on; use a field path",
                            o.field
                        )));
                    }
                }
            }
        };
        let projection = Projection::parse(&req.fields)?;
        let view = entity_view("view", req.view)?;
        let mut query_key = filter.canonical();
        if let Some(text) = text {
            query_key.push_str(&format!("\u{0}query={text}"));
        }
        if let Some(o) = &order {
            query_key.push_str(&format!("\u{0}order={}:{}", o.path, o.descending));
        }
        let query_id = fingerprint(&query_key);
        let after = if req.page_token.is_empty() {
            None
        } else {
            let decoded = self
                .tokens
                .decode(&query_id, &req.page_token)
                .map_err(|e| ApiError::InvalidArgument(e.to_string()))?;
            Some(match serde_json::from_str::<query::PageStart>(&decoded) {
                Ok(start) => start,
                // Unsorted pages of earlier releases started after a bare ref.
                Err(_) if order.is_none() => query::PageStart {
                    value: None,
                    entity_ref: decoded,
                    total: None,
                },
                Err(_) => return Err(ApiError::InvalidArgument("page_token is malformed".into())),
            })
        };
        let client = self.pool.get().await?;
        let (mut rows, total) = query::list_entities(
            &client,
            &filter,
            text,
            order.as_ref(),
            after.as_ref(),
            page_size,
        )
        .await?;
        let next_page_token = if rows.len() > page_size {
            rows.truncate(page_size);
            rows.last()
                .map(|(r, value)| {
                    let start = serde_json::to_string(&query::PageStart {
                        value: value.clone(),
                        entity_ref: r.entity_ref.clone(),
                        total: Some(total),
                    })
                    .unwrap_or_default();
                    self.tokens.encode(&query_id, &start)
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListEntitiesResponse {
            entities: rows
                .into_iter()
                .map(|(r, _)| render(r, view, &projection))
                .collect(),
            next_page_token,
            total_size: total,
        })
    }
}

/// Request header with which a client asks to read its own writes: the
/// stream sequence an `IngestService.Apply` (or any publish) returned.
pub const MIN_SEQUENCE_HEADER: &str = "catalog-min-sequence";
/// Longest wait for the read model when the call has no deadline.
const MAX_CONSISTENCY_WAIT: Duration = Duration::from_secs(10);

/// The call's deadline from its `grpc-timeout` header (`<n><H|M|S|m|u|n>`).
pub(crate) fn grpc_timeout<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (n, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl CatalogApi {
    /// With a `catalog-min-sequence` header: waits until every projector
    /// partition has applied that sequence, up to the call's deadline (at
    /// most 10 s), so the call reads the client's own writes.
    async fn wait_for_sequence<T>(&self, request: &Request<T>) -> Result<(), ApiError> {
        let Some(value) = request.metadata().get(MIN_SEQUENCE_HEADER) else {
            return Ok(());
        };
        let wanted: u64 = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                ApiError::InvalidArgument(format!(
                    "{MIN_SEQUENCE_HEADER} header {value:?} is not a stream sequence"
                ))
            })?;
        let wait = grpc_timeout(request)
            .unwrap_or(MAX_CONSISTENCY_WAIT)
            .min(MAX_CONSISTENCY_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let client = self.pool.get().await?;
            let reached: i64 = client
                .query_one(
                    "SELECT coalesce(min(stream_sequence), 0) FROM projector_checkpoints",
                    &[],
                )
                .await?
                .get(0);
            let reached = u64::try_from(reached).unwrap_or(0);
            if reached >= wanted {
                return Ok(());
            }
            if tokio::time::Instant::now() + CONSISTENCY_POLL > deadline {
                return Err(ApiError::DeadlineExceeded(format!(
                    "the read model has not reached sequence {wanted} within {} ms (it is at {reached})",
                    wait.as_millis()
                )));
            }
            tokio::time::sleep(CONSISTENCY_POLL).await;
        }
    }
}

/// How often the read model's progress is polled for read-your-writes.
const CONSISTENCY_POLL: Duration = Duration::from_millis(10);

/// Relation types from a request, naming the bad one.
fn relation_types(types: &[String]) -> Result<Vec<catalog_model::RelationType>, ApiError> {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            catalog_model::RelationType::parse(t).ok_or_else(|| {
                let known: Vec<&str> = catalog_model::RelationType::ALL
                    .iter()
                    .map(|t| t.as_str())
                    .collect();
                ApiError::InvalidArgument(format!(
                    "types[{i}] {t:?} is not a relation type; known: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// A search text: trimmed, `None` when empty, refused when too long or
/// holding a NUL.
fn search_text<'a>(field: &str, text: &'a str) -> Result<Option<&'a str>, ApiError> {
    use catalog_projector::query::search::MAX_QUERY_CHARS;
    let text = text.trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::InvalidArgument(format!(
            "{field} has {} characters; at most {MAX_QUERY_CHARS} are allowed",
            text.chars().count()
        )));
    }
    if text.contains('\0') {
        return Err(ApiError::InvalidArgument(format!(
            "{field} contains a NUL character"
        )));
    }
    Ok((!text.is_empty()).then_some(text))
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    type WatchEntitiesStream = crate::watch::WatchStream;

    #[tracing::instrument(skip_all, fields(rpc = "WatchEntities"))]
    async fn watch_entities(
        &self,
        request: Request<pb::WatchEntitiesRequest>,
    ) -> Result<Response<Self::WatchEntitiesStream>, Status> {
        let req = crate::watch::WatchRequest::parse(request.into_inner())?;
        let checkpoints = self
            .checkpoints
            .get_or_init(|| async {
                crate::checkpoint::Checkpoints::follow(
                    self.pool.clone(),
                    self.log.clone(),
                    self.shutdown.clone(),
                )
            })
            .await
            .clone();
        Ok(Response::new(
            crate::watch::watch(
                self.pool.clone(),
                self.log.clone(),
                checkpoints,
                req,
                self.shutdown.clone(),
            )
            .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetRelations", entity_ref = %request.get_ref().entity_ref))]
    async fn get_relations(
        &self,
        request: Request<pb::GetRelationsRequest>,
    ) -> Result<Response<pb::GetRelationsResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::get_relations(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetEntityAncestry", entity_ref = %request.get_ref().entity_ref))]
    async fn get_entity_ancestry(
        &self,
        request: Request<pb::GetEntityAncestryRequest>,
    ) -> Result<Response<pb::GetEntityAncestryResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::get_entity_ancestry(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetGraph", root_ref = %request.get_ref().root_ref))]
    async fn get_graph(
        &self,
        request: Request<pb::GetGraphRequest>,
    ) -> Result<Response<pb::GetGraphResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::get_graph(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "BatchGetEntities"))]
    async fn batch_get_entities(
        &self,
        request: Request<pb::BatchGetEntitiesRequest>,
    ) -> Result<Response<pb::BatchGetEntitiesResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::batch_get_entities(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "SearchEntities"))]
    async fn search_entities(
        &self,
        request: Request<pb::SearchEntitiesRequest>,
    ) -> Result<Response<pb::SearchEntitiesResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::search_entities(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetFacets"))]
    async fn get_facets(
        &self,
        request: Request<pb::GetFacetsRequest>,
    ) -> Result<Response<pb::GetFacetsResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::get_facets(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetEntityHistory", entity_ref = %request.get_ref().entity_ref))]
    async fn get_entity_history(
        &self,
        request: Request<pb::GetEntityHistoryRequest>,
    ) -> Result<Response<pb::GetEntityHistoryResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::get_entity_history(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetEntity", entity_ref = %request.get_ref().entity_ref))]
    async fn get_entity(
        &self,
        request: Request<pb::GetEntityRequest>,
    ) -> Result<Response<pb::GetEntityResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::get_entity(self, request.into_inner()).await?
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListEntities"))]
    async fn list_entities(
        &self,
        request: Request<pb::ListEntitiesRequest>,
    ) -> Result<Response<pb::ListEntitiesResponse>, Status> {
        Ok(Response::new({
            self.wait_for_sequence(&request).await?;
            CatalogApi::list_entities(self, request.into_inner()).await?
        }))
    }
}
