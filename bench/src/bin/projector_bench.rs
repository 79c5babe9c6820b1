//! `projector-bench`: the projector on its own, on real NATS and PostgreSQL.
//!
//! 1. Publishes `--events` upserts (with relations: owners, systems, APIs,
//!    dependencies) of `--entities` synthetic entities straight to the log.
//! 2. Throughput: time for the projector to apply them all.
//! 3. Rebuild (`--rebuild`): time for `catalog rebuild` over the same log.
//! 4. Latency: publish one event and wait until the read model shows it,
//!    `--samples` times, at idle and under a steady background load of
//!    `--load` events/second; p50 and p99.
//! 5. Explain plans (`--explain`) of the main filter, search and facet
//!    queries on the resulting model.
//!
//! Prints figures; asserts nothing about time. Uses its own stream and
//! database (`CATALOG_TEST_NATS_URL`, `CATALOG_TEST_PG_URL`), removed at the end.

use std::time::{Duration, Instant};

use catalog_bench::load::{event, percentile, publish};
use catalog_eventlog::EventLog;
use catalog_model::{Entity, EntityEvent};
use catalog_projector::apply::read_checkpoint;
use catalog_projector::query::filter::{Params, param_refs};
use catalog_projector::query::{Condition, Filter, Key};
use catalog_projector::rebuild::{RebuildOptions, rebuild};
use catalog_projector::{Projector, ProjectorConfig};
use catalog_test_support::TestEnv;
use clap::Parser;
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "Measure the projector: throughput, rebuild, apply latency, query plans")]
struct Args {
    /// Events to publish and apply.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Distinct entities (default: as many as events); events beyond them
    /// are new versions of the same entities.
    #[arg(long)]
    entities: Option<usize>,
    /// Projector batch size (events per transaction).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Projector batch wait, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_wait_ms: u64,
    /// Projector partitions (all run in this process).
    #[arg(long, default_value_t = 1)]
    partitions: u32,
    /// Also measure a rebuild of the whole log.
    #[arg(long)]
    rebuild: bool,
    /// Latency samples per load level (0: skip).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Background load for the second latency run, in events per second.
    #[arg(long, default_value_t = 1000)]
    load: u64,
    /// Print explain plans of the main queries.
    #[arg(long)]
    explain: bool,
}

async fn min_checkpoint(pool: &Pool, config: &ProjectorConfig) -> anyhow::Result<u64> {
    let c = pool.get().await?;
    let mut min = u64::MAX;
    for p in 0..config.partitions {
        min = min.min(read_checkpoint(&**c, &config.partition_name(p)).await?);
    }
    Ok(min)
}

