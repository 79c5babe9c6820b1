//! What Backstage's REST API lacks, under the same prefix: entity history,
//! relation graphs, search with highlights, and live changes as
//! server-sent events (fed by the API's `WatchEntities` stream).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use catalog_model::EntityRef;
use catalog_proto::v1 as pb;
use futures::Stream;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{Req, RestError, parse_filters, query_pairs};
use crate::convert::entity_raw;
use crate::routes::AppState;

fn number(req: &Req, name: &str, v: &str, max: u32) -> Result<u32, RestError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            req.bad_request(format!(
                "invalid {name} {v:?}: must be a whole number from 1 to {max}"
            ))
        })
}

fn time_text(t: Option<&prost_types::Timestamp>) -> Value {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

fn change_kind(c: i32) -> &'static str {
    match pb::ChangeKind::try_from(c) {
        Ok(pb::ChangeKind::Created) => "created",
        Ok(pb::ChangeKind::Deleted) => "deleted",
        _ => "updated",
    }
}

fn proto_value(v: Option<&prost_types::Value>) -> Value {
    v.map(catalog_proto::value_to_json).unwrap_or(Value::Null)
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}/history?limit=&cursor=`.
pub async fn history(
    State(state): State<AppState>,
    req: Req,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, RestError> {
    let mut limit = 50;
    let mut cursor = String::new();
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "limit" => limit = number(&req, "limit", &v, 1000)?,
            "cursor" => cursor = v,
            _ => {}
        }
    }
    let page = state
        .catalog
        .clone()
        .get_entity_history(pb::GetEntityHistoryRequest {
            entity_ref: EntityRef::new(&kind, &namespace, &name).to_string(),
            page_size: limit,
            page_token: cursor,
            ..Default::default()
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner();
    let items: Vec<Value> = page
        .versions
        .iter()
        .map(|v| {
            let changes: Vec<Value> = v
                .changes
                .iter()
                .map(|c| {
                    let kind = match pb::FieldChangeKind::try_from(c.kind) {
                        Ok(pb::FieldChangeKind::Added) => "added",
                        Ok(pb::FieldChangeKind::Removed) => "removed",
                        _ => "changed",
                    };
                    json!({
                        "path": c.path,
                        "kind": kind,
                        "oldValue": proto_value(c.old_value.as_ref()),
                        "newValue": proto_value(c.new_value.as_ref()),
                    })
                })
                .collect();
            json!({
                "sequence": v.sequence,
                "eventId": v.event_id,
                "time": time_text(v.time.as_ref()),
                "producer": v.producer,
                "location": v.location,
                "change": change_kind(v.change),
                "entity": v.entity.as_ref().map(catalog_proto::struct_to_json),
                "changes": changes,
            })
        })
        .collect();
    let mut out = json!({ "items": items });
    if !page.next_page_token.is_empty() {
        out["nextCursor"] = Value::String(page.next_page_token);
    }
    Ok(Json(out))
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}/graph?type=&depth=&maxNodes=`.
pub async fn graph(
    State(state): State<AppState>,
    req: Req,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, RestError> {
    let mut types = Vec::new();
    let mut depth = 2;
    let mut max_nodes = 200;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "type" => types.push(v),
            "depth" => depth = number(&req, "depth", &v, 10)?,
            "maxNodes" => max_nodes = number(&req, "maxNodes", &v, 1000)?,
            _ => {}
        }
    }
    let graph = state
        .catalog
        .clone()
        .get_graph(pb::GetGraphRequest {
            root_ref: EntityRef::new(&kind, &namespace, &name).to_string(),
            types,
            max_depth: depth,
            max_nodes,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner();
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .map(|n| {
            let name = n
                .entity_ref
                .rsplit_once('/')
                .map_or(n.entity_ref.as_str(), |(_, name)| name);
            let mut node = json!({
                "entityRef": n.entity_ref,
                "kind": n.kind,
                "name": name,
                "depth": n.depth,
                "exists": n.exists,
            });
            if !n.title.is_empty() {
                node["title"] = Value::String(n.title.clone());
            }
            node
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .map(|e| json!({"source": e.source_ref, "type": e.r#type, "target": e.target_ref}))
        .collect();
    Ok(Json(
        json!({"nodes": nodes, "edges": edges, "truncated": graph.truncated}),
    ))
}

/// `GET /search?term=&limit=&filter=`: ranked hits with highlighted text.
pub async fn search(
    State(state): State<AppState>,
    req: Req,
    RawQuery(query): RawQuery,
) -> Result<Json<SearchPage>, RestError> {
    let mut term = String::new();
    let mut limit = 20;
    let mut filters = Vec::new();
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "term" => term = v,
            "limit" => limit = number(&req, "limit", &v, 100)?,
            "filter" => filters.push(v),
            _ => {}
        }
    }
    if term.trim().is_empty() {
        return Err(req.bad_request("term is required: the text to search for"));
    }
    let filter = parse_filters(&filters).map_err(|m| req.bad_request(m))?;
    let hits = state
        .catalog
        .clone()
        .search_entities(pb::SearchEntitiesRequest {
            query: term,
            filter: Some(filter),
            page_size: limit,
            view: pb::EntityView::Json as i32,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner()
        .hits;
    let items: Vec<SearchItem> = hits
        .into_iter()
        .map(|h| SearchItem {
            highlights: [Highlight {
                field: "text",
                segments: h
                    .highlight
                    .into_iter()
                    .map(|s| Segment {
                        text: s.text,
                        matched: s.matched,
                    })
                    .collect(),
            }],
            rank: h.rank,
            entity: h.entity.map(entity_raw),
        })
        .collect();
    Ok(Json(SearchPage { items }))
}

/// `/search`'s body.
#[derive(serde::Serialize)]
pub struct SearchPage {
    items: Vec<SearchItem>,
}

#[derive(serde::Serialize)]
pub struct SearchItem {
    entity: Option<Box<serde_json::value::RawValue>>,
    rank: f32,
    highlights: [Highlight; 1],
}

#[derive(serde::Serialize)]
pub struct Highlight {
    field: &'static str,
    segments: Vec<Segment>,
}

#[derive(serde::Serialize)]
pub struct Segment {
    text: String,
    #[serde(rename = "match")]
    matched: bool,
}

/// `GET /events?filter=&cursor=`: live changes as server-sent events. The
/// event id is the cursor, so a reconnecting `EventSource` (which sends
/// `Last-Event-ID`) resumes with no gap and no duplicate.
pub async fn events(
    State(state): State<AppState>,
    req: Req,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, RestError> {
    let mut filters = Vec::new();
    let mut cursor = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "filter" => filters.push(v),
            "cursor" if cursor.is_none() => cursor = Some(v),
            _ => {}
        }
    }
    let after_cursor = match cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .parse::<u64>()
            .map_err(|_| req.bad_request(format!("invalid cursor {c:?}: expected a number")))?,
    };
    let filter = parse_filters(&filters).map_err(|m| req.bad_request(m))?;
    let stream = state
        .catalog
        .clone()
        .watch_entities(pb::WatchEntitiesRequest {
            filter: Some(filter),
            after_cursor,
            from_start: false,
            heartbeat_seconds: 15,
        })
        .await
        .map_err(|s| req.grpc_error(s))?
        .into_inner();
    // Ends at the API's end of the stream, at its first error, or when the
    // bridge shuts down (the client's EventSource then reconnects, to
    // another replica, from its Last-Event-ID).
    let events = stream
        .take_until(state.stopping.clone().cancelled_owned())
        .take_while(|item| futures::future::ready(item.is_ok()))
        .filter_map(|item| async move {
            let message = item.ok()?;
            let cursor = message.cursor;
            Some(Ok(match message.event {
                Some(pb::watch_entities_response::Event::Change(c)) => {
                    let kind = if c.change == pb::ChangeKind::Deleted as i32 {
                        "deleted"
                    } else {
                        "upserted"
                    };
                    Event::default()
                        .event("change")
                        .id(cursor.to_string())
                        .data(
                            json!({
                                "cursor": cursor.to_string(),
                                "type": kind,
                                "change": change_kind(c.change),
                                "entityRef": c.entity_ref,
                                "entity": c.entity.as_ref().map(catalog_proto::struct_to_json),
                                "time": time_text(c.time.as_ref()),
                            })
                            .to_string(),
                        )
                }
                _ => Event::default()
                    .event("heartbeat")
                    .id(cursor.to_string())
                    .data(json!({"cursor": cursor.to_string()}).to_string()),
            }))
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}
