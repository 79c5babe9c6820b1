//! `catalog-bench`: ingestion throughput through the real pipeline.
//!
//! Generates N synthetic entities (a realistic mix of kinds, with owners,
//! systems, API and resource dependencies), writes them as descriptor files,
//! then measures from the start of ingestion (scan, parse, publish to
//! JetStream) until the gRPC API reports all N entities. Prints figures;
//! asserts nothing about time.
//!
//! Needs NATS and PostgreSQL as for the tests (`CATALOG_TEST_NATS_URL`,
//! `CATALOG_TEST_PG_URL`); uses its own stream and database and removes them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_e2e::Pipeline;
use catalog_projector::ProjectorConfig;
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use clap::Parser;
use tonic::transport::Channel;

#[derive(Parser)]
#[command(about = "Measure ingestion throughput through NATS, the projector and the gRPC API")]
struct Args {
    /// Number of entities to generate.
    #[arg(long, default_value_t = 10_000)]
    entities: usize,
    /// Entities per descriptor file.
    #[arg(long, default_value_t = 100)]
    per_file: usize,
    /// Projector batch size (events per transaction).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Projector batch wait, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_wait_ms: u64,
    /// Only write the descriptor files into this directory, and exit (to
    /// profile the ingestor alone, e.g. with `catalog validate <dir>`).
    #[arg(long)]
    write_only: Option<std::path::PathBuf>,
}

/// Writes `n` entities into `dir`; returns the number of files.
fn generate(dir: &Path, n: usize, per_file: usize) -> anyhow::Result<usize> {
    let docs = catalog_bench::synthetic::documents(n, catalog_bench::synthetic::DEFAULT_SEED);
    let mut files = 0;
    for (f, chunk) in docs.chunks(per_file.max(1)).enumerate() {
        std::fs::write(
            dir.join(format!("catalog-{f:05}.yaml")),
            chunk.join("---\n"),
        )
        .with_context(|| format!("writing descriptor file {f}"))?;
        files += 1;
    }
    Ok(files)
}

async fn total(grpc: &mut CatalogServiceClient<Channel>) -> anyhow::Result<u64> {
    let res = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: None,
            page_size: 1,
            page_token: String::new(),
            ..Default::default()
        })
        .await?;
    Ok(res.into_inner().total_size)
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
    if let Some(dir) = &args.write_only {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = generate(dir, args.entities, args.per_file)?;
        println!(
            "{} entities in {files} files in {}",
            args.entities,
            dir.display()
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let files = generate(dir.path(), args.entities, args.per_file)?;
    let pipeline = Pipeline::start_with(ProjectorConfig {
        consumer: "projector".into(),
        batch_size: args.batch_size,
        batch_wait_ms: args.batch_wait_ms,
        ..ProjectorConfig::default()
    })
    .await;
    let mut ingestor = pipeline.ingestor(vec![dir.path().to_path_buf()]).await;

    let mut grpc = pipeline.grpc().await;
    let start = Instant::now();
    let report = ingestor.sync_once().await?;
    let published = start.elapsed();
    anyhow::ensure!(
        report.errors.is_empty(),
        "ingest reported problems: {:?}",
        report.errors
    );
    let n = args.entities as u64;
    let deadline = start + Duration::from_secs(600);
    loop {
        if total(&mut grpc).await? >= n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "entities not all queryable after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let queryable = start.elapsed();

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "entities:              {n} in {files} files ({} per file)",
        args.per_file
    );
    println!(
        "projector batches:     up to {} events, {} ms wait",
        args.batch_size, args.batch_wait_ms
    );
    println!("published:             {} events", report.upserted);
    println!(
        "scan+parse+publish:    {:>8.3} s  ({:>9.0} entities/s)",
        published.as_secs_f64(),
        rate(published)
    );
    println!(
        "all queryable via API: {:>8.3} s  ({:>9.0} entities/s)  <- end to end",
        queryable.as_secs_f64(),
        rate(queryable)
    );
    // A second pass over unchanged files: the cost of a poll.
    let again = Instant::now();
    let second = ingestor.sync_once().await?;
    println!(
        "unchanged re-read:     {:>8.3} s  ({} published)",
        again.elapsed().as_secs_f64(),
        second.upserted + second.deleted
    );
    pipeline.stop().await;
    Ok(())
}
