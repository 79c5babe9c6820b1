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
    // Field paths are counted together, in one pass over the matching rows
    // (each row's `fields` document is read once, not once per facet).
    let paths: Vec<String> = keys
        .iter()
        .filter(|k| !matches!(k, Key::Relation(_) | Key::Uid))
        .map(Key::as_str)
        .collect();
    if !paths.is_empty() {
        let mut params = Params::new();
        let p = bind(&mut params, paths.clone());
        let filter = filter.to_sql(&mut params);
        let sql = format!(
            "SELECT k, v, count(*) FROM entities e \
             CROSS JOIN LATERAL unnest({p}::text[]) AS k \
             CROSS JOIN LATERAL jsonb_array_elements_text(e.fields -> k) AS v \
             WHERE v IS NOT NULL AND {filter} GROUP BY 1, 2"
        );
        for path in &paths {
            out.insert(path.clone(), Vec::new());
        }
        for row in client.query(&sql, &param_refs(&params)).await? {
            let path: String = row.get(0);
            out.entry(path).or_insert_with(Vec::new).push(FacetCount {
                value: row.get(1),
                count: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
            });
        }
        for counts in out.values_mut() {
            counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        }
    }
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
            _ => continue,
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
