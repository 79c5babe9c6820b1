//! The projector's guarantees on real NATS and PostgreSQL: exactly-once
//! effect across crashes, duplicates and redeliveries; poison messages never
//! block the stream.

use std::time::Duration;

use catalog_e2e::events::{publish, upsert, workload};
use catalog_e2e::{connect_log, migrated_pool, start_projector, test_projector_config, wait_for};
use catalog_eventlog::{PublishOutcome, Publisher, encode_event};
use catalog_projector::apply::{BatchItem, apply_batch, read_checkpoint};
use catalog_test_support::TestEnv;
use deadpool_postgres::Pool;

const WAIT: Duration = Duration::from_secs(60);

async fn checkpoint(pool: &Pool) -> u64 {
    let c = pool.get().await.unwrap();
    read_checkpoint(&**c, "projector").await.unwrap()
}

/// Runs a projector until its checkpoint reaches `sequence`, then stops it.
async fn project_until(
    log: &catalog_eventlog::EventLog,
    pool: &Pool,
    config: catalog_projector::ProjectorConfig,
    sequence: u64,
    what: &str,
) {
    let running = start_projector(log, pool, config);
    wait_for(what, WAIT, || {
        let pool = pool.clone();
        async move { (checkpoint(&pool).await == sequence).then_some(()) }
    })
    .await;
    running.shutdown.cancel();
    let _ = running.handle.await;
}

/// Everything the read model holds, in a comparable form.
async fn dump(pool: &Pool) -> Vec<String> {
    let c = pool.get().await.unwrap();
    let mut out = Vec::new();
    for r in c
        .query("SELECT entity_ref, uid::text, entity::text, event_id::text, sequence FROM entities ORDER BY entity_ref", &[])
        .await
        .unwrap()
    {
        out.push(format!("E {} {} {} {} {}", r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, String>(2), r.get::<_, String>(3), r.get::<_, i64>(4)));
    }
    for r in c
        .query(
            "SELECT source_ref, type, target_ref, inverse_type FROM relations ORDER BY 1, 2, 3, 4",
            &[],
        )
        .await
        .unwrap()
    {
        out.push(format!(
            "R {} {} {} {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3)
        ));
    }
    for r in c
        .query("SELECT sequence, event_id::text, entity_ref, change FROM entity_history ORDER BY sequence", &[])
        .await
        .unwrap()
    {
        out.push(format!("H {} {} {} {}", r.get::<_, i64>(0), r.get::<_, String>(1), r.get::<_, String>(2), r.get::<_, String>(3)));
    }
    out
}

#[tokio::test]
async fn projector_killed_mid_batch_and_restarted_matches_an_uninterrupted_run() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    let seqs = publish(&log, workload(3000)).await;
    let last = *seqs.last().unwrap();

    // Interrupted run: killed (task aborted) over and over while it works,
    // so that kills land before, inside and after batch transactions.
    let pool = migrated_pool(&env).await;
    let mut config = test_projector_config();
    config.batch_size = 25;
    for round in 0..20 {
        let running = start_projector(&log, &pool, config.clone());
        let before = checkpoint(&pool).await;
        wait_for("progress before the kill", WAIT, || {
            let pool = pool.clone();
            async move { (checkpoint(&pool).await > before).then_some(()) }
        })
        .await;
        running.handle.abort();
        let _ = running.handle.await;
        assert!(checkpoint(&pool).await <= last, "round {round}");
    }
    project_until(
        &log,
        &pool,
        config.clone(),
        last,
        "the interrupted projector to finish",
    )
    .await;

    // Uninterrupted run into a second database, from the same stream.
    let env2 = TestEnv::new().await;
    let pool2 = migrated_pool(&env2).await;
    project_until(
        &log,
        &pool2,
        config,
        last,
        "the uninterrupted projector to finish",
    )
    .await;

    let (a, b) = (dump(&pool).await, dump(&pool2).await);
    assert_eq!(
        a.iter().filter(|l| l.starts_with('H')).count(),
        seqs.len(),
        "every event in history once"
    );
    assert!(a.iter().any(|l| l.starts_with('R')));
    assert_eq!(a, b);
    // Row for row, every column of every table.
    let sums = |pool: Pool| async move {
        let c = pool.get().await.unwrap();
        catalog_projector::rebuild::checksums(&**c, "public")
            .await
            .unwrap()
    };
    assert_eq!(sums(pool.clone()).await, sums(pool2.clone()).await);
}

