//! `catalog.v1.LocationService`: registering locations is an event on the
//! log; listing reads the `locations` and `location_status` read models.

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use catalog_eventlog::location::registration_subject;
use catalog_eventlog::{
    EventLog, LocationEvent, PublishOutcome, Publisher, decode_location_event, location_id,
};
use catalog_ingest::crawl::{crawl_once, problem_to_proto};
use catalog_ingest::lease::{existing_bucket, holder};
use catalog_ingest::location::{LocationSpec, LocationType};
use catalog_model::EntityRef;
use catalog_model::kinds::KindPolicy;
use catalog_proto::v1 as pb;
use catalog_proto::v1::location_event::Change;
use catalog_proto::v1::location_service_server::LocationService;
use deadpool_postgres::Pool;
use std::time::Duration;

use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::sync::Arc;

use crate::auth::{Authorizer, Owned, require_owner};
use crate::error::ApiError;
use crate::service::grpc_timeout;

/// Longest wait for a refresh to be reported.
const MAX_REFRESH_WAIT: Duration = Duration::from_secs(30);
/// How often the status is polled while waiting for a refresh.
const REFRESH_POLL: Duration = Duration::from_millis(50);

/// How long a refresh call with `wait` may wait.
fn refresh_wait<T>(request: &Request<T>, wait: bool) -> Option<Duration> {
    wait.then(|| {
        grpc_timeout(request)
            .unwrap_or(MAX_REFRESH_WAIT)
            .min(MAX_REFRESH_WAIT)
    })
}

/// The service implementation.
#[derive(Clone)]
pub struct LocationApi {
    pool: Pool,
    log: EventLog,
    publisher: Publisher,
    policy: KindPolicy,
    allow_files: bool,
    authorizer: Option<Arc<Authorizer>>,
}

const SELECT: &str = "SELECT COALESCE(l.id, s.id), COALESCE(l.location_key, s.location_key), l.type, l.target, \
       s.refreshed_at, s.outcome, s.entities, s.problems, s.static, l.registered_by, s.refresh_sequence \
     FROM locations l FULL OUTER JOIN location_status s ON s.id = l.id";

fn problem_of(v: &serde_json::Value) -> pb::LocationProblem {
    pb::LocationProblem {
        location: v["location"].as_str().unwrap_or_default().to_string(),
        document: v["document"]
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(0),
        field: v["field"].as_str().unwrap_or_default().to_string(),
        message: v["message"].as_str().unwrap_or_default().to_string(),
    }
}

