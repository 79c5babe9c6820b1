//! Location events into the `locations` and `location_status` tables.

use catalog_eventlog::LocationEvent;
use catalog_proto::v1 as pb;
use catalog_proto::v1::location_event::Change;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use uuid::Uuid;

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

fn outcome(o: i32) -> &'static str {
    match pb::location_status::Outcome::try_from(o) {
        Ok(pb::location_status::Outcome::Failed) => "failed",
        Ok(pb::location_status::Outcome::Partial) => "partial",
        _ => "ok",
    }
}

fn registered_by(r: &pb::LocationRegistered) -> &str {
    if r.registered_by.is_empty() {
        "api"
    } else {
        &r.registered_by
    }
}

/// Applies location events in stream order (there are few per batch).
pub async fn apply_locations(
    tx: &Transaction<'_>,
    events: &[(u64, LocationEvent)],
) -> Result<(), tokio_postgres::Error> {
    for (sequence, e) in events {
        let id = Uuid::parse_str(&e.location_id()).unwrap_or_default();
        let seq = i64::try_from(*sequence).unwrap_or(i64::MAX);
        match &e.change {
            Change::Registered(r) => {
                tx.execute(
                    &tx.prepare_cached("INSERT INTO locations (id, type, target, location_key, registered_at, sequence, registered_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, target = EXCLUDED.target, \
                       registered_at = EXCLUDED.registered_at, sequence = EXCLUDED.sequence, \
                       registered_by = EXCLUDED.registered_by").await?,
                    &[&id, &r.r#type, &r.target, &e.location_key, &time(e.time_millis), &seq, &registered_by(r)],
                )
                .await?;
            }
            Change::Unregistered(_) => {
                tx.execute(
                    &tx.prepare_cached("DELETE FROM locations WHERE id = $1")
                        .await?,
                    &[&id],
                )
                .await?;
                tx.execute(
                    &tx.prepare_cached("DELETE FROM location_status WHERE id = $1")
                        .await?,
                    &[&id],
                )
                .await?;
            }
            Change::Status(s) => {
                let problems: Vec<serde_json::Value> = s
                    .problems
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "location": p.location, "document": p.document, "field": p.field, "message": p.message
                        })
                    })
                    .collect();
                let refreshed = s
                    .refreshed_at
                    .map(|t| t.seconds.saturating_mul(1000) + i64::from(t.nanos) / 1_000_000)
                    .unwrap_or(e.time_millis);
                tx.execute(
                    &tx.prepare_cached("INSERT INTO location_status \
                       (id, location_key, refreshed_at, outcome, entities, problems, static, sequence, \
                        refresh_sequence) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
                     WHERE EXISTS (SELECT 1 FROM locations WHERE id = $1) \
                     ON CONFLICT (id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, \
                       outcome = EXCLUDED.outcome, entities = EXCLUDED.entities, problems = EXCLUDED.problems, \
                       static = EXCLUDED.static, sequence = EXCLUDED.sequence, \
                       refresh_sequence = EXCLUDED.refresh_sequence").await?,
                    &[
                        &id,
                        &e.location_key,
                        &time(refreshed),
                        &outcome(s.outcome),
                        &i32::try_from(s.entities).unwrap_or(i32::MAX),
                        &serde_json::Value::Array(problems),
                        &s.r#static,
                        &seq,
                        &i64::try_from(s.refresh_sequence).unwrap_or(i64::MAX),
                    ],
                )
                .await?;
            }
            // A request to the ingest workers; the log keeps it, the read
            // model learns of it through the status that answers it.
            Change::RefreshRequested(_) => {}
        }
    }
    Ok(())
}
