//! Backstage's entity endpoints under `/api/catalog`: lists (`/entities`,
//! `/entities/by-query` GET and POST), lookups (by uid, by name, by refs),
//! ancestry, facets (GET and POST) and deletion by uid.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_model::EntityRef;
use catalog_proto::v1 as pb;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Req, RestError, parse_filters, predicate_filter, query_pairs};
use crate::convert::{entity_raw, entity_value};
use catalog_model::projection::select_fields;

/// Entities are asked of the API as JSON text, which the bridge passes on.
const JSON_VIEW: i32 = pb::EntityView::Json as i32;
use crate::routes::AppState;

/// Page size used when a REST call asks for every entity.
const FULL_LIST_PAGE: u32 = 200;
/// Largest `limit` (and `offset + limit`) accepted.
const MAX_LIMIT: u32 = 1000;
/// Backstage's default `limit` for `/entities/by-query`.
const DEFAULT_QUERY_LIMIT: u32 = 20;
/// Earlier pages a cursor remembers (for `prevCursor`).
const MAX_PREVIOUS: usize = 50;

fn parse_limit(req: &Req, name: &str, v: &str) -> Result<u32, RestError> {
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(req.bad_request(format!(
            "invalid {name} {v:?}: must be a whole number from 1 to {MAX_LIMIT}"
        ))),
    }
}

fn parse_offset(req: &Req, v: &str) -> Result<u32, RestError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n < MAX_LIMIT)
        .ok_or_else(|| {
            req.bad_request(format!(
                "invalid offset {v:?}: must be a whole number below {MAX_LIMIT} (use cursors to page further)"
            ))
        })
}

