//! Scale-out and rebuild on real NATS and PostgreSQL: two projector
//! instances sharing the partitions build the same model as one; a rebuild
//! replays the log into a model identical to the live one and switches it in
//! while the live projector keeps going.

use std::collections::BTreeMap;
use std::time::Duration;

use catalog_e2e::events::{publish, random_workload, workload};
use catalog_e2e::{connect_log, migrated_pool, start_projector, test_projector_config, wait_for};
use catalog_projector::ProjectorConfig;
use catalog_projector::apply::read_checkpoint;
use catalog_projector::rebuild::{RebuildOptions, checksums, rebuild};
use catalog_test_support::TestEnv;
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(120);

async fn checkpoints(pool: &Pool, config: &ProjectorConfig) -> Vec<u64> {
    let c = pool.get().await.unwrap();
    let mut out = Vec::new();
    for p in 0..config.partitions {
        out.push(
            read_checkpoint(&**c, &config.partition_name(p))
                .await
                .unwrap(),
        );
    }
    out
}

async fn wait_until_applied(pool: &Pool, config: &ProjectorConfig, last: u64, what: &str) {
    wait_for(what, WAIT, || {
        let (pool, config) = (pool.clone(), config.clone());
        async move {
            checkpoints(&pool, &config)
                .await
                .iter()
                .all(|c| *c >= last)
                .then_some(())
        }
    })
    .await;
}

async fn sums(pool: &Pool, schema: &str) -> BTreeMap<String, String> {
    let c = pool.get().await.unwrap();
    checksums(&**c, schema).await.unwrap()
}

/// Every entity row reflects the last event of its history: a later version
/// was never overwritten by an earlier one.
/// Every index of the live schema, by name, with its definition.
async fn indexes(pool: &Pool) -> Vec<(String, String)> {
    let c = pool.get().await.unwrap();
    let rows = c
        .query(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let list: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(
        list.iter().any(|(n, _)| n == "entities_search_text"),
        "{list:#?}"
    );
    list
}

async fn assert_latest_versions(pool: &Pool) {
    let c = pool.get().await.unwrap();
    let stale: i64 = c
        .query_one(
            "SELECT count(*) FROM entities e WHERE e.sequence <> \
             (SELECT max(h.sequence) FROM entity_history h WHERE h.entity_ref = e.entity_ref)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stale, 0, "entities behind their own history");
}

#[tokio::test]
async fn two_instances_sharing_partitions_build_the_same_model_as_one() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    let seqs = publish(&log, workload(2500)).await;
    let last = *seqs.last().unwrap();

    // Two instances, one partition each, on one database.
    let pool = migrated_pool(&env).await;
    let shared = ProjectorConfig {
        partitions: 2,
        batch_size: 40,
        ..test_projector_config()
    };
    let a = start_projector(
        &log,
        &pool,
        ProjectorConfig {
            owned_partitions: vec![0],
            ..shared.clone()
        },
    );
    let b = start_projector(
        &log,
        &pool,
        ProjectorConfig {
            owned_partitions: vec![1],
            ..shared.clone()
        },
    );
    wait_until_applied(&pool, &shared, last, "both partitions to apply the stream").await;
    for p in [a, b] {
        p.shutdown.cancel();
        let _ = p.handle.await;
    }

    // One instance, one partition, in another database.
    let env1 = TestEnv::new().await;
    let pool1 = migrated_pool(&env1).await;
    let single = test_projector_config();
    let one = start_projector(&log, &pool1, single.clone());
    wait_until_applied(
        &pool1,
        &single,
        last,
        "the single projector to apply the stream",
    )
    .await;
    one.shutdown.cancel();
    let _ = one.handle.await;

    let (mut two, mut one) = (sums(&pool, "public").await, sums(&pool1, "public").await);
    // Checkpoints are keyed per partition; everything else must be equal.
    two.remove("projector_checkpoints");
    one.remove("projector_checkpoints");
    assert_eq!(two, one);
    assert_latest_versions(&pool).await;
    let c = pool.get().await.unwrap();
    let partitions: i64 = c
        .query_one("SELECT count(*) FROM projector_checkpoints", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(partitions, 2);
}

#[tokio::test]
async fn a_rebuild_is_identical_to_the_live_model_and_switches_in_under_load() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    let seed: u64 = rand::random();
    println!("random workload seed: {seed}");
    let seqs = publish(&log, random_workload(seed, 3000)).await;
    let last = *seqs.last().unwrap();
    let pool = migrated_pool(&env).await;
    let config = test_projector_config();
    let live = start_projector(&log, &pool, config.clone());
    wait_until_applied(&pool, &config, last, "the live projector to catch up").await;
    let before = sums(&pool, "public").await;

    // A quiet rebuild: identical, row for row, to what it replaces.
    let progress = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = progress.clone();
    let report = rebuild(
        &config,
        &log,
        &pool,
        &env.pg_url,
        RebuildOptions {
            keep_previous: true,
            on_progress: Box::new(move |p| seen.lock().unwrap().push(p.percent())),
        },
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let previous = report.previous.clone().unwrap();
    assert!(report.checkpoint >= last);
    assert_eq!(sums(&pool, &previous).await, before);
    assert_eq!(sums(&pool, "public").await, before);
    assert_eq!(progress.lock().unwrap().last().copied(), Some(100.0));

    // A rebuild while events keep arriving and the live projector applies
    // them: nothing is lost or applied twice across the switch.
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for _ in 0..10 {
                seqs.extend(publish(&log, workload(150)).await);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            seqs
        })
    };
    rebuild(
        &config,
        &log,
        &pool,
        &env.pg_url,
        RebuildOptions {
            keep_previous: false,
            on_progress: Box::new(|_| {}),
        },
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let last = *writer.await.unwrap().last().unwrap();
    wait_until_applied(&pool, &config, last, "the live projector to apply the rest").await;
    live.shutdown.cancel();
    let _ = live.handle.await;
    assert_latest_versions(&pool).await;

    // The same as a clean replay of the whole stream.
    let env2 = TestEnv::new().await;
    let pool2 = migrated_pool(&env2).await;
    let clean = start_projector(&log, &pool2, config.clone());
    wait_until_applied(&pool2, &config, last, "a clean replay").await;
    clean.shutdown.cancel();
    let _ = clean.handle.await;
    assert_eq!(sums(&pool, "public").await, sums(&pool2, "public").await);
    // The indexes the replay went without were all built again.
    assert_eq!(indexes(&pool).await, indexes(&pool2).await);
    // Only the live schema and no leftovers.
    let c = pool.get().await.unwrap();
    let schemas: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%' OR nspname LIKE 'previous\\_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(schemas, 1, "the first rebuild's kept previous tables only");
    // Only the live projector's consumer is left on the stream.
    let stream = log.stream().await.unwrap();
    let consumers: Vec<String> = {
        use futures::TryStreamExt;
        stream.consumer_names().try_collect().await.unwrap()
    };
    assert_eq!(consumers, vec!["projector".to_string()]);
}
