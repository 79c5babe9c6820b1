//! Facets: how many entities have each value of a field, under a filter.
//! Values are counted as written in the descriptors (Backstage counts
//! `original_value`), so `Production` and `production` are two values.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;

use super::filter::{Filter, Key, Params, bind, param_refs};

/// Most facets in one request.
pub const MAX_FACETS: usize = 20;

/// One value of a facet and the number of matching entities that have it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts per value for each key, over the entities matching `filter`;
/// each list ordered by count (descending), then value.
pub async fn facets(
    client: &impl GenericClient,
    keys: &[Key],
    filter: &Filter,
) -> Result<BTreeMap<String, Vec<FacetCount>>, tokio_postgres::Error> {
    let mut out = BTreeMap::new();
    for key in keys {
        let mut params = Params::new();
        let sql = match key {
            Key::Relation(t) => {
                let t = bind(&mut params, t.as_str());
                let filter = filter.to_sql(&mut params);
                format!(
                    "SELECT r.target_ref, count(DISTINCT e.entity_ref) FROM entities e \
                     JOIN relations r ON r.source_ref = e.entity_ref AND r.type = {t} \
                     WHERE {filter} GROUP BY 1 ORDER BY 2 DESC, 1"
                )
            }
            Key::Uid => {
                let filter = filter.to_sql(&mut params);
                format!(
                    "SELECT e.uid::text, count(*) FROM entities e WHERE {filter} GROUP BY 1 ORDER BY 2 DESC, 1"
                )
            }
            other => {
                let path = bind(&mut params, other.as_str());
                let filter = filter.to_sql(&mut params);
                format!(
                    "SELECT v, count(*) FROM entities e \
                     CROSS JOIN LATERAL jsonb_array_elements_text(e.fields -> {path}) AS v \
                     WHERE v IS NOT NULL AND {filter} GROUP BY 1 ORDER BY 2 DESC, 1"
                )
            }
        };
        let rows = client.query(&sql, &param_refs(&params)).await?;
        let counts = rows
            .iter()
            .map(|r| FacetCount {
                value: r.get(0),
                count: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            })
            .collect();
        out.insert(key.as_str(), counts);
    }
    Ok(out)
}
