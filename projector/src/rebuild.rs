//! Rebuild: replay the whole stream into a fresh schema, verify it, and
//! switch it in atomically while the API keeps serving the old model.
//!
//! 1. The live tables (schema `public`) are brought up to date, then a
//!    schema `rebuild_<time>` is migrated from scratch.
//! 2. A projector with its own NATS consumers and the live checkpoint keys
//!    replays the stream from sequence 1 into it (connections whose
//!    `search_path` is that schema alone) until it reaches the stream's last
//!    sequence as of the start. Dead letters are recorded, not republished.
//!    The indexes only readers use (every non-unique one) are dropped before
//!    the replay and built once it is there, each in one pass over the
//!    finished table: maintaining them row by row was most of a replay's
//!    cost.
//! 3. The new model is verified: every live entity is the last upsert of its
//!    history, no entity whose history ends in an upsert is missing, every
//!    relation row belongs to an existing entity, and the facet counts equal
//!    a count of the entities.
//! 4. Switch, in one transaction: the live tables are locked (readers and the
//!    live projector wait), the rebuild catches up to every live checkpoint,
//!    then the live tables move to `previous_<time>` and the rebuilt ones to
//!    `public`. Statements resolve table names when they run, so readers
//!    continue on the new tables; the live projector finds a checkpoint at or
//!    beyond its own and carries on from there.
//! 5. The previous tables are dropped unless kept.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_eventlog::EventLog;
use deadpool_postgres::Pool;
use tokio_postgres::GenericClient;
use tokio_util::sync::CancellationToken;

use crate::apply::read_checkpoint;
use crate::config::ProjectorConfig;
use crate::db::connect_pool_in_schema;
use crate::projector::Projector;
use crate::schema;

/// Longest time the live tables stay locked while the rebuild catches up.
const SWITCH_CATCH_UP: Duration = Duration::from_secs(30);
/// How often progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// Memory for each index build (PostgreSQL's default is 64 MB): sorts and
/// GIN builds that fit in memory do not spill to disk.
const INDEX_BUILD_MEMORY: &str = "256MB";
/// Indexes built at once, each on its own connection.
const INDEX_BUILDS: usize = 2;

/// Why a rebuild failed. Nothing is switched when it fails.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("the rebuilt model failed verification: {0}")]
    Verification(String),
    #[error("the rebuild fell behind the live projector: {0}")]
    CatchUp(String),
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
}

fn pg(context: &str) -> impl Fn(tokio_postgres::Error) -> RebuildError + '_ {
    move |e| RebuildError::Postgres(format!("{context}: {}", crate::db::describe(&e)))
}

/// How far a rebuild has come.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Stream sequence applied by every partition.
    pub applied: u64,
    /// Stream sequence to reach before switching.
    pub target: u64,
    /// Events per second since the start.
    pub rate: f64,
    pub elapsed: Duration,
    /// The replay is done and the readers' indexes are being built.
    pub indexing: bool,
}

