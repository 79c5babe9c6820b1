//! Every fault scenario of `docs/faults.md` at a small size, against this
//! package's `catalog` binary, on servers of the suite's own.

use catalog_faults::cluster::Cluster;
use catalog_faults::scenarios::{self, Sizes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_survives_kills_restarts_and_network_faults() {
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_catalog"));
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(&binary, dir.path()).await.unwrap();
    let sizes = Sizes {
        entities: 2_000,
        kills: 5,
        backlog: 20_000,
        projector_rss_bound: 256 << 20,
        seed: 7,
    };
    let mut failed = Vec::new();
    for name in scenarios::ALL {
        let outcome = scenarios::run(&mut cluster, name, &sizes).await;
        println!("{name}: {} ({:.0} s)", outcome.result, outcome.seconds);
        if !outcome.passed {
            failed.push(format!("{name}: {}", outcome.result));
        }
    }
    assert!(
        failed.is_empty(),
        "fault scenarios failed:\n{}",
        failed.join("\n")
    );
}
