//! `catalog.v1.CatalogService`.

use catalog_model::EntityRef;
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_server::CatalogService;
use deadpool_postgres::Pool;
use tonic::{Request, Response, Status};

use crate::convert::entity_to_proto;
use crate::error::ApiError;
use crate::page_token::{PageTokens, fingerprint};
use crate::query;

/// Page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The service implementation.
#[derive(Clone)]
pub struct CatalogApi {
    pool: Pool,
    tokens: PageTokens,
}

impl CatalogApi {
    pub fn new(pool: Pool, page_token_secret: &str) -> Self {
        Self {
            pool,
            tokens: PageTokens::new(page_token_secret),
        }
    }

    async fn get_entity(
        &self,
        req: pb::GetEntityRequest,
    ) -> Result<pb::GetEntityResponse, ApiError> {
        let entity_ref: EntityRef = req
            .entity_ref
            .parse()
            .map_err(|e| ApiError::InvalidArgument(format!("entity_ref: {e}")))?;
        let client = self.pool.get().await?;
        let row = query::get_entity(&**client, &entity_ref.to_string())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no entity {entity_ref}")))?;
        Ok(pb::GetEntityResponse {
            entity: Some(entity_to_proto(row)),
        })
    }

    async fn list_entities(
        &self,
        req: pb::ListEntitiesRequest,
    ) -> Result<pb::ListEntitiesResponse, ApiError> {
        let filter = query::parse_filter(req.filter.as_ref())?;
        let page_size = match usize::try_from(req.page_size).unwrap_or(usize::MAX) {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(ApiError::InvalidArgument(format!(
                    "page_size {n} is larger than the maximum of {MAX_PAGE_SIZE}"
                )));
            }
            n => n,
        };
        let query_id = fingerprint(&filter.canonical());
        let after = if req.page_token.is_empty() {
            None
        } else {
            Some(
                self.tokens
                    .decode(&query_id, &req.page_token)
                    .map_err(|e| ApiError::InvalidArgument(e.to_string()))?,
            )
        };
        let client = self.pool.get().await?;
        let (mut rows, total) =
            query::list_entities(&**client, &filter, after.as_deref(), page_size).await?;
        let next_page_token = if rows.len() > page_size {
            rows.truncate(page_size);
            rows.last()
                .map(|r| self.tokens.encode(&query_id, &r.entity_ref))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListEntitiesResponse {
            entities: rows.into_iter().map(entity_to_proto).collect(),
            next_page_token,
            total_size: total,
        })
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    #[tracing::instrument(skip_all, fields(rpc = "GetEntity", entity_ref = %request.get_ref().entity_ref))]
    async fn get_entity(
        &self,
        request: Request<pb::GetEntityRequest>,
    ) -> Result<Response<pb::GetEntityResponse>, Status> {
        Ok(Response::new(
            CatalogApi::get_entity(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListEntities"))]
    async fn list_entities(
        &self,
        request: Request<pb::ListEntitiesRequest>,
    ) -> Result<Response<pb::ListEntitiesResponse>, Status> {
        Ok(Response::new(
            CatalogApi::list_entities(self, request.into_inner()).await?,
        ))
    }
}
