//! Backstage's location endpoints, refresh, entity validation and location
//! analysis, over `LocationService` and `IngestService`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog_model::EntityRef;
use catalog_proto::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};

use super::predicate;
use super::{Req, RestError, query_pairs};
use crate::routes::AppState;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn location_json(l: &pb::Location) -> Value {
    json!({"id": l.id, "type": l.r#type, "target": l.target})
}

async fn all_locations(state: &AppState, req: &Req) -> Result<Vec<pb::Location>, RestError> {
    Ok(state
        .locations
        .clone()
        .list_locations(pb::ListLocationsRequest {})
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner()
        .locations)
}

/// `GET /locations`: `[{data: {id, type, target}}]`.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Json<Value>, RestError> {
    let items: Vec<Value> = all_locations(&state, &req)
        .await?
        .iter()
        .map(|l| json!({ "data": location_json(l) }))
        .collect();
    Ok(Json(Value::Array(items)))
}

async fn get_location(state: &AppState, req: &Req, id: &str) -> Result<pb::Location, RestError> {
    match state
        .locations
        .clone()
        .get_location(pb::GetLocationRequest { id: id.to_string() })
        .await
    {
        Ok(l) => Ok(l.into_inner()),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::NotFound | tonic::Code::InvalidArgument
            ) =>
        {
            Err(req.error(
                StatusCode::NOT_FOUND,
                format!("Found no location with ID {id}"),
            ))
        }
        Err(s) => Err(req.grpc_error(s)),
    }
}

/// `GET /locations/{id}`.
pub async fn get(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    Ok(Json(location_json(&get_location(&state, &req, &id).await?)))
}

