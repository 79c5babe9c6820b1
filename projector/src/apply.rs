//! Applying a batch of events to the read models in one transaction.
//!
//! Set-based: each table gets one statement per batch (`UNNEST` arrays), not
//! one round trip per event. Within a batch the events of one entity are
//! folded to the last one for the `entities` and `relations` tables, while
//! `entity_history` keeps every event.

use std::collections::{BTreeMap, HashSet};

use catalog_eventlog::{DecodedEvent, LocationEvent};
use catalog_model::{EntityChange, derive_relations};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// One message of a batch.
#[derive(Debug, Clone)]
pub enum BatchItem {
    /// A valid entity event.
    Event(DecodedEvent),
    /// A valid location event.
    Location { sequence: u64, event: LocationEvent },
    /// A message that cannot be applied, kept as a dead letter.
    Dead {
        sequence: u64,
        subject: String,
        reason: String,
        payload: Vec<u8>,
        headers: Option<async_nats::HeaderMap>,
    },
    /// Another partition's message: it only moves the checkpoint.
    Foreign { sequence: u64 },
}

impl BatchItem {
    /// Stream sequence of the message.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Event(e) => e.sequence,
            Self::Location { sequence, .. }
            | Self::Dead { sequence, .. }
            | Self::Foreign { sequence } => *sequence,
        }
    }
}

/// What applying a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Events that changed the read model.
    pub applied: usize,
    /// Events skipped: at or below the checkpoint, or an event id already applied.
    pub skipped: usize,
    /// Messages recorded as dead letters.
    pub dead: usize,
    /// The checkpoint after the batch.
    pub checkpoint: u64,
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The last applied stream sequence for `consumer` (0 when none).
pub async fn read_checkpoint(
    client: &impl GenericClient,
    consumer: &str,
) -> Result<u64, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT stream_sequence FROM projector_checkpoints WHERE consumer = $1",
            &[&consumer],
        )
        .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

/// Applies `items` and advances the checkpoint, all in one transaction.
pub async fn apply_batch(
    client: &mut tokio_postgres::Client,
    consumer: &str,
    mut items: Vec<BatchItem>,
) -> Result<ApplyOutcome, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // Every statement of a batch reads or writes rows by key. While a table
    // grows fast (a first load, a rebuild) its statistics lag, and the
    // planner can think a sequential scan of what is by now millions of rows
    // cheap, or compile a tiny statement with JIT; neither is ever right here.
    tx.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL jit = off")
        .await?;
    tx.execute(
        "INSERT INTO projector_checkpoints (consumer, stream_sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        &[&consumer],
    )
    .await?;
    let checkpoint: i64 = tx
        .query_one(
            "SELECT stream_sequence FROM projector_checkpoints WHERE consumer = $1 FOR UPDATE",
            &[&consumer],
        )
        .await?
        .get(0);
    let checkpoint = u64::try_from(checkpoint).unwrap_or(0);
    let mut outcome = ApplyOutcome {
        checkpoint,
        ..Default::default()
    };
    items.sort_by_key(BatchItem::sequence);
    let total = items.len();
    items.retain(|i| i.sequence() > checkpoint);
    outcome.skipped = total - items.len();
    let Some(last) = items.last().map(BatchItem::sequence) else {
        tx.commit().await?;
        return Ok(outcome);
    };

    let (events, locations, dead) = split(items);
    outcome.dead = dead.len();
    insert_dead_letters(&tx, &dead).await?;
    crate::locations::apply_locations(&tx, &locations).await?;
    let events = drop_already_applied(&tx, events).await?;
    outcome.skipped += total - outcome.skipped - outcome.dead - locations.len() - events.len();
    outcome.applied = events.len() + locations.len();
    insert_history(&tx, &events).await?;
    apply_current_state(&tx, &events).await?;

    tx.execute(
        "UPDATE projector_checkpoints SET stream_sequence = $2, updated_at = now() WHERE consumer = $1",
        &[&consumer, &seq_i64(last)],
    )
    .await?;
    tx.commit().await?;
    outcome.checkpoint = last;
    Ok(outcome)
}

type Dead = (u64, String, String, Vec<u8>);

type Split = (Vec<DecodedEvent>, Vec<(u64, LocationEvent)>, Vec<Dead>);

