//! Applying a batch of events to the read models in one transaction.
//!
//! Set-based: each table gets one statement per batch (`UNNEST` arrays), not
//! one round trip per event. Within a batch the events of one entity are
//! folded to the last one for the `entities` and `relations` tables, while
//! `entity_history` keeps every event.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use catalog_eventlog::{DecodedEvent, LocationEvent};

use crate::counts::CountChanges;
use catalog_model::{EntityChange, derive_relations};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// One message of a batch.
#[derive(Debug, Clone)]
pub enum BatchItem {
    /// A valid entity event, prepared for applying ([`BatchItem::event`]).
    Event(Arc<PreparedEvent>),
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
    /// An entity event, with what applying it needs computed now.
    pub fn event(decoded: DecodedEvent) -> Self {
        Self::Event(Arc::new(PreparedEvent::new(decoded)))
    }

    /// Stream sequence of the message.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Event(e) => e.decoded.sequence,
            Self::Location { sequence, .. }
            | Self::Dead { sequence, .. }
            | Self::Foreign { sequence } => *sequence,
        }
    }
}

/// An entity event with what applying it needs computed ahead: the
/// projector prepares each event as it is received, while the previous
/// batch is being applied, so that a batch's transaction spends its time in
/// PostgreSQL rather than waiting for the projector between statements.
#[derive(Debug)]
pub struct PreparedEvent {
    pub decoded: DecodedEvent,
    /// The entity's reference, as stored.
    entity_ref: String,
    /// The event id (the codec only lets UUIDs through).
    event_id: Uuid,
    /// For an upsert: its rows' values.
    upsert: Option<PreparedUpsert>,
}

