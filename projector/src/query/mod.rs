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

/// Every relation in both directions, as rows `(source_ref, type,
/// target_ref)`: the `relations` table holds each relation once, as its
/// source declared it, with the type its target sees. Use it as a table
/// (`FROM {RELATIONS} r`); conditions on `r` reach both halves and their
/// indexes (the primary key from the source, `relations_target` from the
/// target). A relation both ends declare (a user's `memberOf` and its
/// group's `members`) appears twice.
pub const RELATIONS: &str = "(SELECT source_ref, type, target_ref FROM relations \
    UNION ALL SELECT target_ref, inverse_type, source_ref FROM relations)";

/// The etag of an entity as served: a digest of its last event's id and the
/// relations served with it (`(type, target)`, sorted and distinct), so it
/// changes with every event of the entity and every change to its
/// relations, and depends only on the final state.
pub fn etag(event_id: &uuid::Uuid, relations: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(event_id.as_bytes());
    for (kind, target) in relations {
        digest.update([0u8]);
        digest.update(kind.as_bytes());
        digest.update([0u8]);
        digest.update(target.as_bytes());
    }
    hex::encode(&digest.finalize()[..16])
}