impl Progress {
    /// Share done, 0.0..=100.0.
    pub fn percent(&self) -> f64 {
        if self.target == 0 {
            100.0
        } else {
            (self.applied.min(self.target) as f64) * 100.0 / (self.target as f64)
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// The schema the model was built in.
    pub schema: String,
    /// Stream sequence of the switched-in model.
    pub checkpoint: u64,
    pub entities: i64,
    pub relations: i64,
    pub history: i64,
    pub elapsed: Duration,
    /// Where the previous tables went, when kept.
    pub previous: Option<String>,
}

/// Options of [`rebuild`].
pub struct RebuildOptions {
    /// Keep the previous tables in schema `previous_<time>`.
    pub keep_previous: bool,
    /// Called about once a second while replaying.
    pub on_progress: Box<dyn Fn(&Progress) + Send + Sync>,
}

/// Rebuilds the read model from the log and switches it in. `live` is a
/// pool on the live schema; `pg_url` is used for the rebuild's own
/// connections.
pub async fn rebuild(
    config: &ProjectorConfig,
    log: &EventLog,
    live: &Pool,
    pg_url: &str,
    options: RebuildOptions,
    shutdown: CancellationToken,
) -> Result<RebuildReport, RebuildError> {
    let started = Instant::now();
    schema::migrate(live).await?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let target_schema = format!("rebuild_{stamp}");
    {
        let client = live
            .get()
            .await
            .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
        client
            .batch_execute(&format!("CREATE SCHEMA {target_schema}"))
            .await
            .map_err(pg("creating the rebuild schema"))?;
    }
    let result = build_and_switch(
        config,
        log,
        live,
        pg_url,
        &target_schema,
        &stamp,
        &options,
        &shutdown,
        started,
    )
    .await;
    // The replay's consumers are of no use once it is over.
    if let Ok(stream) = log.stream().await {
        for p in 0..config.partitions {
            let name = format!("{}-{}", replay_prefix(&stamp), config.partition_name(p));
            if let Err(e) = stream.delete_consumer(&name).await {
                tracing::debug!(consumer = %name, error = %e, "deleting a rebuild consumer");
            }
        }
    }
    if result.is_err()
        && let Ok(client) = live.get().await
    {
        // Nothing was switched: the half-built schema goes.
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {target_schema} CASCADE"))
            .await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn build_and_switch(
    config: &ProjectorConfig,
    log: &EventLog,
    live: &Pool,
    pg_url: &str,
    target_schema: &str,
    stamp: &str,
    options: &RebuildOptions,
    shutdown: &CancellationToken,
    started: Instant,
) -> Result<RebuildReport, RebuildError> {
    let pool = connect_pool_in_schema(
        pg_url,
        (config.owned().len() + 2).max(INDEX_BUILDS + 1),
        target_schema,
    )
    .map_err(|e| RebuildError::Postgres(e.to_string()))?;
    schema::migrate(&pool).await?;
    let deferred = defer_indexes(&pool, target_schema).await?;
    let target = log
        .last_sequence()
        .await
        .map_err(|e| RebuildError::Nats(e.to_string()))?;
    let names: Vec<String> = (0..config.partitions)
        .map(|p| config.partition_name(p))
        .collect();

    // Replay with every partition, into the new schema.
    let mut replay_config = config.clone();
    replay_config.owned_partitions = Vec::new();
    replay_config.dead_letter_subject = false;
    // Nobody waits on a replay's individual events: larger transactions,
    // fewer of them.
    replay_config.batch_size = replay_config.batch_size.max(REPLAY_BATCH);
    let stop = CancellationToken::new();
    let projector = Projector::new(replay_config, log.clone(), pool.clone())
        .with_consumer_prefix(&replay_prefix(stamp));
    let task = tokio::spawn(projector.run(stop.clone()));
    let replay = Replay {
        pool: pool.clone(),
        names: Arc::new(names.clone()),
        stop,
        task,
    };
    let outcome = async {
        loop {
            let applied = replay.applied().await?;
            let elapsed = started.elapsed();
            let progress = Progress {
                applied,
                target,
                rate: applied as f64 / elapsed.as_secs_f64().max(0.001),
                elapsed,
                indexing: false,
            };
            (options.on_progress)(&progress);
            if applied >= target {
                (options.on_progress)(&Progress {
                    indexing: true,
                    ..progress
                });
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Err(RebuildError::Interrupted),
                () = tokio::time::sleep(PROGRESS_INTERVAL) => {}
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Err(RebuildError::Interrupted),
            built = build_indexes(&pool, &deferred) => built?,
        }
        verify(
            &**pool
                .get()
                .await
                .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?,
        )
        .await?;
        switch(live, &replay, target_schema, stamp).await
    }
    .await;
    replay.finish().await;
    let checkpoint = outcome?;

    let previous = format!("previous_{stamp}");
    let client = live
        .get()
        .await
        .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {target_schema} CASCADE"))
        .await
        .map_err(pg("dropping the emptied rebuild schema"))?;
    if !options.keep_previous {
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {previous} CASCADE"))
            .await
            .map_err(pg("dropping the previous tables"))?;
    }
    let count = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map(|r| r.get::<_, i64>(0))
                .map_err(pg("counting the new model"))
        }
    };
    Ok(RebuildReport {
        schema: target_schema.to_string(),
        checkpoint,
        entities: count("entities").await?,
        relations: count("relations").await?,
        history: count("entity_history").await?,
        elapsed: started.elapsed(),
        previous: options.keep_previous.then_some(previous),
    })
}

/// Prefix of the replay's NATS consumer names.
fn replay_prefix(stamp: &str) -> String {
    format!("rebuild-{stamp}")
}

/// Drops the indexes of the replayed tables that applying events does not
/// use (every non-unique one: the unique ones answer `ON CONFLICT` and the
/// lookups by key) and returns their definitions, for [`build_indexes`].
async fn defer_indexes(pool: &Pool, schema: &str) -> Result<Vec<String>, RebuildError> {
    let client = pool
        .get()
        .await
        .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
    let rows = client
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
             FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = $1 AND NOT i.indisunique \
               AND t.relname IN ('entities', 'relations', 'entity_history') \
             ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(pg("listing the indexes to build after the replay"))?;
    let mut definitions = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.get(0);
        client
            .batch_execute(&format!("DROP INDEX {name}"))
            .await
            .map_err(pg("dropping an index until the replay is done"))?;
        definitions.push(row.get(1));
    }
    Ok(definitions)
}

/// Least batch size of a replay (the live projector's, if larger).
const REPLAY_BATCH: usize = 2_000;

/// Builds the indexes [`defer_indexes`] dropped, [`INDEX_BUILDS`] at a
/// time, then updates the planner's statistics of the new tables.
async fn build_indexes(pool: &Pool, definitions: &[String]) -> Result<(), RebuildError> {
    use futures::StreamExt as _;
    let started = Instant::now();
    let build = |definition: &String| {
        let definition = definition.clone();
        async move {
            let client = pool
                .get()
                .await
                .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
            client
                .batch_execute(&format!(
                    "SET maintenance_work_mem = '{INDEX_BUILD_MEMORY}'; {definition}; \
                     RESET maintenance_work_mem"
                ))
                .await
                .map_err(pg("building an index after the replay"))
        }
    };
    let mut builds =
        futures::stream::iter(definitions.iter().map(build)).buffer_unordered(INDEX_BUILDS);
    while let Some(built) = builds.next().await {
        built?;
    }
    let client = pool
        .get()
        .await
        .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
    client
        .batch_execute("ANALYZE entities, relations, entity_history")
        .await
        .map_err(pg("analysing the rebuilt tables"))?;
    tracing::info!(
        indexes = definitions.len(),
        seconds = started.elapsed().as_secs_f64(),
        "built the rebuilt tables' indexes"
    );
    Ok(())
}

/// The replaying projector.
struct Replay {
    pool: Pool,
    names: Arc<Vec<String>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), crate::ProjectorError>>,
}

impl Replay {
    /// The sequence every partition has applied.
    async fn applied(&self) -> Result<u64, RebuildError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
        let mut min = u64::MAX;
        for name in self.names.iter() {
            let cp = read_checkpoint(&**client, name)
                .await
                .map_err(pg("reading the rebuild's checkpoints"))?;
            min = min.min(cp);
        }
        if self.task.is_finished() {
            return Err(RebuildError::Nats("the replaying projector stopped".into()));
        }
        Ok(if min == u64::MAX { 0 } else { min })
    }

