//! `bench-suite`: the catalog's benchmark suite, run by `bench/run.sh`.
//!
//! For each size: generate the synthetic catalog as descriptor files,
//! measure the physical reference (raw JetStream and COPY), start the
//! components as separate `catalog` processes, measure cold ingest,
//! freshness (idle and under background load), queries through gRPC and
//! REST, the projector alone on the pre-filled stream, and resource use.
//! Prints tables and writes `bench/results/<time>.json` with the machine's
//! description. Asserts nothing about time; the targets are printed beside
//! the figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_bench::freshness::{self, Watchers};
use catalog_bench::procs::{Deployment, catalog_binary};
use catalog_bench::queries::{self, Load, Targets};
use catalog_bench::report::{Ingest, ProjectorAlone, Report, Resources, SizeReport};
use catalog_bench::{machine, procs, reference, synthetic};
use catalog_model::{Entity, parse_descriptors};
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_test_support::TestEnv;
use clap::Parser;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

#[derive(Parser, Clone)]
#[command(
    about = "The catalog's benchmark suite: ingest, freshness, projector, queries, resources"
)]
struct Args {
    /// Catalog sizes (entities), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Seed of the synthetic catalog.
    #[arg(long, default_value_t = synthetic::DEFAULT_SEED)]
    seed: u64,
    /// Entities per descriptor file.
    #[arg(long, default_value_t = 100)]
    per_file: usize,
    /// Changes per freshness measurement through Apply.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Changes per freshness measurement through a file.
    #[arg(long, default_value_t = 100)]
    file_changes: usize,
    /// Background changes per second for the "under load" measurements.
    #[arg(long, default_value_t = 1000)]
    background: u64,
    /// The ingestor's poll interval, ms (bounds freshness through files).
    #[arg(long, default_value_t = 100)]
    poll_interval_ms: u64,
    /// Concurrent clients per query scenario.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds per query scenario.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Query scenarios only at sizes up to this (they are slow to set up
    /// nowhere, but take time per size).
    #[arg(long, default_value_t = 100_000)]
    queries_up_to: usize,
    /// The `catalog` binary (default: beside this one).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Keep the generated files and the components' logs (their directory
    /// is printed).
    #[arg(long)]
    keep: bool,
    /// Projector partitions (`projector.partitions`): with one per core,
    /// PostgreSQL applies partitions in parallel.
    #[arg(long, default_value_t = 2)]
    partitions: u32,
    /// Events for the rebuild measurement (100,000 entities, each in
    /// several versions, replayed by `catalog rebuild`); 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    rebuild_events: usize,
    /// Where the JSON results go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    tokio::select! {
        result = run(args) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let binary = catalog_binary(args.catalog.clone())?;
    let started_at = chrono::Utc::now();
    let probe = TestEnv::new().await;
    let machine = machine::Machine::describe(&probe.pg().await, &probe.nats().await).await;
    drop(probe);
    println!("machine: {}", machine.line());
    let mut report = Report {
        suite: "catalog-bench-suite/1",
        started_at: started_at.to_rfc3339(),
        seed: args.seed,
        machine,
        settings: json!({
            "per_file": args.per_file,
            "changes": args.changes,
            "file_changes": args.file_changes,
            "background_per_sec": args.background,
            "poll_interval_ms": args.poll_interval_ms,
            "concurrency": args.concurrency,
            "seconds_per_scenario": args.seconds,
            "projector_partitions": args.partitions,
        }),
        sizes: Vec::new(),
        rebuild: None,
    };
    for &n in &args.sizes {
        let size = measure_size(&args, &binary, n).await?;
        print!("{}", size.tables());
        report.sizes.push(size);
    }
    if args.rebuild_events > 0 {
        let figure = measure_rebuild(&args, &binary).await?;
        println!(
            "\nrebuild          {:>8.1} s  {:>9.0} events/s  ({} events; replayed after {})",
            figure.seconds,
            figure.events_per_sec,
            figure.events,
            figure
                .replay_secs
                .map_or_else(|| "?".to_string(), |s| format!("{s:.1} s"))
        );
        report.rebuild = Some(figure);
    }
    if let Some(size) = report.sizes.iter().find(|s| s.entities == 100_000) {
        println!("\ntargets (at 100,000 entities on this machine):");
        for (target, figure, verdict) in size.targets(report.rebuild.as_ref()) {
            println!("  {verdict:<8} {target:<62} {figure}");
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let file = args.out.join(format!(
        "{}-{}.json",
        started_at.format("%Y%m%dT%H%M%SZ"),
        report.machine.hostname
    ));
    std::fs::write(&file, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", file.display()))?;
    println!("\nresults: {}", file.display());
    Ok(())
}

fn entities_of(docs: &[String]) -> anyhow::Result<Vec<Entity>> {
    docs.iter()
        .map(|doc| {
            parse_descriptors(doc)?
                .into_iter()
                .next()
                .context("an empty synthetic document")?
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect()
}

async fn total(api: &Channel) -> anyhow::Result<u64> {
    let res = CatalogServiceClient::new(api.clone())
        .list_entities(pb::ListEntitiesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(res.total_size)
}

/// The stream sequence every projector partition has applied (0 until
/// each has written its checkpoint).
async fn checkpoint(pg: &tokio_postgres::Client, partitions: u32) -> anyhow::Result<u64> {
    let row = pg
        .query_one(
            "SELECT count(*), coalesce(min(stream_sequence), 0) FROM projector_checkpoints \
             WHERE consumer LIKE 'projector%'",
            &[],
        )
        .await?;
    let (count, min): (i64, i64) = (row.get(0), row.get(1));
    Ok(if count >= i64::from(partitions) {
        min as u64
    } else {
        0
    })
}

async fn stream_state(env: &TestEnv) -> anyhow::Result<(u64, u64, u64)> {
    let js = async_nats::jetstream::new(env.nats().await);
    let mut stream = js.get_stream(&env.stream).await?;
    let state = &stream.info().await?.state;
    Ok((state.last_sequence, state.bytes, state.messages))
}

async fn connect(url: String) -> anyhow::Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match tonic::transport::Endpoint::from_shared(url.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
        {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("connecting to {url}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn measure_size(
    args: &Args,
    binary: &std::path::Path,
    n: usize,
) -> anyhow::Result<SizeReport> {
    println!("\n--- {n} entities: generating");
    let env = TestEnv::new().await;
    let temp = tempfile::tempdir()?;
    let work = temp.path().to_path_buf();
    let _cleanup = if args.keep {
        let _ = temp.keep();
        println!("    files and logs in {}", work.display());
        None
    } else {
        Some(temp)
    };
    let location = work.join("catalog");
    let logs = work.join("logs");
    std::fs::create_dir_all(&location)?;
    std::fs::create_dir_all(&logs)?;
    let docs = synthetic::documents(n, args.seed);
    let mut files = 0;
    for (f, chunk) in docs.chunks(args.per_file.max(1)).enumerate() {
        std::fs::write(
            location.join(format!("catalog-{f:05}.yaml")),
            chunk.join("---\n"),
        )?;
        files += 1;
    }
    let fresh_file = location.join("fresh.yaml");
    std::fs::write(
        &fresh_file,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: fresh-file}\nspec: {type: service, lifecycle: production, owner: group-0}\n",
    )?;
    let entities = entities_of(&docs)?;
    let expected = entities.len() as u64 + 1;

    println!("--- {n} entities: reference (raw JetStream, COPY)");
    let reference = reference::measure(&env, &entities).await?;

    println!("--- {n} entities: cold ingest");
    let mut deployment = Deployment::new(binary, &env, &logs)?;
    deployment.env.push((
        "CATALOG_PROJECTOR__PARTITIONS".into(),
        args.partitions.to_string(),
    ));
    deployment.run("migrate").await?;
    let mut projector = deployment.start("projector", &[])?;
    let mut api = deployment.start("api", &[])?;
    let channel = connect(deployment.api_url()).await?;
    let pg = env.pg().await;
    let cpu_before = (procs::postgres_cpu(), procs::nats_cpu());
    let started = Instant::now();
    let mut published_secs = None;
    let mut ingest = deployment.start(
        "ingest",
        &[
            (
                "CATALOG_INGEST__LOCATIONS",
                format!("[{}]", location.display()),
            ),
            (
                "CATALOG_INGEST__POLL_INTERVAL_MS",
                args.poll_interval_ms.to_string(),
            ),
        ],
    )?;
    loop {
        let (last, _, messages) = stream_state(&env).await?;
        if published_secs.is_none() && messages >= expected {
            published_secs = Some(started.elapsed().as_secs_f64());
        }
        // Cheap checks first: counting the entities while they are written
        // would load the database being measured.
        if messages >= expected
            && checkpoint(&pg, args.partitions).await? >= last
            && total(&channel).await.unwrap_or(0) >= expected
        {
            break;
        }
        for c in [&mut projector, &mut api, &mut ingest] {
            c.check_alive()?;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "cold ingest did not finish within an hour"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_secs = vec![
        ("ingest".to_string(), ingest.cpu().as_secs_f64()),
        ("projector".to_string(), projector.cpu().as_secs_f64()),
        ("api".to_string(), api.cpu().as_secs_f64()),
        (
            "postgres".to_string(),
            procs::postgres_cpu()
                .saturating_sub(cpu_before.0)
                .as_secs_f64(),
        ),
        (
            "nats".to_string(),
            procs::nats_cpu().saturating_sub(cpu_before.1).as_secs_f64(),
        ),
    ];
    let relation_rows: i64 = pg
        .query_one("SELECT count(*) FROM relations", &[])
        .await?
        .get(0);
    let ingest_figures = Ingest {
        entities: expected as usize,
        files: files + 1,
        relation_rows,
        seconds,
        published_secs,
        cpu_secs,
        entities_per_sec: expected as f64 / seconds,
        times_reference: seconds / reference.total_secs(),
    };
    // What autovacuum does after a bulk load (its insert threshold is 20 %
    // of a table), done here because a measuring server may have it off
    // (the result records the setting): statistics for the planner, and a
    // visibility map, without which every index-only scan reads the heap.
    pg.batch_execute("VACUUM (ANALYZE)").await?;

    let bridge = deployment.start("ui-bridge", &[])?;
    let bridge_url = deployment.bridge_url();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{bridge_url}/healthz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        anyhow::ensure!(Instant::now() < deadline, "the bridge did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("--- {n} entities: freshness");
    let watchers = Watchers::start(channel.clone(), &bridge_url).await?;
    let mut fresh = Vec::new();
    for background in [0, args.background] {
        let stop = CancellationToken::new();
        let load = (background > 0)
            .then(|| freshness::background(channel.clone(), background, stop.clone()));
        if load.is_some() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let round = format!("{n}-{background}");
        let d = freshness::through_apply(
            channel.clone(),
            &watchers,
            args.changes,
            &format!("a{round}"),
        )
        .await?;
        fresh.push(freshness::figures("apply", background, d));
        let d = freshness::through_file(
            fresh_file.clone(),
            &watchers,
            args.file_changes,
            &format!("f{round}"),
        )
        .await?;
        fresh.push(freshness::figures("file", background, d));
        stop.cancel();
        if let Some(load) = load {
            let _ = load.await;
        }
    }
    drop(watchers);

    let mut query_figures = Vec::new();
    if n <= args.queries_up_to {
        println!("--- {n} entities: queries");
        let targets = Targets::of(&entities);
        let load = Load {
            concurrency: args.concurrency,
            duration: Duration::from_secs(args.seconds),
            servers: vec![api.pid],
        };
        query_figures.extend(queries::grpc(&load, channel.clone(), &targets).await);
        let load = Load {
            servers: vec![api.pid, bridge.pid],
            ..load
        };
        query_figures.extend(queries::rest(&load, &bridge_url, &targets).await);
    }

    let (last, stream_bytes, stream_messages) = stream_state(&env).await?;
    let database_bytes: i64 = pg
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    let resources = Resources {
        peak_rss_bytes: [&ingest, &projector, &api, &bridge]
            .iter()
            .map(|c| (c.name.clone(), c.peak_rss()))
            .collect(),
        database_bytes,
        stream_bytes,
        stream_messages,
    };
    for c in [ingest, projector, api, bridge] {
        c.stop().await?;
    }

    println!("--- {n} entities: projector alone on the pre-filled stream");
    let fresh_db = TestEnv::new().await;
    let mut alone = deployment.clone();
    for (k, v) in alone.env.iter_mut() {
        if k == "CATALOG_POSTGRES__URL" {
            *v = fresh_db.pg_url.clone();
        }
    }
    alone.run("migrate").await?;
    let alone_pg = fresh_db.pg().await;
    let started = Instant::now();
    let mut projector = alone.start("projector", &[])?;
    while checkpoint(&alone_pg, args.partitions).await? < last {
        projector.check_alive()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let projector_figures = ProjectorAlone {
        events: last,
        seconds,
        events_per_sec: last as f64 / seconds,
        peak_rss_bytes: projector.peak_rss(),
    };
    projector.stop().await?;

    Ok(SizeReport {
        entities: n,
        reference,
        ingest: ingest_figures,
        freshness: fresh,
        queries: query_figures,
        projector: Some(projector_figures),
        resources,
    })
}

/// Rebuild: a stream of `--rebuild-events` events (100,000 entities, each
/// published in several versions), replayed into a fresh read model by
/// `catalog rebuild`, from start to switch.
async fn measure_rebuild(
    args: &Args,
    binary: &std::path::Path,
) -> anyhow::Result<catalog_bench::report::RebuildFigure> {
    let n = args.rebuild_events;
    println!("\n--- rebuild of {n} events: publishing");
    let env = TestEnv::new().await;
    let entities: Vec<Entity> = entities_of(&synthetic::documents(n.min(100_000), args.seed))?;
    let log = catalog_e2e::connect_log(&env).await;
    let events = (0..n)
        .map(|i| catalog_bench::load::event(&entities[i % entities.len()], i / entities.len()));
    let mut published = Vec::with_capacity(10_000);
    for event in events {
        published.push(event?);
        if published.len() == 10_000 {
            catalog_bench::load::publish(&log, published.drain(..)).await?;
        }
    }
    catalog_bench::load::publish(&log, published.into_iter()).await?;
    let logs = tempfile::tempdir()?;
    let mut deployment = Deployment::new(binary, &env, logs.path())?;
    deployment.env.push((
        "CATALOG_PROJECTOR__PARTITIONS".into(),
        args.partitions.to_string(),
    ));
    deployment.run("migrate").await?;
    println!("--- rebuild of {n} events: catalog rebuild");
    let started = Instant::now();
    let out = deployment.output("rebuild").await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(catalog_bench::report::RebuildFigure {
        events: n,
        seconds,
        events_per_sec: n as f64 / seconds,
        replay_secs: replay_secs(&String::from_utf8_lossy(&out.stderr)),
    })
}

/// The elapsed time of `catalog rebuild`'s first progress line that says
/// the replay is done (`... events/s, 80.1s; building indexes`).
fn replay_secs(progress: &str) -> Option<f64> {
    let line = progress
        .lines()
        .find(|l| l.ends_with("; building indexes"))?;
    let (before, _) = line.rsplit_once("s; building indexes")?;
    before.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::replay_secs;

    #[test]
    fn the_replay_time_is_read_from_the_first_indexing_line() {
        let progress = "rebuilding  50.0% 500/1000 events, 10 events/s, 50.0s\n\
             rebuilding 100.0% 1000/1000 events, 12 events/s, 81.4s; building indexes\n\
             rebuilding 100.0% 1000/1000 events, 11 events/s, 90.2s; building indexes\n";
        assert_eq!(replay_secs(progress), Some(81.4));
        assert_eq!(
            replay_secs("rebuilding 10.0% 1/10 events, 1 events/s, 1.0s"),
            None
        );
    }
}