fn split(items: Vec<BatchItem>) -> Split {
    let mut events = Vec::new();
    let mut locations = Vec::new();
    let mut dead = Vec::new();
    for item in items {
        match item {
            BatchItem::Event(e) => events.push(e),
            BatchItem::Location { sequence, event } => locations.push((sequence, event)),
            BatchItem::Dead {
                sequence,
                subject,
                reason,
                payload,
                ..
            } => dead.push((sequence, subject, reason, payload)),
            BatchItem::Foreign { .. } => {}
        }
    }
    (events, locations, dead)
}

async fn insert_dead_letters(
    tx: &impl GenericClient,
    dead: &[Dead],
) -> Result<(), tokio_postgres::Error> {
    for (sequence, subject, reason, payload) in dead {
        tracing::warn!(sequence, subject, reason, "dead letter");
        tx.execute(
            "INSERT INTO dead_letters (sequence, subject, reason, payload) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sequence) DO NOTHING",
            &[&seq_i64(*sequence), subject, reason, payload],
        )
        .await?;
    }
    Ok(())
}

fn event_uuid(e: &DecodedEvent) -> Uuid {
    // The codec only lets UUID event ids through.
    Uuid::parse_str(&e.event.event_id).unwrap_or_default()
}

/// Drops events whose id was already applied (a duplicate published outside
/// JetStream's de-duplication window), including duplicates within the batch.
async fn drop_already_applied(
    tx: &impl GenericClient,
    events: Vec<DecodedEvent>,
) -> Result<Vec<DecodedEvent>, tokio_postgres::Error> {
    let ids: Vec<Uuid> = events.iter().map(event_uuid).collect();
    let rows = tx
        .query(
            "SELECT event_id FROM entity_history WHERE event_id = ANY($1)",
            &[&ids],
        )
        .await?;
    let mut seen: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    Ok(events
        .into_iter()
        .filter(|e| seen.insert(event_uuid(e)))
        .collect())
}

fn time_of(e: &DecodedEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(e.event.time_millis).unwrap_or_default()
}

async fn insert_history(
    tx: &impl GenericClient,
    events: &[DecodedEvent],
) -> Result<(), tokio_postgres::Error> {
    let mut seqs = Vec::new();
    let mut ids = Vec::new();
    let mut refs = Vec::new();
    let mut changes = Vec::new();
    let mut docs: Vec<Option<Value>> = Vec::new();
    let mut hashes: Vec<Option<String>> = Vec::new();
    let mut producers = Vec::new();
    let mut locations = Vec::new();
    let mut times = Vec::new();
    for e in events {
        seqs.push(seq_i64(e.sequence));
        ids.push(event_uuid(e));
        refs.push(e.event.entity_ref.to_string());
        match &e.event.change {
            EntityChange::Upserted {
                entity,
                content_hash,
            } => {
                changes.push("upserted");
                docs.push(Some(entity.to_value()));
                hashes.push(Some(content_hash.clone()));
            }
            EntityChange::Deleted => {
                changes.push("deleted");
                docs.push(None);
                hashes.push(None);
            }
        }
        producers.push(e.event.source.producer.clone());
        locations.push(e.event.source.location.clone());
        times.push(time_of(e));
    }
    tx.execute(
        "INSERT INTO entity_history \
           (sequence, event_id, entity_ref, change, entity, content_hash, producer, location, occurred_at) \
         SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[], \
                              $7::text[], $8::text[], $9::timestamptz[]) \
         ON CONFLICT DO NOTHING",
        &[&seqs, &ids, &refs, &changes, &docs, &hashes, &producers, &locations, &times],
    )
    .await?;
    Ok(())
}