/// `GET /locations/by-entity/{kind}/{namespace}/{name}`: the location the
/// entity was read from (its root location).
pub async fn by_entity(
    State(state): State<AppState>,
    req: Req,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, RestError> {
    let entity_ref = EntityRef::new(&kind, &namespace, &name).to_string();
    let chain = state
        .catalog
        .clone()
        .get_entity_ancestry(pb::GetEntityAncestryRequest {
            entity_ref: entity_ref.clone(),
        })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::NotFound => req.error(
                StatusCode::NOT_FOUND,
                format!("No {kind} entity named '{name}' found in namespace '{namespace}'"),
            ),
            _ => req.grpc_error(s),
        })?
        .into_inner();
    if chain.origin_location_id.is_empty() {
        return Err(req.error(
            StatusCode::NOT_FOUND,
            format!(
                "{entity_ref} has no location: it was pushed by {}",
                chain.origin
            ),
        ));
    }
    Ok(Json(location_json(
        &get_location(&state, &req, &chain.origin_location_id).await?,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    r#type: Option<String>,
    target: String,
}

/// `POST /locations[?dryRun=true]`: 201 `{location, entities, exists?}`; 409
/// when the location is already registered (unless a dry run).
pub async fn create(
    State(state): State<AppState>,
    req: Req,
    RawQuery(query): RawQuery,
    body: JsonBody<CreateBody>,
) -> Result<Response, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let dry_run = query_pairs(query)
        .iter()
        .any(|(k, v)| k == "dryRun" && v == "true");
    let kind = body.r#type.unwrap_or_else(|| "url".into());
    let registered = state
        .locations
        .clone()
        .register_location(pb::RegisterLocationRequest {
            r#type: kind.clone(),
            target: body.target.clone(),
            dry_run,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner();
    if registered.exists && !dry_run {
        return Err(req.error(
            StatusCode::CONFLICT,
            format!("Location {kind}:{} already exists", body.target),
        ));
    }
    let location = registered.location.as_ref().map(location_json);
    let entities: Vec<Value> = registered
        .entities
        .iter()
        .map(catalog_proto::struct_to_json)
        .collect();
    let mut out = json!({"location": location, "entities": entities});
    if dry_run {
        out["exists"] = Value::Bool(registered.exists);
        if !registered.problems.is_empty() {
            out["problems"] = registered
                .problems
                .iter()
                .map(|p| {
                    json!({"location": p.location, "document": p.document, "field": p.field, "message": p.message})
                })
                .collect();
        }
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `DELETE /locations/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, RestError> {
    state
        .locations
        .clone()
        .unregister_location(pb::UnregisterLocationRequest {
            id: id.clone(),
            location_key: String::new(),
        })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::NotFound => req.error(
                StatusCode::NOT_FOUND,
                format!("Found no location with ID {id}"),
            ),
            tonic::Code::InvalidArgument if s.message().contains("configuration") => {
                req.error(StatusCode::FORBIDDEN, s.message().to_string())
            }
            _ => req.grpc_error(s),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationQueryBody {
    #[serde(default)]
    query: Option<Value>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `POST /locations/by-query`: `{items, totalItems, pageInfo}`, filtered by a
/// predicate over `id`, `type` and `target`. The cursor is the offset.
pub async fn query(
    State(state): State<AppState>,
    req: Req,
    body: JsonBody<LocationQueryBody>,
) -> Result<Json<Value>, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let limit = body.limit.unwrap_or(20).clamp(1, 1000);
    let offset: usize = match &body.cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| req.bad_request("invalid cursor: not a cursor this catalog issued"))?,
    };
    let mut matching = Vec::new();
    for l in all_locations(&state, &req).await? {
        let doc = location_json(&l);
        let keep = match &body.query {
            None => true,
            Some(q) => predicate::matches_object(q, &doc).map_err(|m| req.bad_request(m))?,
        };
        if keep {
            matching.push(doc);
        }
    }
    let total = matching.len();
    let items: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    let mut page_info = serde_json::Map::new();
    if offset + items.len() < total {
        page_info.insert(
            "nextCursor".into(),
            Value::String((offset + items.len()).to_string()),
        );
    }
    if offset > 0 {
        page_info.insert(
            "prevCursor".into(),
            Value::String(offset.saturating_sub(limit).to_string()),
        );
    }
    Ok(Json(
        json!({"items": items, "totalItems": total, "pageInfo": page_info}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    entity_ref: String,
}

/// `POST /refresh {entityRef}`: schedules a re-read of the entity's location
/// (200 at once, as in Backstage).
pub async fn refresh(
    State(state): State<AppState>,
    req: Req,
    body: JsonBody<RefreshBody>,
) -> Result<StatusCode, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    state
        .locations
        .clone()
        .refresh_entity(pb::RefreshEntityRequest {
            entity_ref: body.entity_ref,
            wait: false,
        })
        .await
        .map_err(|s| req.grpc_error(s))?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ValidateBody {
    entity: Value,
    #[serde(default)]
    location: Option<String>,
}

/// `POST /validate-entity {entity, location}`: 200, or 400 with every
/// problem. Validated by `IngestService.Apply` as a dry run.
pub async fn validate(
    State(state): State<AppState>,
    req: Req,
    body: JsonBody<ValidateBody>,
) -> Result<Response, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    if let Some(location) = &body.location
        && !location.starts_with("url:")
    {
        return Err(req.bad_request(format!(
            "location {location:?}: only url: locations can be given"
        )));
    }
    let results = state
        .ingest
        .clone()
        .apply(pb::ApplyRequest {
            source: "validate-entity".into(),
            descriptors: vec![pb::Descriptor {
                content: body.entity.to_string(),
                name: "entity.json".into(),
            }],
            dry_run: true,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner()
        .results;
    let invalid: Vec<Value> = results
        .iter()
        .filter(|r| r.outcome() == pb::apply_result::Outcome::Invalid)
        .map(|r| json!({"name": "InputError", "message": r.message}))
        .collect();
    if invalid.is_empty() {
        Ok(StatusCode::OK.into_response())
    } else {
        Ok((StatusCode::BAD_REQUEST, Json(json!({ "errors": invalid }))).into_response())
    }
}

#[derive(Deserialize)]
pub struct AnalyzeBody {
    location: AnalyzeLocation,
}

#[derive(Deserialize)]
pub struct AnalyzeLocation {
    #[serde(default)]
    r#type: Option<String>,
    target: String,
}

/// `POST /analyze-location`: the entities a location holds (read without
/// registering it) and whether each is already in the catalog. Entity
/// generation for repositories without descriptors is not offered.
pub async fn analyze(
    State(state): State<AppState>,
    req: Req,
    body: JsonBody<AnalyzeBody>,
) -> Result<Json<Value>, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let kind = body.location.r#type.unwrap_or_else(|| "url".into());
    let dry = state
        .locations
        .clone()
        .register_location(pb::RegisterLocationRequest {
            r#type: kind.clone(),
            target: body.location.target.clone(),
            dry_run: true,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner();
    let entities: Vec<Value> = dry
        .entities
        .iter()
        .map(catalog_proto::struct_to_json)
        .collect();
    let refs: Vec<String> = entities
        .iter()
        .map(|e| {
            EntityRef::new(
                e["kind"].as_str().unwrap_or_default(),
                e["metadata"]["namespace"].as_str().unwrap_or("default"),
                e["metadata"]["name"].as_str().unwrap_or_default(),
            )
            .to_string()
        })
        .collect();
    let known = state
        .catalog
        .clone()
        .batch_get_entities(pb::BatchGetEntitiesRequest {
            entity_refs: refs.clone(),
            view: pb::EntityView::Json as i32,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner()
        .items;
    let files: Vec<Value> = entities
        .into_iter()
        .zip(known)
        .map(|(entity, known)| {
            let location = entity["metadata"]["annotations"]["backstage.io/managed-by-location"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let (t, target) = location
                .split_once(':')
                .map(|(t, rest)| (t.to_string(), rest.to_string()))
                .unwrap_or((kind.clone(), body.location.target.clone()));
            json!({
                "entity": entity,
                "isRegistered": known.entity.is_some(),
                "location": {"type": t, "target": target},
            })
        })
        .collect();
    Ok(Json(
        json!({"existingEntityFiles": files, "generateEntities": []}),
    ))
}
