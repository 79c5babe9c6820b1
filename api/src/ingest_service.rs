//! `catalog.v1.IngestService`: push ingestion over gRPC.

use catalog_ingest::push::{Outcome, PushError, PushResult, Pusher};
use catalog_proto::v1 as pb;
use catalog_proto::v1::apply_result::Outcome as PbOutcome;
use catalog_proto::v1::ingest_service_server::IngestService;
use tonic::{Request, Response, Status};

use std::sync::Arc;

use crate::auth::{Authorizer, Owned, require_owner};
use crate::error::ApiError;

/// The service implementation.
#[derive(Clone)]
pub struct IngestApi {
    pusher: Pusher,
    authorizer: Option<Arc<Authorizer>>,
}

impl IngestApi {
    pub fn new(pusher: Pusher) -> Self {
        Self {
            pusher,
            authorizer: None,
        }
    }

    /// Applies the ownership rules of `authorizer` (`crate::auth`).
    pub fn with_authorizer(mut self, authorizer: Arc<Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::BadSource(_) | PushError::TooMany(_) => Self::InvalidArgument(e.to_string()),
            PushError::EventLog(e) => Self::Unavailable(e.to_string()),
        }
    }
}

/// `"2 Created, 1 Unchanged"`: the outcomes of a push, for the log.
fn summary(results: &[PushResult]) -> String {
    let mut counts: Vec<(Outcome, usize)> = Vec::new();
    for r in results {
        match counts.iter_mut().find(|(o, _)| *o == r.outcome) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.outcome, 1)),
        }
    }
    counts
        .iter()
        .map(|(o, n)| format!("{n} {o:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_proto(r: PushResult) -> pb::ApplyResult {
    let outcome = match r.outcome {
        Outcome::Created => PbOutcome::Created,
        Outcome::Updated => PbOutcome::Updated,
        Outcome::Unchanged => PbOutcome::Unchanged,
        Outcome::Invalid => PbOutcome::Invalid,
        Outcome::Conflict => PbOutcome::Conflict,
        Outcome::Failed => PbOutcome::Failed,
        Outcome::Deleted => PbOutcome::Deleted,
        Outcome::NotFound => PbOutcome::NotFound,
    };
    pb::ApplyResult {
        name: r.name,
        entity_ref: r.entity_ref.map(|e| e.to_string()).unwrap_or_default(),
        outcome: outcome as i32,
        message: r.message,
        sequence: r.sequence,
    }
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    #[tracing::instrument(skip_all, fields(rpc = "Apply", source = %request.get_ref().source, n = request.get_ref().descriptors.len()))]
    async fn apply(
        &self,
        request: Request<pb::ApplyRequest>,
    ) -> Result<Response<pb::ApplyResponse>, Status> {
        let req = request.into_inner();
        let descriptors: Vec<(String, String)> = req
            .descriptors
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let name = if d.name.is_empty() {
                    format!("descriptors[{i}]")
                } else {
                    d.name
                };
                (name, d.content)
            })
            .collect();
        let results = self
            .pusher
            .apply(&req.source, &descriptors, req.dry_run)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(outcomes = %summary(&results), dry_run = req.dry_run, "applied");
        Ok(Response::new(pb::ApplyResponse {
            results: results.into_iter().map(to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "Delete", source = %request.get_ref().source))]
    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        if let Some(authorizer) = &self.authorizer {
            let refs = &request.get_ref().entity_refs;
            require_owner(&request, authorizer, Owned::All(refs)).await?;
        }
        let req = request.into_inner();
        let results = self
            .pusher
            .delete(&req.source, &req.entity_refs)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(outcomes = %summary(&results), "deleted");
        Ok(Response::new(pb::DeleteResponse {
            results: results.into_iter().map(to_proto).collect(),
        }))
    }
}