async fn apply_current_state(
    tx: &impl GenericClient,
    events: &[DecodedEvent],
) -> Result<(), tokio_postgres::Error> {
    // Last event per entity wins, but a deletion earlier in the batch still
    // ends the old entity: a re-created entity gets a new uid however the
    // events were split into batches.
    let mut last: BTreeMap<String, &DecodedEvent> = BTreeMap::new();
    let mut last_delete: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        let r = e.event.entity_ref.to_string();
        if matches!(e.event.change, EntityChange::Deleted) {
            last_delete.insert(r.clone(), e.sequence);
        }
        last.insert(r, e);
    }
    let touched: Vec<String> = last.keys().cloned().collect();

    let mut up = Upserts::default();
    for (r, e) in &last {
        if let EntityChange::Upserted { entity, .. } = &e.event.change {
            up.push(r, e, entity);
        }
    }
    // The relation rows of the touched entities, before and after. Only this
    // batch (its partition) writes rows originating from them.
    let old: HashSet<RelationRow> = tx
        .query(
            "SELECT originating_ref, source_ref, type, target_ref FROM relations \
             WHERE originating_ref = ANY($1)",
            &[&touched],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let mut new: HashSet<RelationRow> = HashSet::new();
    for (r, e) in &last {
        if let EntityChange::Upserted { entity, .. } = &e.event.change {
            for rel in derive_relations(entity) {
                new.insert((
                    r.clone(),
                    rel.source.to_string(),
                    rel.relation.as_str().to_string(),
                    rel.target.to_string(),
                ));
            }
        }
    }
    let mut lock: HashSet<&String> = touched.iter().collect();
    lock.extend(old.iter().chain(new.iter()).map(|row| &row.1));
    lock_entities(tx, lock.into_iter().collect()).await?;

    let deleted_refs: Vec<&String> = last_delete.keys().collect();
    let deleted_seqs: Vec<i64> = last_delete.values().map(|s| seq_i64(*s)).collect();
    tx.execute(
        "DELETE FROM entities e USING UNNEST($1::text[], $2::int8[]) AS d(entity_ref, sequence) \
         WHERE e.entity_ref = d.entity_ref AND e.sequence < d.sequence AND e.entity_ref = ANY($1)",
        &[&deleted_refs, &deleted_seqs],
    )
    .await?;
    tx.execute(
            "INSERT INTO entities \
               (entity_ref, uid, kind, namespace, name, spec_type, entity, etag, sequence, event_id, location, \
                updated_at, fields, field_keys) \
             SELECT r, id, k, ns, n, t, doc, id::text, s, id, loc, at, f, \
                    ARRAY(SELECT jsonb_object_keys(f)) \
             FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], \
                         $8::int8[], $9::text[], $10::timestamptz[], $11::jsonb[]) \
                  AS u(r, id, k, ns, n, t, doc, s, loc, at, f) \
             ON CONFLICT (entity_ref) DO UPDATE SET \
               kind = EXCLUDED.kind, namespace = EXCLUDED.namespace, name = EXCLUDED.name, \
               spec_type = EXCLUDED.spec_type, entity = EXCLUDED.entity, \
               etag = EXCLUDED.etag, \
               sequence = EXCLUDED.sequence, event_id = EXCLUDED.event_id, location = EXCLUDED.location, \
               updated_at = EXCLUDED.updated_at, fields = EXCLUDED.fields, field_keys = EXCLUDED.field_keys \
             WHERE entities.sequence < EXCLUDED.sequence",
            &[
                &up.refs, &up.ids, &up.kinds, &up.namespaces, &up.names, &up.types, &up.docs, &up.seqs,
                &up.locations, &up.times, &up.fields,
            ],
        )
        .await?;

    // Each entity's relation rows become those of its last version: only
    // the rows that differ are deleted or inserted, so an update that keeps
    // its relations writes none.
    let mut changes = RelationChanges::default();
    let mut gone = RelationChanges::default();
    for row in old.difference(&new) {
        gone.push(row, -1);
        changes.push(row, -1);
    }
    let mut came = RelationChanges::default();
    for row in new.difference(&old) {
        came.push(row, 1);
        changes.push(row, 1);
    }
    if !gone.sources.is_empty() {
        tx.execute(
            "DELETE FROM relations r \
             USING UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS d(o, s, t, g) \
             WHERE r.originating_ref = d.o AND r.source_ref = d.s AND r.type = d.t \
               AND r.target_ref = d.g AND r.originating_ref = ANY($1)",
            &[&gone.origins, &gone.sources, &gone.types, &gone.targets],
        )
        .await?;
    }
    if !came.sources.is_empty() {
        tx.execute(
            "INSERT INTO relations (originating_ref, source_ref, type, target_ref) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
            &[&came.origins, &came.sources, &came.types, &came.targets],
        )
        .await?;
    }
    apply_relation_deltas(tx, &changes).await
}