    async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Checks the rebuilt model's internal consistency.
async fn verify(client: &impl GenericClient) -> Result<(), RebuildError> {
    let facet_check = format!(
        "SELECT count(*) FROM ( \
                   (SELECT kind, spec_type, path, value, count FROM facet_counts WHERE count <> 0 \
                    EXCEPT ALL ({recount})) \
                   UNION ALL \
                   (({recount}) EXCEPT ALL \
                    SELECT kind, spec_type, path, value, count FROM facet_counts WHERE count <> 0)) d",
        recount = crate::counts::RECOUNT_SQL
    );
    let checks = [
        (
            "entities that are not the last upsert of their history",
            "SELECT count(*) FROM entities e WHERE e.event_id IS DISTINCT FROM \
             (SELECT h.event_id FROM entity_history h WHERE h.entity_ref = e.entity_ref \
              ORDER BY h.sequence DESC LIMIT 1)",
        ),
        (
            "entities whose history ends in an upsert but that are missing",
            "SELECT count(*) FROM (SELECT DISTINCT ON (entity_ref) entity_ref, change \
             FROM entity_history ORDER BY entity_ref, sequence DESC) l \
             WHERE l.change = 'upserted' AND NOT EXISTS \
             (SELECT 1 FROM entities e WHERE e.entity_ref = l.entity_ref)",
        ),
        (
            "facet counts that differ from counting the entities",
            facet_check.as_str(),
        ),
        (
            "relation rows of entities that do not exist",
            "SELECT count(*) FROM relations r WHERE NOT EXISTS \
             (SELECT 1 FROM entities e WHERE e.entity_ref = r.source_ref)",
        ),
    ];
    for (what, sql) in checks {
        let n: i64 = client
            .query_one(sql, &[])
            .await
            .map_err(pg("verifying the rebuilt model"))?
            .get(0);
        if n != 0 {
            return Err(RebuildError::Verification(format!("{n} {what}")));
        }
    }
    Ok(())
}

/// The base tables of `schema`, sorted.
async fn tables(client: &impl GenericClient, schema: &str) -> Result<Vec<String>, RebuildError> {
    Ok(client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(pg("listing tables"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Swaps the rebuilt tables in (see the module documentation); returns the
/// checkpoint of the model switched in.
async fn switch(
    live: &Pool,
    replay: &Replay,
    target_schema: &str,
    stamp: &str,
) -> Result<u64, RebuildError> {
    let mut client = live
        .get()
        .await
        .map_err(|e| RebuildError::Postgres(crate::db::describe_pool(&e)))?;
    let new_tables = tables(&**client, target_schema).await?;
    let live_tables: Vec<String> = tables(&**client, "public")
        .await?
        .into_iter()
        .filter(|t| new_tables.contains(t))
        .collect();
    let client: &mut tokio_postgres::Client = &mut client;
    let tx = client
        .transaction()
        .await
        .map_err(pg("starting the switch"))?;
    let quoted: Vec<String> = live_tables.iter().map(|t| format!("public.{t}")).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        quoted.join(", ")
    ))
    .await
    .map_err(pg("locking the live tables"))?;
    // The live projector is now stopped at its last commit; catch up to it.
    let mut live_checkpoints = BTreeMap::new();
    for name in replay.names.iter() {
        live_checkpoints.insert(
            name.clone(),
            read_checkpoint(&tx, name)
                .await
                .map_err(pg("reading live checkpoints"))?,
        );
    }
    let live_max = live_checkpoints.values().copied().max().unwrap_or(0);
    let deadline = Instant::now() + SWITCH_CATCH_UP;
    let applied = loop {
        let applied = replay.applied().await?;
        if applied >= live_max {
            break applied;
        }
        if Instant::now() > deadline {
            return Err(RebuildError::CatchUp(format!(
                "at {applied} after {}s, the live model is at {live_max}",
                SWITCH_CATCH_UP.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    replay.stop.cancel();
    let previous = format!("previous_{stamp}");
    let mut ddl = format!("CREATE SCHEMA {previous};");
    for t in &live_tables {
        ddl.push_str(&format!("ALTER TABLE public.{t} SET SCHEMA {previous};"));
    }
    for t in &new_tables {
        ddl.push_str(&format!(
            "ALTER TABLE {target_schema}.{t} SET SCHEMA public;"
        ));
    }
    tx.batch_execute(&ddl)
        .await
        .map_err(pg("swapping the tables"))?;
    tx.commit().await.map_err(pg("committing the switch"))?;
    Ok(applied)
}

/// A checksum of every table of `schema`, row for row, leaving out the
/// columns that record when a row was written rather than what it holds.
pub async fn checksums(
    client: &impl GenericClient,
    schema: &str,
) -> Result<BTreeMap<String, String>, RebuildError> {
    let mut out = BTreeMap::new();
    for table in tables(client, schema).await? {
        if table == "refinery_schema_history" {
            continue;
        }
        let columns: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2 \
                   AND column_name NOT IN ('recorded_at', 'updated_at') \
                 ORDER BY ordinal_position",
                &[&schema, &table],
            )
            .await
            .map_err(pg("listing columns"))?
            .iter()
            .map(|r| format!("t.{}", r.get::<_, String>(0)))
            .collect();
        let row: Option<String> = client
            .query_one(
                &format!(
                    "SELECT md5(string_agg(r, E'\\n' ORDER BY r)) FROM \
                     (SELECT ROW({})::text AS r FROM {schema}.{table} t) x",
                    columns.join(", ")
                ),
                &[],
            )
            .await
            .map_err(pg("checksumming"))?
            .get(0);
        out.insert(table, row.unwrap_or_default());
    }
    Ok(out)
}
