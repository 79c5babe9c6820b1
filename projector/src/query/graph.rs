//! Relations of an entity and the graph around it: breadth-first over the
//! relations table, one indexed query per level.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use catalog_model::RelationType;
use tokio_postgres::GenericClient;

use super::RELATIONS;

/// A relation row as seen from its source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub source_ref: String,
    pub kind: String,
    pub target_ref: String,
}

/// A node of a graph: an entity ref, how far from the root, and what the
/// read model knows of it (relations may point at entities that do not
/// exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub entity_ref: String,
    pub depth: u32,
    /// `kind` and `metadata.title` when the entity exists.
    pub entity: Option<(String, Option<String>)>,
}

/// The graph from a root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Root first, then by depth and ref.
    pub nodes: Vec<Node>,
    /// Sorted.
    pub edges: Vec<Edge>,
    /// Whether `max_nodes` cut the graph short.
    pub truncated: bool,
}

fn type_names(types: &[RelationType]) -> Option<Vec<String>> {
    (!types.is_empty()).then(|| types.iter().map(|t| t.as_str().to_string()).collect())
}

/// The relations whose source is `entity_ref`, of `types` (all when empty).
pub async fn relations(
    client: &impl GenericClient,
    entity_ref: &str,
    types: &[RelationType],
) -> Result<Vec<Edge>, tokio_postgres::Error> {
    Ok(level(client, &[entity_ref.to_string()], &type_names(types))
        .await?
        .into_iter()
        .collect())
}

async fn level(
    client: &impl GenericClient,
    sources: &[String],
    types: &Option<Vec<String>>,
) -> Result<BTreeSet<Edge>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT DISTINCT source_ref, type, target_ref FROM {RELATIONS} r \
                 WHERE source_ref = ANY($1) AND ($2::text[] IS NULL OR type = ANY($2))"
            ),
            &[&sources, types],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Edge {
            source_ref: r.get(0),
            kind: r.get(1),
            target_ref: r.get(2),
        })
        .collect())
}

/// Breadth-first from `root` along relations of `types` (all when empty),
/// at most `max_depth` hops and `max_nodes` nodes. Edges between nodes of
/// the graph are all included.
pub async fn graph(
    client: &impl GenericClient,
    root: &str,
    types: &[RelationType],
    max_depth: u32,
    max_nodes: usize,
) -> Result<Graph, tokio_postgres::Error> {
    let types = type_names(types);
    let mut depth_of: BTreeMap<String, u32> = BTreeMap::new();
    depth_of.insert(root.to_string(), 0);
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let mut frontier = vec![root.to_string()];
    let mut truncated = false;
    for depth in 1..=max_depth {
        if frontier.is_empty() {
            break;
        }
        let found = level(client, &frontier, &types).await?;
        let mut next = Vec::new();
        for edge in found {
            if !depth_of.contains_key(&edge.target_ref) {
                if depth_of.len() >= max_nodes {
                    truncated = true;
                    continue;
                }
                depth_of.insert(edge.target_ref.clone(), depth);
                next.push(edge.target_ref.clone());
            }
            edges.insert(edge);
        }
        frontier = next;
    }
    let refs: Vec<String> = depth_of.keys().cloned().collect();
    let rows = client
        .query(
            "SELECT entity_ref, entity->>'kind', entity #>> '{metadata,title}' FROM entities \
             WHERE entity_ref = ANY($1)",
            &[&refs],
        )
        .await?;
    let mut known: BTreeMap<String, (String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let present: HashSet<&String> = depth_of.keys().collect();
    let edges: Vec<Edge> = edges
        .into_iter()
        .filter(|e| present.contains(&e.source_ref) && present.contains(&e.target_ref))
        .collect();
    let mut nodes: Vec<Node> = depth_of
        .into_iter()
        .map(|(entity_ref, depth)| Node {
            entity: known.remove(&entity_ref),
            entity_ref,
            depth,
        })
        .collect();
    nodes.sort_by(|a, b| a.depth.cmp(&b.depth).then(a.entity_ref.cmp(&b.entity_ref)));
    Ok(Graph {
        nodes,
        edges,
        truncated,
    })
}
