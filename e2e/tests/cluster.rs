//! The pipeline on a real three-node NATS JetStream cluster
//! (`deploy/local/nats-cluster.sh`), with the stream at three replicas:
//! the node leading the stream is killed while the ingestor publishes, and
//! afterwards no event is lost, none is applied twice, and the read model
//! holds every entity.

use std::time::Duration;

use catalog_e2e::{migrated_pool, start_projector, test_projector_config, wait_for};
use catalog_eventlog::{EventLog, EventLogConfig};
use catalog_ingest::{IngestConfig, Ingestor, LocationConfig};

const ENTITIES: usize = 1500;
const WAIT: Duration = Duration::from_secs(90);

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/local/nats-cluster.sh"
);

/// The cluster, stopped (and its data removed) on drop.
struct Cluster {
    dir: tempfile::TempDir,
    urls: String,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Three client ports and three route ports, all free.
        let base = loop {
            let base = 20_000 + (rand::random::<u16>() % 20_000);
            let free = (0..3).all(|i| {
                std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                    && std::net::TcpListener::bind(("127.0.0.1", base + 2000 + i)).is_ok()
            });
            if free {
                break base;
            }
        };
        let out = std::process::Command::new("bash")
            .args([
                SCRIPT,
                "start",
                dir.path().to_str().unwrap(),
                &base.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "starting the cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let urls = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Self { dir, urls }
    }

    /// Kills node `name` (`n1`..`n3`) at once, as a crash would.
    fn kill(&self, name: &str) {
        let pid = std::fs::read_to_string(self.dir.path().join(name).join("nats.pid")).unwrap();
        let status = std::process::Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .args([SCRIPT, "stop", self.dir.path().to_str().unwrap()])
            .status();
    }
}

#[tokio::test]
async fn a_node_killed_during_ingest_loses_no_event() {
    let cluster = Cluster::start();
    let env = catalog_test_support::TestEnv::new().await;
    let config = EventLogConfig {
        url: cluster.urls.clone(),
        stream: env.stream.clone(),
        subject_prefix: env.subject_prefix.clone(),
        replicas: 3,
        ..EventLogConfig::default()
    };
    // The cluster elects its JetStream leader shortly after start.
    let log = wait_for("a replicated stream on the cluster", WAIT, || {
        let config = config.clone();
        async move {
            match tokio::time::timeout(
                Duration::from_secs(10),
                EventLog::connect(config, "cluster-test"),
            )
            .await
            {
                Ok(Ok(log)) => Some(log),
                Ok(Err(e)) => {
                    eprintln!("cluster not ready: {e}");
                    None
                }
                Err(_) => {
                    eprintln!("cluster not ready: connecting timed out");
                    None
                }
            }
        }
    })
    .await;
    let info = log.stream().await.unwrap().info().await.unwrap().clone();
    assert_eq!(info.config.num_replicas, 3);

    let catalog = tempfile::tempdir().unwrap();
    for i in 0..ENTITIES {
        std::fs::write(
            catalog.path().join(format!("c{i:05}.yaml")),
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: c{i:05}}}\nspec: {{type: service, lifecycle: production, owner: team-{}}}\n",
                i % 10
            ),
        )
        .unwrap();
    }
    let pool = migrated_pool(&env).await;
    let projector = start_projector(&log, &pool, test_projector_config());
    let mut ingestor = Ingestor::new(
        IngestConfig {
            locations: vec![LocationConfig::Key(
                catalog.path().to_string_lossy().into_owned(),
            )],
            leases: false,
            ..IngestConfig::default()
        },
        log.clone(),
    )
    .await
    .unwrap();

    // Kill the stream's leader once a part of the catalog is on the log.
    let watcher = log.clone();
    let killed = tokio::spawn(async move {
        loop {
            let mut stream = watcher.stream().await.unwrap();
            if let Ok(info) = stream.info().await
                && info.state.messages >= (ENTITIES / 4) as u64
                && let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.clone())
            {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let ingest = tokio::spawn(async move {
        let mut published = 0;
        // Publishes that failed while the cluster elected a new leader are
        // retried by the next pass; a pass with nothing left to do ends it.
        for _ in 0..60 {
            match ingestor.sync_once().await {
                Ok(report) => {
                    published += report.upserted;
                    if report.upserted == 0 && report.errors.is_empty() {
                        return published;
                    }
                }
                Err(e) => eprintln!("sync failed (retrying): {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("ingest did not settle; published {published}");
    });
    let leader = killed.await.unwrap();
    cluster.kill(&leader);
    // A publish whose acknowledgement was lost in the failover may have been
    // stored anyway: its retry then finds the entity already on the log and
    // publishes nothing, so the count of publishes reported can fall short
    // of the catalog. What the log and the read model hold is checked below.
    let published = ingest.await.unwrap();
    assert!(published > 0);

    // Every entity is on the log exactly once (a publish whose ack was lost
    // and that was stored anyway is not published again), and the read
    // model applied every event.
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let c = pool.get().await.unwrap();
            c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
        }
    };
    let last = wait_for("the stream's state after the failover", WAIT, || {
        let log = log.clone();
        async move {
            let mut stream = log.stream().await.ok()?;
            Some(stream.info().await.ok()?.state.last_sequence)
        }
    })
    .await;
    wait_for("the read model to hold every entity", WAIT, || async {
        (count("SELECT count(*) FROM entities").await == ENTITIES as i64
            && count("SELECT coalesce(max(stream_sequence), 0) FROM projector_checkpoints").await
                == last as i64)
            .then_some(())
    })
    .await;
    assert_eq!(
        count("SELECT count(*) FROM entity_history").await,
        ENTITIES as i64,
        "one event per entity, none lost, none twice (leader {leader} was killed)"
    );
    assert_eq!(
        count("SELECT count(DISTINCT target_ref) FROM relations WHERE type = 'ownedBy'").await,
        10
    );
    // The dead-letter stream the projector created is replicated too.
    let mut dead = log
        .jetstream()
        .get_stream(format!("{}_DEADLETTER", env.stream))
        .await
        .unwrap();
    assert_eq!(dead.info().await.unwrap().config.num_replicas, 3);
    projector.shutdown.cancel();
    let _ = projector.handle.await;
    // The test environment's own stream (on the default server) goes with
    // `env`; the cluster and its data go with `cluster`.
    drop(log);
}
