//! Entity history: every applied event of an entity, deletions included.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// One version of an entity (or its deletion).
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// Stream sequence of the event.
    pub sequence: u64,
    pub event_id: Uuid,
    /// `upserted` or `deleted`.
    pub change: String,
    /// The descriptor as of this version; `None` for a deletion.
    pub entity: Option<Value>,
    pub content_hash: Option<String>,
    /// Who published it and from which location.
    pub producer: String,
    pub location: String,
    /// When the change happened (the event's time).
    pub occurred_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "sequence, event_id, change, entity, content_hash, producer, location, occurred_at";

fn version(row: &tokio_postgres::Row) -> Version {
    Version {
        sequence: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        event_id: row.get(1),
        change: row.get(2),
        entity: row.get(3),
        content_hash: row.get(4),
        producer: row.get(5),
        location: row.get(6),
        occurred_at: row.get(7),
    }
}

/// Versions of `entity_ref` (canonical) with a sequence above `after`, oldest
/// first, at most `limit`.
pub async fn history(
    client: &impl GenericClient,
    entity_ref: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<Version>, tokio_postgres::Error> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM entity_history WHERE entity_ref = $1 AND sequence > $2 \
                 ORDER BY sequence LIMIT $3"
            ),
            &[&entity_ref, &after, &limit],
        )
        .await?;
    Ok(rows.iter().map(version).collect())
}

/// The last version of `entity_ref` at or before `at` (a deletion when it
/// did not exist then because it had been deleted; `None` when it had never
/// existed).
pub async fn as_of(
    client: &impl GenericClient,
    entity_ref: &str,
    at: DateTime<Utc>,
) -> Result<Option<Version>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM entity_history WHERE entity_ref = $1 AND occurred_at <= $2 \
                 ORDER BY occurred_at DESC, sequence DESC LIMIT 1"
            ),
            &[&entity_ref, &at],
        )
        .await?;
    Ok(row.as_ref().map(version))
}

/// For each `(entity_ref, sequence)`, the version just before that
/// sequence, in one query; in input order.
pub async fn before_many(
    client: &impl GenericClient,
    at: &[(String, u64)],
) -> Result<Vec<Option<Version>>, tokio_postgres::Error> {
    let refs: Vec<&str> = at.iter().map(|(r, _)| r.as_str()).collect();
    let sequences: Vec<i64> = at
        .iter()
        .map(|(_, s)| i64::try_from(*s).unwrap_or(i64::MAX))
        .collect();
    let rows = client
        .query(
            &format!(
                "SELECT b.i, h.* FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS b(ref, seq, i) \
                 CROSS JOIN LATERAL (SELECT {COLUMNS} FROM entity_history \
                   WHERE entity_ref = b.ref AND sequence < b.seq ORDER BY sequence DESC LIMIT 1) h"
            ),
            &[&refs, &sequences],
        )
        .await?;
    let mut out = vec![None; at.len()];
    for row in &rows {
        let i = usize::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        if let Some(slot) = i.checked_sub(1).and_then(|i| out.get_mut(i)) {
            *slot = Some(Version {
                sequence: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                event_id: row.get(2),
                change: row.get(3),
                entity: row.get(4),
                content_hash: row.get(5),
                producer: row.get(6),
                location: row.get(7),
                occurred_at: row.get(8),
            });
        }
    }
    Ok(out)
}

/// The version of `entity_ref` just before `sequence` (to diff the first
/// version of a page against).
pub async fn before(
    client: &impl GenericClient,
    entity_ref: &str,
    sequence: u64,
) -> Result<Option<Version>, tokio_postgres::Error> {
    let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM entity_history WHERE entity_ref = $1 AND sequence < $2 \
                 ORDER BY sequence DESC LIMIT 1"
            ),
            &[&entity_ref, &sequence],
        )
        .await?;
    Ok(row.as_ref().map(version))
}