#[tokio::test]
async fn duplicate_event_ids_and_redeliveries_have_no_second_effect() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    let publisher = Publisher::new(log.clone());
    let first = upsert("dup", "team-a", 1);

    // Same Nats-Msg-Id within the window: JetStream stores it once.
    let out = publisher.publish_all(vec![(first.clone(), 0)]).await;
    assert!(matches!(
        out[0],
        PublishOutcome::Stored {
            sequence: 1,
            duplicate: false
        }
    ));
    let out = publisher.publish_all(vec![(first.clone(), 0)]).await;
    // A duplicate id is answered before the concurrency check, with the
    // original sequence.
    assert_eq!(
        out[0],
        PublishOutcome::Stored {
            sequence: 1,
            duplicate: true
        }
    );
    let mut stream = log.stream().await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);

    // The same event again under another Nats-Msg-Id (as if published after
    // the de-duplication window): stored twice, applied once.
    let (subject, mut headers, payload) = encode_event(log.prefix(), &first);
    headers.insert("Nats-Msg-Id", "another-id");
    log.jetstream()
        .publish_with_headers(subject, headers, payload)
        .await
        .unwrap()
        .await
        .unwrap();
    let later = upsert("other", "team-b", 2);
    publish(&log, vec![later]).await;

    let pool = migrated_pool(&env).await;
    project_until(
        &log,
        &pool,
        test_projector_config(),
        3,
        "all three messages",
    )
    .await;
    let before = dump(&pool).await;
    assert_eq!(
        before.iter().filter(|l| l.starts_with('H')).count(),
        2,
        "{before:#?}"
    );
    assert!(
        before
            .iter()
            .any(|l| l.starts_with("E component:default/dup") && l.ends_with(" 1")),
        "{before:#?}"
    );

    // Redelivery of already-applied messages (as after a crash before the ack).
    let mut client = pool.get().await.unwrap();
    let redelivered = vec![BatchItem::event(catalog_eventlog::DecodedEvent {
        sequence: 1,
        event: first,
    })];
    let outcome = apply_batch(&mut client, "projector", redelivered, 0)
        .await
        .unwrap();
    assert_eq!(
        (outcome.applied, outcome.skipped, outcome.checkpoint),
        (0, 1, 3)
    );
    assert_eq!(dump(&pool).await, before);

    // A checkpoint below the one the caller saw committed (a commit lost in
    // a PostgreSQL crash) applies nothing and says so, so the projector
    // resumes from it rather than skip what was lost.
    let outcome = apply_batch(
        &mut client,
        "projector",
        vec![BatchItem::Foreign { sequence: 11 }],
        10,
    )
    .await
    .unwrap();
    assert!(outcome.behind);
    assert_eq!((outcome.applied, outcome.checkpoint), (0, 3));
    assert_eq!(dump(&pool).await, before);
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_do_not_block_the_stream() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    let prefix = log.prefix().to_string();
    let js = log.jetstream();
    // Garbage, and a valid event on the wrong subject (a forged source).
    js.publish(
        format!("{prefix}.entity.component.default.junk"),
        "not protobuf".into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let (_, _, payload) = encode_event(&prefix, &upsert("forged", "x", 1));
    js.publish(
        format!("{prefix}.entity.component.default.victim"),
        payload.clone(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    publish(&log, vec![upsert("fine", "team-a", 1)]).await;

    let pool = migrated_pool(&env).await;
    project_until(
        &log,
        &pool,
        test_projector_config(),
        3,
        "the valid event behind the poison",
    )
    .await;
    let c = pool.get().await.unwrap();
    let reasons: Vec<String> = c
        .query("SELECT reason FROM dead_letters ORDER BY sequence", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("not a catalog.v1.EntityEvent"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("does not match"), "{reasons:?}");

    // Both are on the dead-letter subject, with the reason and the original
    // payload and headers.
    let dlq = js
        .get_stream(format!("{}_DEADLETTER", env.stream))
        .await
        .unwrap();
    let junk = dlq.get_raw_message(1).await.unwrap();
    assert_eq!(
        junk.subject.as_str(),
        format!("deadletter.{prefix}.entity.component.default.junk")
    );
    assert_eq!(junk.payload.as_ref(), b"not protobuf");
    let h = &junk.headers;
    assert!(
        h.get("Catalog-Dead-Letter-Reason")
            .unwrap()
            .as_str()
            .contains("not a catalog.v1.EntityEvent")
    );
    assert_eq!(h.get("Catalog-Original-Sequence").unwrap().as_str(), "1");
    let forged = dlq.get_raw_message(2).await.unwrap();
    assert_eq!(forged.payload, payload);
    assert_eq!(
        forged
            .headers
            .get("Catalog-Original-Subject")
            .unwrap()
            .as_str(),
        format!("{prefix}.entity.component.default.victim")
    );
    let live: i64 = c
        .query_one("SELECT count(*) FROM entities", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1);
}

#[tokio::test]
async fn an_event_postgres_cannot_store_is_dead_lettered_and_the_rest_applied() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    // An owner ref far longer than an index row may be: valid as an event,
    // refused by PostgreSQL when its relation rows are indexed.
    // Random, so that index compression cannot shrink it.
    let huge_owner: String = (0..700)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    publish(
        &log,
        vec![
            upsert("before", "team-a", 1),
            upsert("huge", &huge_owner, 2),
            upsert("after", "team-a", 3),
        ],
    )
    .await;
    let pool = migrated_pool(&env).await;
    project_until(
        &log,
        &pool,
        test_projector_config(),
        3,
        "every event handled",
    )
    .await;
    let c = pool.get().await.unwrap();
    let dead: Vec<(i64, String)> = c
        .query("SELECT sequence, reason FROM dead_letters", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, 2);
    assert!(dead[0].1.contains("rejected by the read model"), "{dead:?}");
    let names: Vec<String> = c
        .query("SELECT name FROM entities ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, vec!["after", "before"]);
}

/// A projector reporting into a registry of its own, running until the
/// token is cancelled.
fn start_with_metrics(
    log: &catalog_eventlog::EventLog,
    pool: &Pool,
) -> (
    prometheus_client::registry::Registry,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<Result<(), catalog_projector::ProjectorError>>,
) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = catalog_projector::ProjectorMetrics::register(&mut registry);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let projector =
        catalog_projector::Projector::new(test_projector_config(), log.clone(), pool.clone())
            .with_metrics(metrics);
    let handle = tokio::spawn(projector.run(shutdown.clone()));
    (registry, shutdown, handle)
}

/// The registry in Prometheus' text format.
fn metrics_text(registry: &prometheus_client::registry::Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

#[tokio::test]
async fn metrics_report_applied_events_dead_letters_batches_and_lag() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    log.jetstream()
        .publish(
            format!("{}.entity.component.default.junk", log.prefix()),
            "garbage".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let last = *publish(&log, workload(300)).await.last().unwrap();
    let pool = migrated_pool(&env).await;
    let (registry, shutdown, handle) = start_with_metrics(&log, &pool);
    let text = wait_for("the metrics to show a caught-up projector", WAIT, || {
        let registry = &registry;
        async move {
            let text = metrics_text(registry);
            let caught_up = text.contains(&format!(
                "catalog_projector_checkpoint{{partition=\"projector\"}} {last}"
            )) && text
                .contains(&format!("catalog_projector_stream_last_sequence {last}"))
                && text.contains("catalog_projector_lag{partition=\"projector\"} 0");
            caught_up.then_some(text)
        }
    })
    .await;
    shutdown.cancel();
    handle.await.unwrap().unwrap();
    let applied = last - 1;
    assert!(
        text.contains(&format!(
            "catalog_projector_events_applied_total{{partition=\"projector\"}} {applied}"
        )),
        "{text}"
    );
    assert!(
        text.contains("catalog_projector_dead_letters_total{partition=\"projector\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("catalog_projector_batch_size_count"),
        "{text}"
    );
    assert!(
        text.contains("catalog_projector_apply_seconds_bucket"),
        "{text}"
    );
}

/// The GIN pending lists every filter and search reads are merged soon
/// after writes (the merged-pages counter moves while the projector runs)
/// and at shutdown: nothing is left pending once it stops.
#[tokio::test]
async fn gin_pending_lists_are_merged_after_writes() {
    let env = TestEnv::new().await;
    let log = connect_log(&env).await;
    let last = *publish(&log, workload(300)).await.last().unwrap();
    let pool = migrated_pool(&env).await;
    let (registry, shutdown, handle) = start_with_metrics(&log, &pool);
    let merged = |registry: &prometheus_client::registry::Registry| {
        metrics_text(registry)
            .lines()
            .find_map(|l| l.strip_prefix("catalog_projector_gin_pending_pages_merged_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    wait_for("the projector to catch up and merge", WAIT, || {
        let (pool, registry) = (pool.clone(), &registry);
        async move { (checkpoint(&pool).await == last && merged(registry) > 0).then_some(()) }
    })
    .await;
    // More writes, then a stop before their merge is due.
    let last = *publish(&log, workload(50)).await.last().unwrap();
    wait_for("the projector to apply the second batch", WAIT, || {
        let pool = pool.clone();
        async move { (checkpoint(&pool).await == last).then_some(()) }
    })
    .await;
    shutdown.cancel();
    handle.await.unwrap().unwrap();
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT coalesce(sum(gin_clean_pending_list(c.oid::regclass)), 0)::int8, count(*) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
             WHERE i.indrelid = 'entities'::regclass AND a.amname = 'gin'",
            &[],
        )
        .await
        .unwrap();
    let (left, indexes): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(indexes, 3, "GIN indexes on entities");
    assert_eq!(left, 0, "pages left pending after the projector stopped");
}