/// The values an upsert writes.
#[derive(Debug)]
struct PreparedUpsert {
    /// The descriptor as JSON text (history and current state).
    doc: String,
    content_hash: String,
    kind: String,
    namespace: String,
    name: String,
    /// `spec.type`, lower-cased.
    spec_type: Option<String>,
    /// `entities.fields` and `entities.fields_case` as JSON text.
    fields: String,
    fields_case: Option<String>,
    /// The relations the entity declares: (type, target).
    relations: Vec<(&'static str, String)>,
    /// Its contributions to the facet counts: (path, value).
    counted: Vec<(&'static str, String)>,
}

impl PreparedEvent {
    fn new(decoded: DecodedEvent) -> Self {
        let entity_ref = decoded.event.entity_ref.to_string();
        // The codec only lets UUID event ids through.
        let event_id = Uuid::parse_str(&decoded.event.event_id).unwrap_or_default();
        let upsert = match &decoded.event.change {
            EntityChange::Upserted {
                entity,
                content_hash,
            } => Some(PreparedUpsert::new(entity, content_hash)),
            EntityChange::Deleted => None,
        };
        Self {
            decoded,
            entity_ref,
            event_id,
            upsert,
        }
    }

    fn sequence(&self) -> u64 {
        self.decoded.sequence
    }

    fn is_delete(&self) -> bool {
        self.upsert.is_none()
    }
}

impl PreparedUpsert {
    fn new(entity: &catalog_model::Entity, content_hash: &str) -> Self {
        let r = entity.entity_ref();
        let flat = catalog_model::entity_fields(entity);
        let (fields, fields_case) = stored_fields(&flat);
        let relations: Vec<(&'static str, String)> = derive_relations(entity)
            .into_iter()
            .filter(|rel| rel.source == *r)
            .map(|rel| (rel.relation.as_str(), rel.target.to_string()))
            .collect();
        let counted = crate::counts::counted(&flat, &relations);
        Self {
            doc: entity.canonical_text().to_string(),
            content_hash: content_hash.to_string(),
            kind: r.kind().to_string(),
            namespace: r.namespace().to_string(),
            name: r.name().to_string(),
            spec_type: entity.spec_str("type").map(str::to_lowercase),
            fields: fields.to_string(),
            fields_case: fields_case.map(|c| c.to_string()),
            relations,
            counted,
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
    /// The checkpoint was below the one the caller expected (a commit it
    /// saw succeed was lost, say in a PostgreSQL crash): nothing was
    /// applied, and the caller must resume from `checkpoint`.
    pub behind: bool,
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
///
/// `expected` is the checkpoint the caller last saw committed (0 when it
/// knows none); a checkpoint found below it applies nothing and reports
/// [`ApplyOutcome::behind`].
pub async fn apply_batch(
    client: &mut deadpool_postgres::Client,
    consumer: &str,
    mut items: Vec<BatchItem>,
    expected: u64,
) -> Result<ApplyOutcome, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // Statements are prepared once per connection (`prepare_cached`), so
    // PostgreSQL parses and plans each once, not in every batch (planning
    // was 7 % of its CPU while applying).
    //
    // Every statement of a batch reads or writes rows by key. While a table
    // grows fast (a first load, a rebuild) its statistics lag, and the
    // planner can think a sequential scan of what is by now millions of rows
    // cheap, or compile a tiny statement with JIT; neither is ever right here.
    //
    // The commit does not wait for its WAL flush (`synchronous_commit`):
    // the log, not the read model, is the record. A commit lost in a
    // PostgreSQL crash takes its checkpoint with it, and the projector,
    // which always resumes from the checkpoint it reads back, applies those
    // events again. (A reader may have seen the lost commit; it sees the
    // same state again once they are re-applied.)
    tx.batch_execute(
        "SET LOCAL enable_seqscan = off; SET LOCAL jit = off; SET LOCAL synchronous_commit = off",
    )
    .await?;
    // The checkpoint row, created when missing and locked either way.
    let checkpoint: i64 = tx
        .query_one(
            &tx.prepare_cached("INSERT INTO projector_checkpoints AS c (consumer, stream_sequence) VALUES ($1, 0) \
             ON CONFLICT (consumer) DO UPDATE SET consumer = c.consumer RETURNING c.stream_sequence").await?,
            &[&consumer],
        )
        .await?
        .get(0);
    let checkpoint = u64::try_from(checkpoint).unwrap_or(0);
    let mut outcome = ApplyOutcome {
        checkpoint,
        ..Default::default()
    };
    if checkpoint < expected {
        tx.rollback().await?;
        outcome.behind = true;
        return Ok(outcome);
    }
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
        &tx.prepare_cached("UPDATE projector_checkpoints SET stream_sequence = $2, updated_at = now() WHERE consumer = $1").await?,
        &[&consumer, &seq_i64(last)],
    )
    .await?;
    tx.commit().await?;
    outcome.checkpoint = last;
    Ok(outcome)
}

type Dead = (u64, String, String, Vec<u8>);

type Split = (
    Vec<Arc<PreparedEvent>>,
    Vec<(u64, LocationEvent)>,
    Vec<Dead>,
);

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
    tx: &Transaction<'_>,
    dead: &[Dead],
) -> Result<(), tokio_postgres::Error> {
    for (sequence, subject, reason, payload) in dead {
        tracing::warn!(sequence, subject, reason, "dead letter");
        tx.execute(
            &tx.prepare_cached("INSERT INTO dead_letters (sequence, subject, reason, payload) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sequence) DO NOTHING").await?,
            &[&seq_i64(*sequence), subject, reason, payload],
        )
        .await?;
    }
    Ok(())
}

/// Drops events whose id was already applied (a duplicate published outside
/// JetStream's de-duplication window), including duplicates within the batch.
async fn drop_already_applied(
    tx: &Transaction<'_>,
    events: Vec<Arc<PreparedEvent>>,
) -> Result<Vec<Arc<PreparedEvent>>, tokio_postgres::Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT event_id FROM entity_history WHERE event_id = ANY($1)")
                .await?,
            &[&ids],
        )
        .await?;
    let mut seen: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    Ok(events
        .into_iter()
        .filter(|e| seen.insert(e.event_id))
        .collect())
}

fn time_of(e: &DecodedEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(e.event.time_millis).unwrap_or_default()
}

async fn insert_history(
    tx: &Transaction<'_>,
    events: &[Arc<PreparedEvent>],
) -> Result<(), tokio_postgres::Error> {
    let mut seqs = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    let mut refs = Vec::with_capacity(events.len());
    let mut changes = Vec::with_capacity(events.len());
    let mut docs: Vec<Option<&str>> = Vec::with_capacity(events.len());
    let mut hashes: Vec<Option<&str>> = Vec::with_capacity(events.len());
    let mut producers = Vec::with_capacity(events.len());
    let mut locations = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    for e in events {
        seqs.push(seq_i64(e.sequence()));
        ids.push(e.event_id);
        refs.push(e.entity_ref.as_str());
        match &e.upsert {
            Some(u) => {
                changes.push("upserted");
                docs.push(Some(u.doc.as_str()));
                hashes.push(Some(u.content_hash.as_str()));
            }
            None => {
                changes.push("deleted");
                docs.push(None);
                hashes.push(None);
            }
        }
        let source = &e.decoded.event.source;
        producers.push(source.producer.as_str());
        locations.push(source.location.as_str());
        times.push(time_of(&e.decoded));
    }
    tx.execute(
        &tx.prepare_cached("INSERT INTO entity_history \
           (sequence, event_id, entity_ref, change, entity, content_hash, producer, location, occurred_at) \
         SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::text[], $5::text[]::jsonb[], \
                              $6::text[], $7::text[], $8::text[], $9::timestamptz[]) \
         ON CONFLICT DO NOTHING").await?,
        &[&seqs, &ids, &refs, &changes, &docs, &hashes, &producers, &locations, &times],
    )
    .await?;
    Ok(())
}

async fn apply_current_state(
    tx: &Transaction<'_>,
    events: &[Arc<PreparedEvent>],
) -> Result<(), tokio_postgres::Error> {
    // Last event per entity wins, but a deletion earlier in the batch still
    // ends the old entity: a re-created entity gets a new uid however the
    // events were split into batches.
    //
    // An entity's uid is the id of the event that created it: its first
    // upsert after its last deletion (in this batch or before it).
    let mut last: BTreeMap<&str, &PreparedEvent> = BTreeMap::new();
    let mut last_delete: BTreeMap<&str, u64> = BTreeMap::new();
    let mut created_by: BTreeMap<&str, Uuid> = BTreeMap::new();
    for e in events {
        let r = e.entity_ref.as_str();
        if e.is_delete() {
            last_delete.insert(r, e.sequence());
            created_by.remove(r);
        } else {
            created_by.entry(r).or_insert(e.event_id);
        }
        last.insert(r, e);
    }
    let touched: Vec<&str> = last.keys().copied().collect();

    // Facet counts: the stored versions out (read before anything
    // changes), the new ones in.
    let mut counts = CountChanges::default();
    counts.subtract_stored(tx, &touched).await?;
    let mut up = Upserts::default();
    for (r, e) in &last {
        if let Some(u) = &e.upsert {
            counts.add_counted(&u.kind, u.spec_type.as_deref(), &u.counted);
            let uid = created_by.get(r).copied().unwrap_or(e.event_id);
            up.push(uid, e, u);
        }
    }
    // The relations the touched entities declare, before and after. Every
    // row is keyed by its declaring entity, so only this batch (its
    // partition) writes them.
    let old: HashSet<RelationRow> = tx
        .query(
            &tx.prepare_cached(
                "SELECT source_ref, type, target_ref FROM relations WHERE source_ref = ANY($1)",
            )
            .await?,
            &[&touched],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut new: HashSet<RelationRow> = HashSet::new();
    for (r, e) in &last {
        if let Some(u) = &e.upsert {
            new.extend(
                u.relations
                    .iter()
                    .map(|(kind, target)| (r.to_string(), kind.to_string(), target.clone())),
            );
        }
    }

    let deleted_refs: Vec<&str> = last_delete.keys().copied().collect();
    let deleted_seqs: Vec<i64> = last_delete.values().map(|s| seq_i64(*s)).collect();
    tx.execute(
        &tx.prepare_cached("DELETE FROM entities e USING UNNEST($1::text[], $2::int8[]) AS d(entity_ref, sequence) \
         WHERE e.entity_ref = d.entity_ref AND e.sequence < d.sequence AND e.entity_ref = ANY($1)").await?,
        &[&deleted_refs, &deleted_seqs],
    )
    .await?;
    tx.execute(
            &tx.prepare_cached("INSERT INTO entities \
               (entity_ref, uid, kind, namespace, name, spec_type, entity, sequence, event_id, location, \
                updated_at, fields, fields_case) \
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
                         $7::text[]::jsonb[], $8::int8[], $13::uuid[], $9::text[], $10::timestamptz[], \
                         $11::text[]::jsonb[], $12::text[]::jsonb[]) \
             ON CONFLICT (entity_ref) DO UPDATE SET \
               kind = EXCLUDED.kind, namespace = EXCLUDED.namespace, name = EXCLUDED.name, \
               spec_type = EXCLUDED.spec_type, entity = EXCLUDED.entity, \
               sequence = EXCLUDED.sequence, event_id = EXCLUDED.event_id, location = EXCLUDED.location, \
               updated_at = EXCLUDED.updated_at, fields = EXCLUDED.fields, fields_case = EXCLUDED.fields_case \
             WHERE entities.sequence < EXCLUDED.sequence").await?,
            &[
                &up.refs, &up.uids, &up.kinds, &up.namespaces, &up.names, &up.types, &up.docs, &up.seqs,
                &up.locations, &up.times, &up.fields, &up.fields_case, &up.ids,
            ],
        )
        .await?;

    // Each entity's relation rows become those of its last version: only
    // the rows that differ are deleted or inserted, so an update that keeps
    // its relations writes none.
    let gone = RelationColumns::of(old.difference(&new));
    if !gone.sources.is_empty() {
        tx.execute(
            &tx.prepare_cached(
                "DELETE FROM relations r \
             USING UNNEST($1::text[], $2::text[], $3::text[]) AS d(s, t, g) \
             WHERE r.source_ref = d.s AND r.type = d.t AND r.target_ref = d.g \
               AND r.source_ref = ANY($1)",
            )
            .await?,
            &[&gone.sources, &gone.types, &gone.targets],
        )
        .await?;
    }
    let came = RelationColumns::of(new.difference(&old));
    if !came.sources.is_empty() {
        tx.execute(
            &tx.prepare_cached("INSERT INTO relations (source_ref, type, target_ref, inverse_type) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING").await?,
            &[&came.sources, &came.types, &came.targets, &came.inverse_types],
        )
        .await?;
    }
    // Last: the counts are the one place batches of several partitions meet.
    counts.write(tx).await
}

/// A declared relation: (source, type, target).
type RelationRow = (String, String, String);

/// Relation rows as columns, for `UNNEST`.
#[derive(Default)]
struct RelationColumns<'a> {
    sources: Vec<&'a str>,
    types: Vec<&'a str>,
    targets: Vec<&'a str>,
    inverse_types: Vec<&'static str>,
}

impl<'a> RelationColumns<'a> {
    fn of(rows: impl Iterator<Item = &'a RelationRow>) -> Self {
        let mut out = Self::default();
        for (source, kind, target) in rows {
            out.sources.push(source);
            out.types.push(kind);
            out.targets.push(target);
            out.inverse_types.push(
                catalog_model::RelationType::parse(kind).map_or("", |t| t.inverse().as_str()),
            );
        }
        out
    }
}

/// The `entities` rows of a batch, as columns.
#[derive(Default)]
struct Upserts<'a> {
    refs: Vec<&'a str>,
    /// Used only when the row is new.
    uids: Vec<Uuid>,
    ids: Vec<Uuid>,
    kinds: Vec<&'a str>,
    namespaces: Vec<&'a str>,
    names: Vec<&'a str>,
    types: Vec<Option<&'a str>>,
    docs: Vec<&'a str>,
    seqs: Vec<i64>,
    locations: Vec<&'a str>,
    times: Vec<DateTime<Utc>>,
    fields: Vec<&'a str>,
    fields_case: Vec<Option<&'a str>>,
}

