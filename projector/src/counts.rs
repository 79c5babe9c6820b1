//! Facet counts (`facet_counts`): per lower-cased kind and spec.type, how
//! many entities have each value of the paths Backstage's catalog pickers
//! ask about ([`COUNTED`]). Every batch subtracts the counts of its
//! entities' stored versions and adds those of their new ones, in one
//! statement at the end of its transaction; readers answer facets under no
//! filter, or a filter on kind and spec.type only, from a few rows
//! ([`crate::query::facets`]).
//!
//! Values are counted as the scan counts them: each distinct value of the
//! flattened path, as written, once per entity; `relations.ownedby` counts
//! the owner each entity's spec declares.

use std::collections::BTreeMap;

use catalog_model::{Fields, RelationType};
use deadpool_postgres::Transaction;

/// The counted facets, as facet keys (`Key::as_str`).
pub const COUNTED: &[&str] = &[
    "kind",
    "metadata.namespace",
    "metadata.tags",
    "spec.type",
    "spec.lifecycle",
    OWNED_BY,
];

/// The counted relation facet.
pub const OWNED_BY: &str = "relations.ownedby";

/// The counts recomputed from the entities and their relations, as rows
/// `(kind, spec_type, path, value, count)`: what `facet_counts` must hold
/// (leaving out zero counts). For verification.
pub const RECOUNT_SQL: &str = "SELECT e.kind, coalesce(e.spec_type, ''), k, v, count(*) FROM entities e \
     CROSS JOIN LATERAL unnest(ARRAY['kind', 'metadata.namespace', 'metadata.tags', 'spec.type', \
                                     'spec.lifecycle']) AS k \
     CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(e.fields_case -> k, e.fields -> k)) AS v \
     WHERE v IS NOT NULL GROUP BY 1, 2, 3, 4 \
     UNION ALL \
     SELECT e.kind, coalesce(e.spec_type, ''), 'relations.ownedby', r.target_ref, count(DISTINCT e.entity_ref) \
     FROM entities e JOIN relations r ON r.source_ref = e.entity_ref AND r.type = 'ownedBy' \
     GROUP BY 1, 2, 3, 4";

/// The counted paths of `entities.fields`.
fn field_paths() -> Vec<&'static str> {
    COUNTED.iter().copied().filter(|p| *p != OWNED_BY).collect()
}

/// What an entity version adds to the counts: (path, value) for each
/// distinct value of the counted paths of its flattened `fields`, as
/// written, and each owner among its declared `relations` (type, target).
pub fn counted(
    fields: &Fields,
    relations: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for path in field_paths() {
        for value in fields.get(path).into_iter().flatten().flatten() {
            out.push((path, value.clone()));
        }
    }
    let owned_by = RelationType::OwnedBy.as_str();
    for (kind, target) in relations {
        if *kind == owned_by {
            out.push((OWNED_BY, target.clone()));
        }
    }
    out
}

/// (kind, spec type or '', path, value) → change of count.
#[derive(Debug, Default)]
pub struct CountChanges(BTreeMap<(String, String, String, String), i64>);

impl CountChanges {
    fn add(&mut self, bucket: &(String, String), path: &str, value: String, change: i64) {
        *self
            .0
            .entry((bucket.0.clone(), bucket.1.clone(), path.to_string(), value))
            .or_default() += change;
    }

    /// Counts a new version of an entity of `kind` and `spec_type`
    /// (lower-cased), given its [`counted`] values.
    pub fn add_counted(
        &mut self,
        kind: &str,
        spec_type: Option<&str>,
        counted: &[(&'static str, String)],
    ) {
        let bucket = (kind.to_string(), spec_type.unwrap_or_default().to_string());
        for (path, value) in counted {
            self.add(&bucket, path, value.clone(), 1);
        }
    }

    /// Uncounts the stored versions of `refs` (read before they change).
    pub async fn subtract_stored(
        &mut self,
        tx: &Transaction<'_>,
        refs: &[&str],
    ) -> Result<(), tokio_postgres::Error> {
        let rows = tx
            .query(
                &tx.prepare_cached("SELECT e.kind, coalesce(e.spec_type, ''), k, v FROM entities e \
                 CROSS JOIN LATERAL unnest($2::text[]) AS k \
                 CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(e.fields_case -> k, e.fields -> k)) AS v \
                 WHERE e.entity_ref = ANY($1) AND v IS NOT NULL \
                 UNION ALL \
                 SELECT e.kind, coalesce(e.spec_type, ''), $3, r.target_ref FROM entities e \
                 JOIN relations r ON r.source_ref = e.entity_ref AND r.type = $4 \
                 WHERE e.entity_ref = ANY($1)").await?,
                &[
                    &refs,
                    &field_paths(),
                    &OWNED_BY,
                    &RelationType::OwnedBy.as_str(),
                ],
            )
            .await?;
        for row in rows {
            let bucket = (row.get(0), row.get(1));
            let path: String = row.get(2);
            self.add(&bucket, &path, row.get(3), -1);
        }
        Ok(())
    }

    /// Writes the changes. Rows are locked in key order, so batches of
    /// several partitions that meet on the same counts wait for each other
    /// rather than deadlock.
    pub async fn write(self, tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
        let mut kinds = Vec::new();
        let mut types = Vec::new();
        let mut paths = Vec::new();
        let mut values = Vec::new();
        let mut changes = Vec::new();
        for ((kind, spec_type, path, value), change) in self.0 {
            if change != 0 {
                kinds.push(kind);
                types.push(spec_type);
                paths.push(path);
                values.push(value);
                changes.push(change);
            }
        }
        if kinds.is_empty() {
            return Ok(());
        }
        tx.execute(
            &tx.prepare_cached("INSERT INTO facet_counts AS f (kind, spec_type, path, value, count) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[]) \
             ORDER BY 1, 2, 3, 4 \
             ON CONFLICT (kind, spec_type, path, value) DO UPDATE SET count = f.count + EXCLUDED.count").await?,
            &[&kinds, &types, &paths, &values, &changes],
        )
        .await?;
        Ok(())
    }
}