/// `fields=a,b&fields=c` as a list of paths.
fn fields_param(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// Not-found messages in Backstage's words.
fn by_name_not_found(req: &Req, kind: &str, namespace: &str, name: &str) -> RestError {
    req.error(
        StatusCode::NOT_FOUND,
        format!("No {kind} entity named '{name}' found in namespace '{namespace}'"),
    )
}

async fn get_by_ref(
    state: &AppState,
    req: &Req,
    entity_ref: &str,
) -> Result<Option<pb::Entity>, RestError> {
    match state
        .catalog
        .clone()
        .get_entity(pb::GetEntityRequest {
            entity_ref: entity_ref.to_string(),
            view: JSON_VIEW,
            ..Default::default()
        })
        .await
    {
        Ok(r) => Ok(r.into_inner().entity),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(req.grpc_error(s)),
    }
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}`.
pub async fn by_name(
    State(state): State<AppState>,
    req: Req,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<Box<RawValue>>, RestError> {
    let entity_ref = EntityRef::new(&kind, &namespace, &name);
    get_by_ref(&state, &req, &entity_ref.to_string())
        .await?
        .map(|e| Json(entity_raw(e)))
        .ok_or_else(|| by_name_not_found(&req, &kind, &namespace, &name))
}

/// `GET /entities/by-uid/{uid}`.
pub async fn by_uid(
    State(state): State<AppState>,
    req: Req,
    Path(uid): Path<String>,
) -> Result<Json<Box<RawValue>>, RestError> {
    match state
        .catalog
        .clone()
        .get_entity(pb::GetEntityRequest {
            uid: uid.clone(),
            view: JSON_VIEW,
            ..Default::default()
        })
        .await
    {
        Ok(r) => r
            .into_inner()
            .entity
            .map(|e| Json(entity_raw(e)))
            .ok_or_else(|| req.error(StatusCode::NOT_FOUND, format!("No entity with uid {uid}"))),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::NotFound | tonic::Code::InvalidArgument
            ) =>
        {
            Err(req.error(StatusCode::NOT_FOUND, format!("No entity with uid {uid}")))
        }
        Err(s) => Err(req.grpc_error(s)),
    }
}

/// `DELETE /entities/by-uid/{uid}`: deletes a pushed entity through its
/// source. An entity read from a location belongs to that location: 409,
/// saying where to remove it (Backstage deletes it and lets the next
/// refresh bring it back; here the log would only be told the same again).
pub async fn delete_by_uid(
    State(state): State<AppState>,
    req: Req,
    Path(uid): Path<String>,
) -> Result<StatusCode, RestError> {
    let entity = match state
        .catalog
        .clone()
        .get_entity(pb::GetEntityRequest {
            uid: uid.clone(),
            ..Default::default()
        })
        .await
    {
        Ok(r) => r.into_inner().entity,
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::NotFound | tonic::Code::InvalidArgument
            ) =>
        {
            None
        }
        Err(s) => return Err(req.grpc_error(s)),
    };
    // Backstage answers 204 whether or not the entity existed.
    let Some(entity) = entity else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let origin = entity
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.get("backstage.io/managed-by-origin-location"))
        .cloned()
        .unwrap_or_default();
    let entity_ref = entity
        .provenance
        .as_ref()
        .map(|p| p.entity_ref.clone())
        .unwrap_or_default();
    let Some(source) = origin.strip_prefix("push:") else {
        return Err(req.error(
            StatusCode::CONFLICT,
            format!(
                "{entity_ref} is read from location {origin}; remove it from there, or unregister the location"
            ),
        ));
    };
    let results = state
        .ingest
        .clone()
        .delete(pb::DeleteRequest {
            source: source.to_string(),
            entity_refs: vec![entity_ref.clone()],
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner()
        .results;
    match results.first().map(|r| (r.outcome(), r.message.clone())) {
        Some((pb::apply_result::Outcome::Deleted | pb::apply_result::Outcome::NotFound, _)) => {
            Ok(StatusCode::NO_CONTENT)
        }
        Some((_, message)) => Err(req.error(
            StatusCode::CONFLICT,
            format!("{entity_ref} was not deleted: {message}"),
        )),
        None => Err(req.error(StatusCode::BAD_GATEWAY, "the API returned no result")),
    }
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}/ancestry`.
pub async fn ancestry(
    State(state): State<AppState>,
    req: Req,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<Ancestry>, RestError> {
    let entity_ref = EntityRef::new(&kind, &namespace, &name).to_string();
    let chain = match state
        .catalog
        .clone()
        .get_entity_ancestry(pb::GetEntityAncestryRequest {
            entity_ref: entity_ref.clone(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(by_name_not_found(&req, &kind, &namespace, &name));
        }
        Err(s) => return Err(req.grpc_error(s)),
    };
    let refs: Vec<String> = chain.items.iter().map(|i| i.entity_ref.clone()).collect();
    let found = batch_get(&state, &req, &refs, Vec::new()).await?;
    let items: Vec<AncestryItem> = chain
        .items
        .iter()
        .zip(found)
        .filter_map(|(item, entity)| {
            entity.map(|entity| AncestryItem {
                entity,
                parent_entity_refs: Some(item.parent_entity_ref.clone())
                    .filter(|p| !p.is_empty())
                    .into_iter()
                    .collect(),
            })
        })
        .collect();
    let root = chain
        .items
        .last()
        .map(|i| i.entity_ref.clone())
        .unwrap_or(entity_ref);
    Ok(Json(Ancestry {
        root_entity_ref: root,
        items,
    }))
}

/// `/ancestry`'s body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ancestry {
    root_entity_ref: String,
    items: Vec<AncestryItem>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AncestryItem {
    entity: Box<RawValue>,
    parent_entity_refs: Vec<String>,
}

async fn batch_get(
    state: &AppState,
    req: &Req,
    refs: &[String],
    fields: Vec<String>,
) -> Result<Vec<Option<Box<RawValue>>>, RestError> {
    let mut out = Vec::with_capacity(refs.len());
    // The API takes at most 1000 refs per call.
    for chunk in refs.chunks(1000) {
        let items = state
            .catalog
            .clone()
            .batch_get_entities(pb::BatchGetEntitiesRequest {
                entity_refs: chunk.to_vec(),
                view: JSON_VIEW,
            })
            .await
            .map_err(|s| req.grpc_error(s))?
            .into_inner()
            .items;
        out.extend(items.into_iter().map(|i| {
            i.entity.map(|e| {
                if fields.is_empty() {
                    entity_raw(e)
                } else {
                    serde_json::value::to_raw_value(&select_fields(entity_value(&e), &fields))
                        .unwrap_or_default()
                }
            })
        }));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ByRefsBody {
    entity_refs: Vec<String>,
    #[serde(default)]
    fields: Vec<String>,
}

/// `POST /entities/by-refs`: `{items}` in request order, `null` for missing.
pub async fn by_refs(
    State(state): State<AppState>,
    req: Req,
    body: Result<Json<ByRefsBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Items<Option<Box<RawValue>>>>, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let items = batch_get(&state, &req, &body.entity_refs, body.fields).await?;
    Ok(Json(Items { items }))
}

/// `GET /entities`: every matching entity, or one page of `limit` with a
/// `Link: <…&after=…>; rel="next"` header when more exist. `order` takes
/// its first directive (`asc:<field>` / `desc:<field>`).
pub async fn list(
    State(state): State<AppState>,
    req: Req,
    RawQuery(query): RawQuery,
) -> Result<Response, RestError> {
    let mut filters = Vec::new();
    let mut fields = Vec::new();
    let mut limit = None;
    let mut offset = 0;
    let mut after = String::new();
    let mut order: Option<pb::OrderBy> = None;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "filter" => filters.push(v),
            "fields" => fields.push(v),
            "limit" => limit = Some(parse_limit(&req, "limit", &v)?),
            "offset" => offset = parse_offset(&req, &v)?,
            "after" => after = v,
            "order" if order.is_none() => {
                let (dir, field) = v.split_once(':').ok_or_else(|| {
                    req.bad_request(format!(
                        "invalid order {v:?}: expected asc:<field> or desc:<field>"
                    ))
                })?;
                let descending = match dir.to_lowercase().as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => {
                        return Err(req.bad_request(format!(
                            "invalid order {v:?}: the direction must be asc or desc"
                        )));
                    }
                };
                order = Some(pb::OrderBy {
                    field: field.to_string(),
                    descending,
                });
            }
            _ => {}
        }
    }
    let filter = parse_filters(&filters).map_err(|m| req.bad_request(m))?;
    let fields = fields_param(&fields);
    let mut entities = Vec::new();
    let mut page_token = after;
    let mut skip = offset as usize;
    loop {
        let page = state
            .catalog
            .clone()
            .list_entities(pb::ListEntitiesRequest {
                filter: Some(filter.clone()),
                page_size: limit.map_or(FULL_LIST_PAGE, |l| (l + skip as u32).min(MAX_LIMIT)),
                page_token: page_token.clone(),
                order_by: order.clone(),
                fields: fields.clone(),
                view: JSON_VIEW,
                ..Default::default()
            })
            .await
            .map_err(|s| req.grpc_error(s))?
            .into_inner();
        let dropped = skip.min(page.entities.len());
        skip -= dropped;
        entities.extend(page.entities.into_iter().skip(dropped).map(entity_raw));
        page_token = page.next_page_token;
        if limit.is_some() || page_token.is_empty() {
            break;
        }
    }
    let mut response = Json(entities).into_response();
    if let (Some(limit), false) = (limit, page_token.is_empty()) {
        let mut next = String::from("/api/catalog/entities?");
        for (k, v) in filters
            .iter()
            .map(|f| ("filter", f))
            .chain(fields.iter().map(|f| ("fields", f)))
        {
            next.push_str(&format!(
                "{k}={}&",
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            ));
        }
        if let Some(o) = &order {
            let dir = if o.descending { "desc" } else { "asc" };
            next.push_str(&format!(
                "order={}&",
                utf8_percent_encode(&format!("{dir}:{}", o.field), NON_ALPHANUMERIC)
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

/// What a `/entities/by-query` cursor carries: the query itself (so that a
/// cursor alone continues it, as in Backstage), the API page token of the
/// page it points at, the tokens of the pages before (for `prevCursor`),
/// and the total counted on the first page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Cursor {
    filter: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order: Option<(String, bool)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    term: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
    limit: u32,
    /// The API page token of this page ("" = first page).
    token: String,
    /// Page tokens of the pages before this one, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous: Vec<String>,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(req: &Req, text: &str) -> Result<Self, RestError> {
        URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| req.bad_request("invalid cursor: not a cursor this catalog issued"))
    }
}

/// Runs one page of a by-query cursor: `{items, totalItems, pageInfo}`.
async fn run_query(
    state: &AppState,
    req: &Req,
    cursor: Cursor,
    offset: u32,
) -> Result<Json<QueryPage>, RestError> {
    let filter: pb::EntityFilter = filter_from_json(&cursor.filter);
    let page_size = (cursor.limit + offset).min(MAX_LIMIT);
    let page = state
        .catalog
        .clone()
        .list_entities(pb::ListEntitiesRequest {
            filter: Some(filter),
            page_size,
            page_token: cursor.token.clone(),
            query: cursor.term.clone(),
            order_by: cursor
                .order
                .clone()
                .map(|(field, descending)| pb::OrderBy { field, descending }),
            fields: cursor.fields.clone(),
            view: JSON_VIEW,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner();
    let items: Vec<Box<RawValue>> = page
        .entities
        .into_iter()
        .skip(offset as usize)
        .map(entity_raw)
        .collect();
    let mut page_info = serde_json::Map::new();
    if !page.next_page_token.is_empty() {
        let mut previous = cursor.previous.clone();
        previous.push(cursor.token.clone());
        if previous.len() > MAX_PREVIOUS {
            previous.remove(0);
        }
        let next = Cursor {
            token: page.next_page_token.clone(),
            previous,
            ..cursor.clone()
        };
        page_info.insert("nextCursor".into(), Value::String(next.encode()));
    }
    if let Some((last, rest)) = cursor.previous.split_last() {
        let prev = Cursor {
            token: last.clone(),
            previous: rest.to_vec(),
            ..cursor.clone()
        };
        page_info.insert("prevCursor".into(), Value::String(prev.encode()));
    }
    Ok(Json(QueryPage {
        items,
        total_items: page.total_size,
        page_info,
    }))
}

/// `{items}`, in request order.
#[derive(Serialize)]
pub struct Items<T> {
    items: Vec<T>,
}

/// A `/entities/by-query` page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    items: Vec<Box<RawValue>>,
    total_items: u64,
    page_info: serde_json::Map<String, Value>,
}

/// The wire filter kept in a cursor, as JSON (the prost types have no serde).
fn filter_to_json(f: &pb::EntityFilter) -> Value {
    Value::Array(
        f.any_of
            .iter()
            .map(|c| {
                Value::Array(
                    c.all_of
                        .iter()
                        .map(|c| json!([c.key, c.values, c.negate, c.operator]))
                        .collect(),
                )
            })
            .collect(),
    )
}

fn filter_from_json(v: &Value) -> pb::EntityFilter {
    let clauses = v.as_array().cloned().unwrap_or_default();
    pb::EntityFilter {
        any_of: clauses
            .iter()
            .map(|c| pb::FilterClause {
                all_of: c
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| pb::FilterCondition {
                        key: c[0].as_str().unwrap_or_default().to_string(),
                        values: c[1]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|v| v.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        negate: c[2].as_bool().unwrap_or(false),
                        operator: c[3]
                            .as_i64()
                            .and_then(|o| i32::try_from(o).ok())
                            .unwrap_or(0),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `GET /entities/by-query`.
pub async fn query_get(
    State(state): State<AppState>,
    req: Req,
    RawQuery(query): RawQuery,
) -> Result<Json<QueryPage>, RestError> {
    let mut filters = Vec::new();
    let mut fields = Vec::new();
    let mut limit = DEFAULT_QUERY_LIMIT;
    let mut offset = 0;
    let mut order = None;
    let mut term = String::new();
    let mut cursor = None;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "filter" => filters.push(v),
            "fields" => fields.push(v),
            "limit" => limit = parse_limit(&req, "limit", &v)?,
            "offset" => offset = parse_offset(&req, &v)?,
            // Only the first orderField is used, as in Backstage.
            "orderField" if order.is_none() => {
                let (field, dir) = v.split_once(',').unwrap_or((v.as_str(), "asc"));
                let descending = match dir.trim().to_lowercase().as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => {
                        return Err(req.bad_request(format!(
                            "invalid orderField {v:?}: expected <field>,asc or <field>,desc"
                        )));
                    }
                };
                order = Some((field.trim().to_string(), descending));
            }
            "fullTextFilterTerm" => term = v.trim().to_string(),
            "cursor" => cursor = Some(v),
            _ => {}
        }
    }
    let cursor = match cursor {
        // The cursor carries the query; only `limit` may change with it.
        Some(c) => {
            let mut c = Cursor::decode(&req, &c)?;
            c.limit = limit;
            c
        }
        None => Cursor {
            filter: filter_to_json(&parse_filters(&filters).map_err(|m| req.bad_request(m))?),
            order,
            term,
            fields: fields_param(&fields),
            limit,
            token: String::new(),
            previous: Vec::new(),
        },
    };
    run_query(&state, &req, cursor, offset).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryBody {
    #[serde(default)]
    query: Option<Value>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    order_by: Vec<OrderField>,
    #[serde(default)]
    full_text_filter: Option<FullText>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct OrderField {
    field: String,
    #[serde(default)]
    order: Option<String>,
}

#[derive(Deserialize)]
pub struct FullText {
    #[serde(default)]
    term: String,
}

/// `POST /entities/by-query` with a predicate `query`.
pub async fn query_post(
    State(state): State<AppState>,
    req: Req,
    body: Result<Json<QueryBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<QueryPage>, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let limit = match body.limit {
        Some(l) => parse_limit(&req, "limit", &l.to_string())?,
        None => DEFAULT_QUERY_LIMIT,
    };
    let offset = match body.offset {
        Some(o) => parse_offset(&req, &o.to_string())?,
        None => 0,
    };
    let cursor = match body.cursor {
        Some(c) => Cursor {
            limit,
            ..Cursor::decode(&req, &c)?
        },
        None => {
            let filter = predicate_filter(&req, body.query.as_ref())?;
            let order = match body.order_by.first() {
                None => None,
                Some(o) => Some((
                    o.field.clone(),
                    match o.order.as_deref().map(str::to_lowercase).as_deref() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(other) => {
                            return Err(req.bad_request(format!(
                                "orderBy[0].order {other:?} must be asc or desc"
                            )));
                        }
                    },
                )),
            };
            Cursor {
                filter: filter_to_json(&filter),
                order,
                term: body
                    .full_text_filter
                    .map(|f| f.term.trim().to_string())
                    .unwrap_or_default(),
                fields: body.fields,
                limit,
                token: String::new(),
                previous: Vec::new(),
            }
        }
    };
    run_query(&state, &req, cursor, offset).await
}

async fn facets(
    state: &AppState,
    req: &Req,
    requested: Vec<String>,
    filter: pb::EntityFilter,
) -> Result<Json<Value>, RestError> {
    if requested.is_empty() {
        return Err(req.bad_request("at least one facet is required (facet=<field path>)"));
    }
    let mut answer = state
        .catalog
        .clone()
        .get_facets(pb::GetFacetsRequest {
            facets: requested.clone(),
            filter: Some(filter),
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner()
        .facets;
    // Keyed as asked (the API keys them lower-cased).
    let mut out = serde_json::Map::new();
    for facet in requested {
        let counts = answer
            .remove(&facet.to_lowercase())
            .or_else(|| out.get(&facet).map(|_| pb::FacetValues::default()))
            .unwrap_or_default()
            .values
            .into_iter()
            .map(|c| json!({"value": c.value, "count": c.count}))
            .collect();
        out.entry(facet).or_insert(Value::Array(counts));
    }
    Ok(Json(json!({ "facets": out })))
}

/// `GET /entity-facets?facet=...&filter=...`.
pub async fn facets_get(
    State(state): State<AppState>,
    req: Req,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, RestError> {
    let mut requested = Vec::new();
    let mut filters = Vec::new();
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "facet" => requested.push(v),
            "filter" => filters.push(v),
            _ => {}
        }
    }
    let filter = parse_filters(&filters).map_err(|m| req.bad_request(m))?;
    facets(&state, &req, requested, filter).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetsBody {
    facets: Vec<String>,
    #[serde(default)]
    query: Option<Value>,
}

/// `POST /entity-facets` with a predicate `query`.
pub async fn facets_post(
    State(state): State<AppState>,
    req: Req,
    body: Result<Json<FacetsBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, RestError> {
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let filter = predicate_filter(&req, body.query.as_ref())?;
    facets(&state, &req, body.facets, filter).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_filters_survive_them() {
        let filter = pb::EntityFilter {
            any_of: vec![pb::FilterClause {
                all_of: vec![pb::FilterCondition {
                    key: "kind".into(),
                    values: vec!["component".into()],
                    negate: true,
                    operator: 1,
                }],
            }],
        };
        assert_eq!(filter_from_json(&filter_to_json(&filter)), filter);
        let c = Cursor {
            filter: filter_to_json(&filter),
            order: Some(("metadata.name".into(), true)),
            term: "x".into(),
            fields: vec![],
            limit: 5,
            token: "t".into(),
            previous: vec![String::new()],
        };
        let req = Req::for_tests();
        assert_eq!(Cursor::decode(&req, &c.encode()).unwrap(), c);
        assert!(Cursor::decode(&req, "nope!").is_err());
    }

    #[test]
    fn projection_keeps_only_the_named_paths() {
        let e = json!({"kind": "Component", "metadata": {"name": "a", "tags": ["x"]}, "spec": {"type": "service"}});
        assert_eq!(
            select_fields(
                e,
                &["kind".into(), "metadata.name".into(), "spec.nope".into()]
            ),
            json!({"kind": "Component", "metadata": {"name": "a"}})
        );
    }
}
