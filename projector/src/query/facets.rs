//! Facets: how many entities have each value of a field, under a filter.
//! Values are counted as written in the descriptors (Backstage counts
//! `original_value`), so `Production` and `production` are two values.
//!
//! The facets the projector counts ([`crate::counts::COUNTED`]) are read
//! from `facet_counts` when the filter restricts nothing but kind and
//! spec.type (the catalog pickers' questions); any other facet or filter is
//! counted by scanning the matching entities.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;

use super::RELATIONS;
use super::filter::{Filter, Key, Params, bind, param_refs};
use crate::counts::COUNTED;

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
    let mut keys: Vec<&Key> = keys.iter().collect();
    if let Some(scope) = Scope::of(filter) {
        let counted: Vec<String> = keys
            .iter()
            .map(|k| k.as_str())
            .filter(|k| COUNTED.contains(&k.as_str()))
            .collect();
        if !counted.is_empty() {
            for path in &counted {
                out.insert(path.clone(), Vec::new());
            }
            let rows = client
                .query(
                    "SELECT path, value, sum(count)::int8 FROM facet_counts \
                     WHERE path = ANY($1) AND ($2::text[] IS NULL OR kind = ANY($2)) \
                       AND ($3::text[] IS NULL OR spec_type = ANY($3)) \
                     GROUP BY 1, 2 HAVING sum(count) > 0",
                    &[&counted, &scope.kinds, &scope.types],
                )
                .await?;
            for row in rows {
                let path: String = row.get(0);
                out.entry(path).or_insert_with(Vec::new).push(FacetCount {
                    value: row.get(1),
                    count: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                });
            }
            for counts in out.values_mut() {
                counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            }
            keys.retain(|k| !counted.contains(&k.as_str()));
        }
    }
    // Field paths are counted together, in one pass over the matching rows
    // (each row's `fields` document is read once, not once per facet).
    let paths: Vec<String> = keys
        .iter()
        .filter(|k| !matches!(k, Key::Relation(_) | Key::Uid))
        .map(|k| k.as_str())
        .collect();
    if !paths.is_empty() {
        let mut params = Params::new();
        let p = bind(&mut params, paths.clone());
        let filter = filter.to_sql(&mut params);
        let sql = format!(
            "SELECT k, v, count(*) FROM entities e \
             CROSS JOIN LATERAL unnest({p}::text[]) AS k \
             CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(e.fields_case -> k, e.fields -> k)) AS v \
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
        for path in &paths {
            if let Some(counts) = out.get_mut(path) {
                counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            }
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
                     JOIN {RELATIONS} r ON r.source_ref = e.entity_ref AND r.type = {t} \
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

/// The kinds and spec types a filter restricts to (`None`: any), when that
/// is all it restricts: no clauses, or one clause of plain equality or
/// existence conditions on `kind` and equality conditions on `spec.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    kinds: Option<Vec<String>>,
    types: Option<Vec<String>>,
}

impl Scope {
    fn of(filter: &Filter) -> Option<Self> {
        let mut scope = Self {
            kinds: None,
            types: None,
        };
        match filter.clauses.as_slice() {
            [] => return Some(scope),
            [clause] => {
                for c in clause {
                    if c.negate || c.prefix {
                        return None;
                    }
                    let restricted = match c.key {
                        Key::Kind if c.values.is_empty() => continue,
                        Key::Kind => &mut scope.kinds,
                        Key::SpecType if !c.values.is_empty() => &mut scope.types,
                        _ => return None,
                    };
                    // Conditions on one key are AND-ed: the values both allow.
                    *restricted = Some(match restricted.take() {
                        None => c.values.clone(),
                        Some(before) => before
                            .into_iter()
                            .filter(|v| c.values.contains(v))
                            .collect(),
                    });
                }
            }
            _ => return None,
        }
        Some(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::filter::Condition;

    fn cond(key: &str, values: &[&str]) -> Condition {
        Condition::new(Key::parse(key).unwrap(), values.iter())
    }

    #[test]
    fn counts_answer_filters_on_kind_and_spec_type_only() {
        let scope = |f: Filter| Scope::of(&f);
        assert_eq!(
            scope(Filter::default()),
            Some(Scope {
                kinds: None,
                types: None
            })
        );
        assert_eq!(
            scope(Filter::all_of(vec![
                cond("kind", &["Component", "API"]),
                cond("spec.type", &["service"]),
                cond("kind", &["component"]),
            ])),
            Some(Scope {
                kinds: Some(vec!["component".into()]),
                types: Some(vec!["service".into()])
            })
        );
        assert_eq!(
            scope(Filter::all_of(vec![cond("kind", &[])])),
            Some(Scope {
                kinds: None,
                types: None
            })
        );
        for refused in [
            Filter::all_of(vec![cond("spec.type", &[])]),
            Filter::all_of(vec![cond("spec.lifecycle", &["production"])]),
            Filter::all_of(vec![cond("kind", &["component"]).negated()]),
            Filter::all_of(vec![cond("kind", &["comp"]).by_prefix()]),
            Filter {
                clauses: vec![vec![cond("kind", &["api"])], vec![cond("kind", &["group"])]],
            },
        ] {
            assert_eq!(scope(refused.clone()), None, "{refused:?}");
        }
    }

    #[test]
    fn the_migration_counts_the_same_paths() {
        let migration = include_str!("../../migrations/V7__facet_counts.sql");
        for path in COUNTED {
            assert!(migration.contains(&format!("'{path}'")), "{path}");
        }
    }
}