/// Takes a transaction-level advisory lock on every entity this batch can
/// write: its own entities and the sources of the relation rows it removes or
/// adds (whose relation hashes it updates). Taken first and in one order, so
/// that projector partitions writing the same entity (an owner and its
/// components in two partitions) serialise instead of deadlocking, and each
/// computes from rows the other has committed.
async fn lock_entities(
    tx: &impl GenericClient,
    refs: Vec<&String>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(k) FROM \
           (SELECT DISTINCT hashtextextended(r, 7) AS k FROM unnest($1::text[]) AS r ORDER BY 1) AS l",
        &[&refs],
    )
    .await?;
    Ok(())
}

/// A relation row: (originating, source, type, target).
type RelationRow = (String, String, String, String);

/// Relation rows deleted (`-1`) or inserted (`1`) by a batch.
#[derive(Default)]
struct RelationChanges {
    sources: Vec<String>,
    signs: Vec<i32>,
    origins: Vec<String>,
    types: Vec<String>,
    targets: Vec<String>,
}

impl RelationChanges {
    fn push(&mut self, (origin, source, kind, target): &RelationRow, sign: i32) {
        self.origins.push(origin.clone());
        self.sources.push(source.clone());
        self.types.push(kind.clone());
        self.targets.push(target.clone());
        self.signs.push(sign);
    }
}

/// `relation_hashes.hash` of an entity is the sum, modulo 2^63 - 1 and kept
/// in `[0, p)`, of a 64-bit hash of every relation row `(originating, type,
/// target)` whose source is the entity. A function of the final set of rows
/// only (replays with other batch boundaries agree), maintained
/// incrementally: a batch adds the hashes of the rows it inserted and
/// subtracts those it deleted, so neither a hot-spot owner with many
/// relations nor the entity row itself is rewritten for a relation change.
/// The entity's etag is [`crate::query::ETAG_SQL`]: `md5(event_id:hash)`.
const HASH_OF_ROW: &str = "hashtextextended(o || ' ' || t || ' ' || g, 0)::numeric";
const HASH_MODULUS: &str = "9223372036854775807";

/// Moves the relation hash of every source whose relation rows changed.
async fn apply_relation_deltas(
    tx: &impl GenericClient,
    changes: &RelationChanges,
) -> Result<(), tokio_postgres::Error> {
    if changes.sources.is_empty() {
        return Ok(());
    }
    let p = HASH_MODULUS;
    tx.execute(
        &format!(
            "INSERT INTO relation_hashes (source_ref, hash) \
             SELECT s, (((sum(sign * {HASH_OF_ROW}) % {p}) + {p}) % {p})::int8 \
             FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[]) AS u(s, sign, o, t, g) \
             GROUP BY s \
             ON CONFLICT (source_ref) DO UPDATE SET \
               hash = ((((relation_hashes.hash::numeric + EXCLUDED.hash) % {p}) + {p}) % {p})::int8"
        ),
        &[
            &changes.sources,
            &changes.signs,
            &changes.origins,
            &changes.types,
            &changes.targets,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Default)]
struct Upserts {
    refs: Vec<String>,
    ids: Vec<Uuid>,
    kinds: Vec<String>,
    namespaces: Vec<String>,
    names: Vec<String>,
    types: Vec<Option<String>>,
    docs: Vec<Value>,
    seqs: Vec<i64>,
    locations: Vec<String>,
    times: Vec<DateTime<Utc>>,
    fields: Vec<Value>,
}

impl Upserts {
    fn push(&mut self, entity_ref: &str, e: &DecodedEvent, entity: &catalog_model::Entity) {
        let r = entity.entity_ref();
        self.refs.push(entity_ref.to_string());
        self.ids.push(event_uuid(e));
        self.kinds.push(r.kind().to_string());
        self.namespaces.push(r.namespace().to_string());
        self.names.push(r.name().to_string());
        self.types
            .push(entity.spec_str("type").map(str::to_lowercase));
        self.docs.push(entity.to_value());
        self.seqs.push(seq_i64(e.sequence));
        self.locations.push(e.event.source.location.clone());
        self.times.push(time_of(e));
        self.fields.push(fields_json(entity));
    }
}

/// The entity's filter fields as stored in `entities.fields`.
fn fields_json(entity: &catalog_model::Entity) -> Value {
    Value::Object(
        catalog_model::entity_fields(entity)
            .into_iter()
            .map(|(k, values)| {
                let values = values
                    .into_iter()
                    .map(|v| v.map_or(Value::Null, Value::String))
                    .collect();
                (k, Value::Array(values))
            })
            .collect(),
    )
}
