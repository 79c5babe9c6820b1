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
use std::time::Duration;

use catalog_api::{ApiConfig, ApiServer};
use catalog_bench::load::{entities, event, publish};
use catalog_bench::queries::{self, Load, Targets};
use catalog_projector::apply::read_checkpoint;
use catalog_projector::{Projector, ProjectorConfig};
use catalog_test_support::TestEnv;
use clap::Parser;
use tokio_util::sync::CancellationToken;

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
    pool.get().await?.batch_execute("VACUUM (ANALYZE)").await?;
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

    let load = Load {
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.seconds),
        servers: vec![std::process::id()],
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{api}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    println!(
        "{:<34} {:>7} {:>9} {:>9} {:>22} {:>22}",
        "scenario", "req/s", "p50 ms", "p99 ms", "api+client cpu µs/req", "postgres cpu µs/req"
    );
    for q in queries::grpc(&load, channel, &Targets::of(&catalog)).await {
        println!(
            "{:<34} {:>7.0} {:>9.2} {:>9.2} {:>22.0} {:>22.0}  ({} requests, {} errors)",
            q.scenario,
            q.requests_per_sec,
            q.p50_ms,
            q.p99_ms,
            q.server_cpu_ms_per_1000,
            q.postgres_cpu_ms_per_1000,
            q.requests,
            q.errors
        );
    }
    shutdown.cancel();
    let _ = serving.await;
    let _ = projecting.await;
    Ok(())
}
