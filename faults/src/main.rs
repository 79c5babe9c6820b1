//! `fault-suite`: runs the fault scenarios against the release `catalog`
//! binary and prints the fault table (see `docs/faults.md`).
//!
//! Starts its own nats-server and PostgreSQL (on free ports, in a
//! temporary directory), so it needs their programs installed but not
//! running. Exits non-zero when a scenario fails.

use std::path::PathBuf;

use clap::Parser;

use catalog_faults::cluster::Cluster;
use catalog_faults::scenarios::{self, Sizes};

#[derive(Parser)]
#[command(
    about = "Kills, restarts and network faults against the catalog, checked against a clean replay"
)]
struct Args {
    /// Entities ingested in each scenario.
    #[arg(long, default_value_t = 100_000)]
    entities: usize,
    /// Times the projector is killed during its ingest.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Events the projector falls behind by in the backlog scenario.
    #[arg(long, default_value_t = 1_000_000)]
    backlog: usize,
    /// Peak RSS the projector may reach catching up, MB.
    #[arg(long, default_value_t = 256)]
    projector_rss_mb: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Scenarios to run (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The `catalog` binary; by default the one beside this executable.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Writes the table into this file between its markers.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Keeps the servers' directories and the components' logs.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = catalog_bench::procs::catalog_binary(args.catalog.clone())?;
    let sizes = Sizes {
        entities: args.entities,
        kills: args.kills,
        backlog: args.backlog,
        projector_rss_bound: args.projector_rss_mb << 20,
        seed: args.seed,
    };
    let names: Vec<String> = if args.only.is_empty() {
        scenarios::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        args.only.clone()
    };
    let temp = tempfile::tempdir()?;
    let dir = temp.path().to_path_buf();
    if args.keep {
        let _ = temp.keep();
        println!("servers' directories and logs in {}", dir.display());
    }
    let mut cluster = Cluster::start(&binary, &dir).await?;
    let mut outcomes = Vec::new();
    for name in &names {
        println!("--- {name}");
        let outcome = scenarios::run(&mut cluster, name, &sizes).await;
        println!(
            "    {} in {:.0} s: {}",
            if outcome.passed { "passed" } else { "FAILED" },
            outcome.seconds,
            outcome.result
        );
        outcomes.push(outcome);
    }
    let table = catalog_faults::report::table(&outcomes, &sizes);
    println!("\n{table}");
    if let Some(path) = &args.report {
        catalog_faults::report::write(path, &table)?;
        println!("written to {}", path.display());
    }
    drop(cluster);
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} fault scenarios failed",
        outcomes.len()
    );
    Ok(())
}