fn row_to_location(row: &tokio_postgres::Row) -> pb::Location {
    let id: Uuid = row.get(0);
    let key: String = row.get(1);
    let (kind, target) = match (
        row.get::<_, Option<String>>(2),
        row.get::<_, Option<String>>(3),
    ) {
        (Some(k), Some(t)) => (k, t),
        _ => key
            .split_once(':')
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .unwrap_or_default(),
    };
    let status = row
        .get::<_, Option<chrono::DateTime<chrono::Utc>>>(4)
        .map(|refreshed| pb::LocationStatus {
            refreshed_at: Some(prost_types::Timestamp {
                seconds: refreshed.timestamp(),
                nanos: i32::try_from(refreshed.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            outcome: match row.get::<_, Option<String>>(5).as_deref() {
                Some("failed") => pb::location_status::Outcome::Failed,
                Some("partial") => pb::location_status::Outcome::Partial,
                _ => pb::location_status::Outcome::Ok,
            } as i32,
            entities: row
                .get::<_, Option<i32>>(6)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            problems: row
                .get::<_, Option<serde_json::Value>>(7)
                .and_then(|v| v.as_array().map(|a| a.iter().map(problem_of).collect()))
                .unwrap_or_default(),
            r#static: row.get::<_, Option<bool>>(8).unwrap_or(false),
            refresh_sequence: row
                .get::<_, Option<i64>>(10)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
        });
    pb::Location {
        id: id.to_string(),
        r#type: kind,
        target,
        registered: row.get::<_, Option<String>>(9).as_deref() == Some("api"),
        status,
    }
}

impl LocationApi {
    pub fn new(pool: Pool, log: EventLog, policy: KindPolicy, allow_files: bool) -> Self {
        Self {
            allow_files,
            publisher: Publisher::new(log.clone()),
            pool,
            log,
            policy,
            authorizer: None,
        }
    }

    /// Applies the ownership rules of `authorizer` (`crate::auth`).
    pub fn with_authorizer(mut self, authorizer: Arc<Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// The key of the location with `id`, if it is known.
    async fn key_of(&self, id: &str) -> Result<Option<String>, ApiError> {
        Ok(self.row(id).await?.map(|r| r.get(1)))
    }

    /// Ownership of the location `id` (or `key`), when the caller's scope
    /// does not suffice; an unknown location is left to the call to report.
    async fn require_location_owner<T>(
        &self,
        request: &Request<T>,
        id: &str,
        key: Option<&str>,
        all: bool,
    ) -> Result<(), Status> {
        let Some(authorizer) = &self.authorizer else {
            return Ok(());
        };
        if !authorizer.enabled()
            || request
                .extensions()
                .get::<crate::auth::Access>()
                .is_some_and(|a| a.granted)
        {
            return Ok(());
        }
        let key = match key {
            Some(k) => {
                let cwd = std::env::current_dir().unwrap_or_default();
                LocationSpec::parse_key(k, &cwd)
                    .map_err(|e| ApiError::InvalidArgument(format!("location_key: {e}")))?
                    .key()
            }
            None => match self.key_of(id).await? {
                Some(k) => k,
                None => return Err(ApiError::NotFound(format!("no location {id}")).into()),
            },
        };
        let what = if all {
            Owned::AllOfLocation(&key)
        } else {
            Owned::AnyOfLocation(&key)
        };
        require_owner(request, authorizer, what).await
    }

    /// The row of the location with `id`.
    async fn row(&self, id: &str) -> Result<Option<tokio_postgres::Row>, ApiError> {
        let uuid = Uuid::parse_str(id)
            .map_err(|_| ApiError::InvalidArgument(format!("id {id:?} is not a location id")))?;
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                &format!("{SELECT} WHERE COALESCE(l.id, s.id) = $1"),
                &[&uuid],
            )
            .await?)
    }

    async fn get(&self, id: &str) -> Result<Option<pb::Location>, ApiError> {
        Ok(self.row(id).await?.as_ref().map(row_to_location))
    }

    /// The last registration event of a location: its sequence and, when it
    /// registers the location, its key and who registered it.
    async fn registration(
        &self,
        id: &str,
    ) -> Result<Option<(u64, Option<(String, String)>)>, ApiError> {
        let subject = registration_subject(self.log.prefix(), id);
        let stream = self
            .log
            .stream()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => {
                let registered =
                    match decode_location_event(self.log.prefix(), &subject, &m.payload) {
                        Ok(LocationEvent {
                            change: Change::Registered(r),
                            location_key,
                            ..
                        }) => Some((location_key, r.registered_by)),
                        _ => None,
                    };
                Ok(Some((m.sequence, registered)))
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        }
    }

    async fn register(
        &self,
        req: pb::RegisterLocationRequest,
    ) -> Result<pb::RegisterLocationResponse, ApiError> {
        let kind = if req.r#type.is_empty() {
            "url"
        } else {
            req.r#type.as_str()
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        let spec = LocationSpec::parse_key(&format!("{kind}:{}", req.target), &cwd)
            .map_err(|e| ApiError::InvalidArgument(format!("type/target: {e}")))?;
        if spec.kind == LocationType::File && !self.allow_files {
            return Err(ApiError::InvalidArgument(
                "file locations cannot be registered through the API here (api.allow_file_locations is off)".into(),
            ));
        }
        let key = spec.key();
        let id = location_id(&key);
        let existing = self.registration(&id).await?;
        let exists = existing
            .as_ref()
            .is_some_and(|(_, registered)| registered.is_some());
        let location = pb::Location {
            id: id.clone(),
            r#type: spec.kind.as_str().to_string(),
            target: spec.target.clone(),
            status: None,
            registered: true,
        };
        if req.dry_run {
            let outcome = crawl_once(&spec, &self.policy)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            return Ok(pb::RegisterLocationResponse {
                location: Some(location),
                exists,
                entities: outcome
                    .found()
                    .map(|f| catalog_proto::json_to_struct(&f.entity.to_value()))
                    .collect(),
                problems: outcome.problems.iter().map(problem_to_proto).collect(),
            });
        }
        if !exists {
            let event = LocationEvent::new(
                &key,
                Change::Registered(pb::LocationRegistered {
                    r#type: spec.kind.as_str().to_string(),
                    target: spec.target.clone(),
                    registered_by: "api".into(),
                }),
            );
            let expected = existing.as_ref().map_or(0, |(seq, _)| *seq);
            match self
                .publisher
                .publish_location(&event, Some(expected))
                .await
            {
                PublishOutcome::Stored { .. } => {}
                // Registered concurrently by someone else: it exists.
                PublishOutcome::Conflict => return self.registered(location, true).await,
                PublishOutcome::Failed(e) => return Err(ApiError::Unavailable(e)),
            }
        }
        self.registered(location, exists).await
    }

    async fn registered(
        &self,
        location: pb::Location,
        exists: bool,
    ) -> Result<pb::RegisterLocationResponse, ApiError> {
        let status = self.get(&location.id).await?.and_then(|l| l.status);
        Ok(pb::RegisterLocationResponse {
            location: Some(pb::Location { status, ..location }),
            exists,
            entities: Vec::new(),
            problems: Vec::new(),
        })
    }

    /// Asks the ingest workers to read a location now; with `wait`, waits
    /// (up to `wait_limit`) for the status report that answers the request.
    async fn refresh(
        &self,
        id: &str,
        entity_ref: Option<String>,
        wait: Option<Duration>,
    ) -> Result<pb::RefreshResponse, ApiError> {
        let uuid = Uuid::parse_str(id)
            .map_err(|_| ApiError::InvalidArgument(format!("id {id:?} is not a location id")))?;
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("{SELECT} WHERE COALESCE(l.id, s.id) = $1"),
                &[&uuid],
            )
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no location {uuid}")))?;
        drop(client);
        let key: String = row.get(1);
        let event = LocationEvent::new(
            &key,
            Change::RefreshRequested(pb::LocationRefreshRequested {
                requested_by: "api".into(),
                entity_ref: entity_ref.unwrap_or_default(),
            }),
        );
        let request_sequence = match self.publisher.publish_location(&event, None).await {
            PublishOutcome::Stored { sequence, .. } => sequence,
            PublishOutcome::Conflict => {
                return Err(ApiError::Unavailable(
                    "refresh request conflicted; retry".into(),
                ));
            }
            PublishOutcome::Failed(e) => return Err(ApiError::Unavailable(e)),
        };
        let Some(wait) = wait else {
            return Ok(pb::RefreshResponse {
                location: Some(row_to_location(&row)),
                request_sequence,
                status_sequence: 0,
            });
        };
        let deadline = tokio::time::Instant::now() + wait;
        let wanted = i64::try_from(request_sequence).unwrap_or(i64::MAX);
        loop {
            let client = self.pool.get().await?;
            let answered = client
                .query_opt(
                    "SELECT sequence FROM location_status WHERE id = $1 AND refresh_sequence >= $2",
                    &[&uuid, &wanted],
                )
                .await?;
            if let Some(answered) = answered {
                let status_sequence = u64::try_from(answered.get::<_, i64>(0)).unwrap_or(0);
                let location = self.get(&uuid.to_string()).await?;
                return Ok(pb::RefreshResponse {
                    location: location.or_else(|| Some(row_to_location(&row))),
                    request_sequence,
                    status_sequence,
                });
            }
            drop(client);
            if tokio::time::Instant::now() + REFRESH_POLL > deadline {
                return Err(ApiError::DeadlineExceeded(format!(
                    "refresh of location {key} was requested (sequence {request_sequence}) but no \
                     ingest worker reported reading it within {} ms",
                    wait.as_millis()
                )));
            }
            tokio::time::sleep(REFRESH_POLL).await;
        }
    }

    /// The location an entity was read from.
    async fn origin_of(&self, entity_ref: &str) -> Result<String, ApiError> {
        let parsed: EntityRef = entity_ref
            .parse()
            .map_err(|e| ApiError::InvalidArgument(format!("entity_ref {entity_ref:?}: {e}")))?;
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT entity #>> '{metadata,annotations,backstage.io/managed-by-origin-location}' \
                 FROM entities WHERE entity_ref = $1",
                &[&parsed.to_string()],
            )
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no entity {parsed}")))?;
        let origin: Option<String> = row.get(0);
        match origin {
            Some(o) if o.starts_with("push:") => Err(ApiError::FailedPrecondition(format!(
                "entity {parsed} was pushed by {o}, not read from a location; push it again to refresh it"
            ))),
            Some(o) if !o.is_empty() => Ok(location_id(&o)),
            _ => Err(ApiError::FailedPrecondition(format!(
                "entity {parsed} names no origin location to refresh"
            ))),
        }
    }

    /// Publishes an unregistration for a location key that is not registered
    /// (a location no worker reads any more), freeing its entities.
    async fn forget(&self, key: &str) -> Result<(), ApiError> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let spec = LocationSpec::parse_key(key, &cwd)
            .map_err(|e| ApiError::InvalidArgument(format!("location_key: {e}")))?;
        let key = spec.key();
        let id = location_id(&key);
        if let Some(store) = existing_bucket(&self.log).await
            && let Some(worker) = holder(&store, &key).await
        {
            return Err(ApiError::InvalidArgument(format!(
                "location {key} is being read by ingest worker {worker}; remove it from that worker's \
                 configuration, or unregister it by id if it was registered through the API"
            )));
        }
        // Whoever registered it (the API, or the configuration of a worker
        // that no longer runs), it is unregistered.
        let expected = self.registration(&id).await?.map(|(seq, _)| seq);
        let event = LocationEvent::new(&key, Change::Unregistered(pb::LocationUnregistered {}));
        match self.publisher.publish_location(&event, expected).await {
            PublishOutcome::Stored { .. } => Ok(()),
            PublishOutcome::Conflict => Err(ApiError::Unavailable(
                "location changed concurrently; retry".into(),
            )),
            PublishOutcome::Failed(e) => Err(ApiError::Unavailable(e)),
        }
    }

    async fn unregister(&self, id: &str) -> Result<(), ApiError> {
        let uuid = Uuid::parse_str(id)
            .map_err(|_| ApiError::InvalidArgument(format!("id {id:?} is not a location id")))?;
        let id = uuid.to_string();
        let from_config =
            |l: &pb::Location| !l.registered || l.status.as_ref().is_some_and(|s| s.r#static);
        match self.registration(&id).await? {
            // Decided from the log itself, so an unregistration right after
            // the registration does not wait for the read model.
            Some((seq, Some((key, registered_by)))) => {
                let configured = !registered_by.is_empty() && registered_by != "api";
                if configured {
                    return Err(ApiError::InvalidArgument(format!(
                        "location {id} comes from configuration and cannot be unregistered"
                    )));
                }
                let event =
                    LocationEvent::new(&key, Change::Unregistered(pb::LocationUnregistered {}));
                match self.publisher.publish_location(&event, Some(seq)).await {
                    PublishOutcome::Stored { .. } => Ok(()),
                    PublishOutcome::Conflict => Err(ApiError::Unavailable(
                        "location changed concurrently; retry".into(),
                    )),
                    PublishOutcome::Failed(e) => Err(ApiError::Unavailable(e)),
                }
            }
            _ => match self.get(&id).await? {
                Some(l) if from_config(&l) => Err(ApiError::InvalidArgument(format!(
                    "location {id} comes from configuration and cannot be unregistered"
                ))),
                _ => Err(ApiError::NotFound(format!("no registered location {id}"))),
            },
        }
    }
}

