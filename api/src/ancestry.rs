//! `GetEntityAncestry`: the chain of locations an entity was read through,
//! worked out from the location annotations the crawler wrote and the
//! Location entities of the same root location.

use std::collections::HashSet;

use catalog_eventlog::location_id;
use catalog_ingest::ancestry::{covers, location_targets};
use catalog_proto::v1 as pb;
use serde_json::Value;
use tokio_postgres::GenericClient;

use crate::error::ApiError;

const LOCATION: &str = "backstage.io/managed-by-location";
const ORIGIN: &str = "backstage.io/managed-by-origin-location";
/// Longest chain followed (a guard; crawls refuse cycles anyway).
const MAX_DEPTH: usize = 64;

fn annotation<'a>(entity: &'a Value, key: &str) -> &'a str {
    entity["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_default()
}

/// The ancestry of `entity_ref` (canonical).
pub async fn ancestry(
    client: &impl GenericClient,
    entity_ref: &str,
) -> Result<pb::GetEntityAncestryResponse, ApiError> {
    let row = client
        .query_opt(
            "SELECT entity FROM entities WHERE entity_ref = $1",
            &[&entity_ref],
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no entity {entity_ref}")))?;
    let entity: Value = row.get(0);
    let origin = annotation(&entity, ORIGIN).to_string();
    let mut items = vec![pb::AncestryItem {
        entity_ref: entity_ref.to_string(),
        source_location: annotation(&entity, LOCATION).to_string(),
        parent_entity_ref: String::new(),
    }];
    let is_location = !origin.is_empty() && !origin.starts_with("push:");
    if is_location {
        // Every Location entity read from the same root: the candidates.
        let candidates: Vec<(String, Value)> = client
            .query(
                "SELECT entity_ref, entity FROM entities WHERE kind = 'location' \
                 AND entity #>> '{metadata,annotations,backstage.io/managed-by-origin-location}' = $1",
                &[&origin],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut seen: HashSet<String> = HashSet::from([entity_ref.to_string()]);
        while items.len() < MAX_DEPTH {
            let Some(last) = items.last_mut() else { break };
            let source = last.source_location.clone();
            // Read straight from the root: the chain is complete.
            if covers(&origin, &source) {
                break;
            }
            let parent = candidates.iter().find(|(r, e)| {
                !seen.contains(r)
                    && e.get("spec").is_some_and(|spec| {
                        location_targets(annotation(e, LOCATION), spec)
                            .iter()
                            .any(|t| covers(t, &source))
                    })
            });
            let Some((parent_ref, parent)) = parent else {
                break;
            };
            last.parent_entity_ref = parent_ref.clone();
            seen.insert(parent_ref.clone());
            items.push(pb::AncestryItem {
                entity_ref: parent_ref.clone(),
                source_location: annotation(parent, LOCATION).to_string(),
                parent_entity_ref: String::new(),
            });
        }
    }
    Ok(pb::GetEntityAncestryResponse {
        items,
        origin_location_id: if is_location {
            location_id(&origin)
        } else {
            String::new()
        },
        origin,
    })
}
