//! Queries over the read models, shared by every reader (the API): Backstage
//! filters on any field path ([`filter`]), full-text search ([`search`]),
//! facets ([`facets`]) and history ([`history`]). They live next to the
//! schema they read so that a schema change and its queries move together.

pub mod facets;
pub mod filter;
pub mod graph;
pub mod history;
pub mod search;

pub use facets::{FacetCount, facets};
pub use filter::{Condition, Filter, Key, KeyError};
pub use graph::{Edge, Graph, Node, graph, relations};
pub use history::{Version, as_of, before, history};
pub use search::{SearchHit, search};

/// The etag of the entity row `e`, as served: changes with every event of
/// the entity and with every change to its relations (in either direction),
/// and depends only on the final state.
pub const ETAG_SQL: &str = "md5(e.event_id::text || ':' || coalesce(\
    (SELECT h.hash FROM relation_hashes h WHERE h.source_ref = e.entity_ref), 0)::text)";