#[tonic::async_trait]
impl LocationService for LocationApi {
    async fn register_location(
        &self,
        request: Request<pb::RegisterLocationRequest>,
    ) -> Result<Response<pb::RegisterLocationResponse>, Status> {
        Ok(Response::new(self.register(request.into_inner()).await?))
    }

    async fn unregister_location(
        &self,
        request: Request<pb::UnregisterLocationRequest>,
    ) -> Result<Response<pb::UnregisterLocationResponse>, Status> {
        let key = Some(request.get_ref().location_key.as_str()).filter(|k| !k.is_empty());
        self.require_location_owner(&request, &request.get_ref().id, key, true)
            .await?;
        let req = request.into_inner();
        if req.location_key.is_empty() {
            self.unregister(&req.id).await?;
        } else {
            self.forget(&req.location_key).await?;
        }
        Ok(Response::new(pb::UnregisterLocationResponse {}))
    }

    async fn list_locations(
        &self,
        _request: Request<pb::ListLocationsRequest>,
    ) -> Result<Response<pb::ListLocationsResponse>, Status> {
        let client = self.pool.get().await.map_err(ApiError::from)?;
        let rows = client
            .query(&format!("{SELECT} ORDER BY 2"), &[])
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListLocationsResponse {
            locations: rows.iter().map(row_to_location).collect(),
        }))
    }

    async fn refresh_location(
        &self,
        request: Request<pb::RefreshLocationRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let wait = refresh_wait(&request, request.get_ref().wait);
        self.require_location_owner(&request, &request.get_ref().id, None, false)
            .await?;
        let req = request.into_inner();
        Ok(Response::new(self.refresh(&req.id, None, wait).await?))
    }

    async fn refresh_entity(
        &self,
        request: Request<pb::RefreshEntityRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let wait = refresh_wait(&request, request.get_ref().wait);
        if let Some(authorizer) = &self.authorizer {
            let refs = std::slice::from_ref(&request.get_ref().entity_ref);
            require_owner(&request, authorizer, Owned::All(refs)).await?;
        }
        let req = request.into_inner();
        let id = self.origin_of(&req.entity_ref).await?;
        Ok(Response::new(
            self.refresh(&id, Some(req.entity_ref), wait).await?,
        ))
    }

    async fn get_location(
        &self,
        request: Request<pb::GetLocationRequest>,
    ) -> Result<Response<pb::Location>, Status> {
        let id = request.into_inner().id;
        let location = self
            .get(&id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no location {id}")))?;
        Ok(Response::new(location))
    }
}
