//! Queries over the read models, shared by every reader (the API): Backstage
//! filters on any field path ([`filter`]), full-text search ([`search`]),
//! facets ([`facets`]) and history ([`history`]). They live next to the
//! schema they read so that a schema change and its queries move together.

pub mod facets;
pub mod filter;
pub mod history;
pub mod search;

pub use facets::{FacetCount, facets};
pub use filter::{Condition, Filter, Key, KeyError};
pub use history::{Version, as_of, history};
pub use search::{SearchHit, search};