async fn wait_applied(pool: &Pool, config: &ProjectorConfig, seq: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    while min_checkpoint(pool, config).await? < seq {
        anyhow::ensure!(Instant::now() < deadline, "not applied after an hour");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Publish-to-visible latency of `samples` single events.
async fn latency(
    log: &EventLog,
    pool: &Pool,
    entities: &[Entity],
    samples: usize,
) -> anyhow::Result<Vec<Duration>> {
    let client = pool.get().await?;
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let entity = &entities[(i * 7919) % entities.len()];
        let e = event(entity, 1_000_000 + i)?;
        let r = e.entity_ref.to_string();
        let start = Instant::now();
        let seq = publish(log, std::iter::once(e)).await?;
        let seq = i64::try_from(seq)?;
        loop {
            let row = client
                .query_opt("SELECT sequence FROM entities WHERE entity_ref = $1", &[&r])
                .await?;
            if row.is_some_and(|row| row.get::<_, i64>(0) >= seq) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        out.push(start.elapsed());
    }
    out.sort();
    Ok(out)
}

fn report_latency(what: &str, sorted: &[Duration]) {
    println!(
        "apply latency {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        percentile(sorted, 0.5).as_secs_f64() * 1000.0,
        percentile(sorted, 0.99).as_secs_f64() * 1000.0,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        sorted.len()
    );
}

/// Publishes `rate` events per second until `stop`.
async fn background_load(
    log: EventLog,
    entities: Vec<Entity>,
    rate: u64,
    stop: CancellationToken,
) -> anyhow::Result<u64> {
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1) as usize;
    let mut interval = tokio::time::interval(tick);
    let mut sent = 0u64;
    let mut i = 0usize;
    while !stop.is_cancelled() {
        interval.tick().await;
        let batch: Vec<EntityEvent> = (0..per_tick)
            .map(|_| {
                i += 1;
                event(&entities[(i * 104_729) % entities.len()], 2_000_000 + i)
            })
            .collect::<anyhow::Result<_>>()?;
        sent += batch.len() as u64;
        publish(&log, batch.into_iter()).await?;
    }
    Ok(sent)
}

async fn explain(pool: &Pool) -> anyhow::Result<()> {
    let client = pool.get().await?;
    client.batch_execute("ANALYZE").await?;
    let cond = |k: &str, v: &[&str]| {
        Condition::new(
            Key::parse(k)
                .map_err(|e| anyhow::anyhow!("{k}: {e}"))
                .unwrap_or(Key::Kind),
            v.iter(),
        )
    };
    let filters: Vec<(&str, Filter)> = vec![
        (
            "kind=component,spec.type=service",
            Filter::all_of(vec![
                cond("kind", &["component"]),
                cond("spec.type", &["service"]),
            ]),
        ),
        (
            "metadata.annotations.example.com/pager=team-7",
            Filter::all_of(vec![cond(
                "metadata.annotations.example.com/pager",
                &["team-7"],
            )]),
        ),
        (
            "metadata.tags=rest (20 % of entities)",
            Filter::all_of(vec![cond("metadata.tags", &["rest"])]),
        ),
        (
            "relations.ownedBy=group:default/group-7",
            Filter::all_of(vec![cond("relations.ownedBy", &["group:default/group-7"])]),
        ),
        (
            "spec.profile.email exists (users)",
            Filter::all_of(vec![cond("spec.profile.email", &[])]),
        ),
        (
            "metadata.name=svc-4242.v1",
            Filter::all_of(vec![cond("metadata.name", &["svc-4242.v1"])]),
        ),
    ];
    for (name, f) in filters {
        let mut params = Params::new();
        let sql = format!(
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT e.entity_ref FROM entities e WHERE {} ORDER BY e.entity_ref LIMIT 21",
            f.to_sql(&mut params)
        );
        print_plan(
            &client,
            &format!("filter {name}, first page"),
            &sql,
            &params,
        )
        .await?;
    }
    for text in ["svc-4242", "user 42", "grpc"] {
        let mut params = Params::new();
        let (condition, rank) = catalog_projector::query::search::search_sql(text, &mut params);
        let sql = format!(
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT e.entity_ref, {rank} AS rank FROM entities e WHERE {condition} ORDER BY rank DESC, e.entity_ref LIMIT 20"
        );
        print_plan(&client, &format!("search {text:?}"), &sql, &params).await?;
    }
    let mut params = Params::new();
    let f = Filter::all_of(vec![cond("kind", &["component"])]).to_sql(&mut params);
    params.push(Box::new("spec.lifecycle".to_string()));
    let sql = format!(
        "EXPLAIN (ANALYZE, COSTS OFF) SELECT v, count(*) FROM entities e CROSS JOIN LATERAL jsonb_array_elements_text(e.fields -> ${}) AS v WHERE v IS NOT NULL AND {f} GROUP BY 1 ORDER BY 2 DESC, 1",
        params.len()
    );
    print_plan(
        &client,
        "facet spec.lifecycle under kind=component",
        &sql,
        &params,
    )
    .await?;
    Ok(())
}

async fn print_plan(
    client: &tokio_postgres::Client,
    title: &str,
    sql: &str,
    params: &Params,
) -> anyhow::Result<()> {
    println!("\n--- {title}");
    for row in client.query(sql, &param_refs(params)).await? {
        println!("  {}", row.get::<_, String>(0));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    // Interrupted, the run's stream and database are still removed.
    tokio::select! {
        result = run(args) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let n_entities = args.entities.unwrap_or(args.events).min(args.events).max(1);
    let env = TestEnv::new().await;
    let log = catalog_e2e::connect_log(&env).await;
    let pool = catalog_e2e::migrated_pool(&env).await;

    let started = Instant::now();
    let entities: Vec<Entity> = catalog_bench::load::entities(n_entities)?;
    println!(
        "generated:   {} entities in {:.1} s",
        entities.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let events = (0..args.events).map(|i| event(&entities[i % entities.len()], i / entities.len()));
    let events: Vec<EntityEvent> = events.collect::<anyhow::Result<_>>()?;
    let last = publish(&log, events.into_iter()).await?;
    let published = started.elapsed();
    println!(
        "published:   {} events in {:.1} s ({:.0} events/s)",
        args.events,
        published.as_secs_f64(),
        args.events as f64 / published.as_secs_f64()
    );

    let config = ProjectorConfig {
        batch_size: args.batch_size,
        batch_wait_ms: args.batch_wait_ms,
        partitions: args.partitions,
        ..ProjectorConfig::default()
    };
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let projector = tokio::spawn(
        Projector::new(config.clone(), log.clone(), pool.clone()).run(shutdown.clone()),
    );
    wait_applied(&pool, &config, last).await?;
    let applied = started.elapsed();
    println!(
        "projected:   {} events in {:.1} s ({:.0} events/s; batches of up to {}, {} partition(s))",
        args.events,
        applied.as_secs_f64(),
        args.events as f64 / applied.as_secs_f64(),
        args.batch_size,
        args.partitions
    );
    {
        let c = pool.get().await?;
        let count = |t: &'static str| format!("SELECT count(*) FROM {t}");
        let e: i64 = c.query_one(&count("entities"), &[]).await?.get(0);
        let r: i64 = c.query_one(&count("relations"), &[]).await?.get(0);
        let size: String = c
            .query_one(
                "SELECT pg_size_pretty(pg_database_size(current_database()))",
                &[],
            )
            .await?
            .get(0);
        println!("read model:  {e} entities, {r} relation rows, database {size}");
    }

    if args.rebuild {
        let started = Instant::now();
        let report = rebuild(
            &config,
            &log,
            &pool,
            &env.pg_url,
            RebuildOptions {
                keep_previous: false,
                on_progress: Box::new(|p| {
                    eprint!(
                        "\rrebuilding {:5.1}% ({:.0} events/s)   ",
                        p.percent(),
                        p.rate
                    );
                }),
            },
            CancellationToken::new(),
        )
        .await?;
        let took = started.elapsed();
        eprintln!();
        println!(
            "rebuild:     {} events in {:.1} s ({:.0} events/s), switched in at sequence {}",
            args.events,
            took.as_secs_f64(),
            args.events as f64 / took.as_secs_f64(),
            report.checkpoint
        );
    }

    if args.samples > 0 {
        let idle = latency(&log, &pool, &entities, args.samples).await?;
        report_latency("at idle", &idle);
        let stop = CancellationToken::new();
        let load = tokio::spawn(background_load(
            log.clone(),
            entities.clone(),
            args.load,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let loaded = latency(&log, &pool, &entities, args.samples).await?;
        let secs = started.elapsed().as_secs_f64() + 1.0;
        stop.cancel();
        let sent = load.await??;
        report_latency(
            &format!("under {:.0} events/s", sent as f64 / secs),
            &loaded,
        );
    }

    if args.explain {
        explain(&pool).await?;
    }
    shutdown.cancel();
    let _ = projector.await;
    Ok(())
}
