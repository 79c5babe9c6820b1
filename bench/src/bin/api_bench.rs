//! `api-bench`: requests per second and latency of the gRPC API over a
//! synthetic catalog, with a tonic client generating the load.
//!
//! Loads `--entities` synthetic entities (straight into the log, applied by
//! the projector), starts the API in this process, then for each scenario
//! runs `--concurrency` clients for `--seconds` and prints requests/s, p50,
//! p99, and the CPU time this process (API server and load generator
//! together; PostgreSQL not included) spent per request. The load generator
//! and the server share the machine's cores: read the figures with that in
//! mind. Asserts nothing about time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_api::{ApiConfig, ApiServer};
use catalog_bench::load::{entities, event, percentile, publish};
use catalog_projector::apply::read_checkpoint;
use catalog_projector::{Projector, ProjectorConfig};
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_test_support::TestEnv;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

#[derive(Parser)]
#[command(about = "Measure the gRPC API: requests/s and latency per RPC")]
struct Args {
    /// Entities in the catalog.
    #[arg(long, default_value_t = 100_000)]
    entities: usize,
    /// Concurrent clients per scenario.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

/// CPU time (user + system) of this process so far.
fn process_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

/// CPU time of every PostgreSQL process on this machine so far (the
/// database serves the API's queries; its backends are separate processes).
fn postgres_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|e| cpu_of(&e.path().join("stat").to_string_lossy()))
        .sum()
}

/// User + system CPU time from a `/proc/<pid>/stat` file.
fn cpu_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

type Call = Arc<
    dyn Fn(
            CatalogServiceClient<Channel>,
            u64,
        ) -> futures::future::BoxFuture<'static, Result<(), tonic::Status>>
        + Send
        + Sync,
>;

async fn scenario(name: &str, api: SocketAddr, args: &Args, call: Call) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cpu_before = process_cpu();
    let db_cpu_before = postgres_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let client = CatalogServiceClient::connect(format!("http://{api}")).await?;
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = worker as u64 * 1_000_003;
            while Instant::now() < deadline {
                let t = Instant::now();
                match call(client.clone(), i).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let db_cpu = postgres_cpu().saturating_sub(db_cpu_before);
    all.sort();
    let n = all.len().max(1) as f64;
    println!(
        "{name:<34} {:>6.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  cpu/req: api+client {:>5.0} µs, postgres {:>6.0} µs  ({} requests, {errors} errors)",
        all.len() as f64 / elapsed,
        percentile(&all, 0.5).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        cpu.as_secs_f64() * 1e6 / n,
        db_cpu.as_secs_f64() * 1e6 / n,
        all.len()
    );
    Ok(())
}

fn filter(key: &str, value: &str) -> Option<pb::EntityFilter> {
    Some(pb::EntityFilter {
        any_of: vec![pb::FilterClause {
            all_of: vec![pb::FilterCondition {
                key: key.into(),
                values: vec![value.into()],
                ..Default::default()
            }],
        }],
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::select! {
        result = run(args) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let env = TestEnv::new().await;
    let log = catalog_e2e::connect_log(&env).await;
    let pool = catalog_e2e::migrated_pool(&env).await;
    let catalog = entities(args.entities)?;
    let events: Vec<_> = catalog
        .iter()
        .map(|e| event(e, 0))
        .collect::<anyhow::Result<_>>()?;
    let last = publish(&log, events.into_iter()).await?;
    let shutdown = CancellationToken::new();
    let projector = Projector::new(ProjectorConfig::default(), log.clone(), pool.clone());
    let projecting = tokio::spawn(projector.run(shutdown.clone()));
    loop {
        let c = pool.get().await?;
        if read_checkpoint(&**c, "projector").await? >= last {
            break;
        }
        drop(c);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.get().await?.batch_execute("ANALYZE").await?;
    let server = ApiServer::new(
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            page_token_secret: "bench".into(),
            ..ApiConfig::default()
        },
        pool.clone(),
        log.clone(),
    );
    let listener = server.bind().await?;
    let api = listener.local_addr()?;
    let serving = tokio::spawn(server.run(listener, shutdown.clone()));
    println!(
        "catalog: {} entities; {} clients, {} s per scenario, on one machine with the server",
        args.entities, args.concurrency, args.seconds
    );

    let refs: Arc<Vec<String>> =
        Arc::new(catalog.iter().map(|e| e.entity_ref().to_string()).collect());
    let groups = (args.entities / 50).max(1) as u64;
    let components = (args.entities as u64 * 7 / 10).max(1);

    let r = refs.clone();
    scenario(
        "GetEntity",
        api,
        &args,
        Arc::new(move |mut c, i| {
            let entity_ref = r[(i as usize * 7919) % r.len()].clone();
            Box::pin(async move {
                c.get_entity(pb::GetEntityRequest {
                    entity_ref,
                    ..Default::default()
                })
                .await
                .map(|_| ())
            })
        }),
    )
    .await?;
    scenario(
        "ListEntities relations.ownedBy",
        api,
        &args,
        Arc::new(move |mut c, i| {
            let group = format!("group:default/group-{}", (i * 31) % groups);
            Box::pin(async move {
                c.list_entities(pb::ListEntitiesRequest {
                    filter: filter("relations.ownedBy", &group),
                    page_size: 20,
                    ..Default::default()
                })
                .await
                .map(|_| ())
            })
        }),
    )
    .await?;
    let token = Arc::new(tokio::sync::Mutex::new(String::new()));
    scenario(
        "ListEntities page walk (100/page)",
        api,
        &args,
        Arc::new(move |mut c, _| {
            let token = token.clone();
            Box::pin(async move {
                let page_token = token.lock().await.clone();
                let res = c
                    .list_entities(pb::ListEntitiesRequest {
                        filter: filter("kind", "component"),
                        page_size: 100,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                *token.lock().await = res.next_page_token;
                Ok(())
            })
        }),
    )
    .await?;
    scenario(
        "SearchEntities",
        api,
        &args,
        Arc::new(move |mut c, i| {
            let query = format!("svc-{}", (i * 7) % components);
            Box::pin(async move {
                c.search_entities(pb::SearchEntitiesRequest {
                    query,
                    ..Default::default()
                })
                .await
                .map(|_| ())
            })
        }),
    )
    .await?;
    scenario(
        "GetFacets kind, spec.lifecycle",
        api,
        &args,
        Arc::new(move |mut c, _| {
            Box::pin(async move {
                c.get_facets(pb::GetFacetsRequest {
                    facets: vec!["kind".into(), "spec.lifecycle".into()],
                    filter: filter("spec.type", "openapi"),
                })
                .await
                .map(|_| ())
            })
        }),
    )
    .await?;
    scenario(
        "GetGraph depth 3",
        api,
        &args,
        Arc::new(move |mut c, i| {
            let root = format!("group:default/group-{}", (i * 13) % groups);
            Box::pin(async move {
                c.get_graph(pb::GetGraphRequest {
                    root_ref: root,
                    types: vec!["parentOf".into(), "ownerOf".into(), "hasPart".into()],
                    max_depth: 3,
                    max_nodes: 0,
                })
                .await
                .map(|_| ())
            })
        }),
    )
    .await?;
    shutdown.cancel();
    let _ = serving.await;
    let _ = projecting.await;
    Ok(())
}