impl<'a> Upserts<'a> {
    fn push(&mut self, uid: Uuid, e: &'a PreparedEvent, u: &'a PreparedUpsert) {
        self.refs.push(&e.entity_ref);
        self.uids.push(uid);
        self.ids.push(e.event_id);
        self.kinds.push(&u.kind);
        self.namespaces.push(&u.namespace);
        self.names.push(&u.name);
        self.types.push(u.spec_type.as_deref());
        self.docs.push(&u.doc);
        self.seqs.push(seq_i64(e.sequence()));
        self.locations.push(&e.decoded.event.source.location);
        self.times.push(time_of(&e.decoded));
        self.fields.push(&u.fields);
        self.fields_case.push(u.fields_case.as_deref());
    }
}

/// The key of `entities.fields` that lists every path (a flattened path is
/// never empty), so that "the path exists" is a containment test too.
pub const PATHS_KEY: &str = "";

/// The entity's filter fields as stored: `entities.fields` holds the values
/// lower-cased (as filters compare them) and, under [`PATHS_KEY`], every
/// path; `entities.fields_case` holds the values as written for the paths
/// where they differ from `fields` (`None` when none do), for facets.
pub fn stored_fields(flat: &catalog_model::Fields) -> (Value, Option<Value>) {
    let mut lower = serde_json::Map::new();
    let mut case = serde_json::Map::new();
    let mut paths = Vec::with_capacity(flat.len());
    for (path, values) in flat {
        let mut lowered: Vec<Value> = Vec::with_capacity(values.len());
        let mut differs = false;
        for v in values {
            let l = v.as_ref().map(|v| v.to_lowercase());
            differs |= l.as_deref() != v.as_deref();
            let l = l.map_or(Value::Null, Value::String);
            if !lowered.contains(&l) {
                lowered.push(l);
            }
        }
        if differs {
            let written = values
                .iter()
                .map(|v| v.clone().map_or(Value::Null, Value::String))
                .collect();
            case.insert(path.clone(), Value::Array(written));
        }
        paths.push(Value::String(path.clone()));
        lower.insert(path.clone(), Value::Array(lowered));
    }
    lower.insert(PATHS_KEY.to_string(), Value::Array(paths));
    let case = (!case.is_empty()).then_some(Value::Object(case));
    (Value::Object(lower), case)
}
