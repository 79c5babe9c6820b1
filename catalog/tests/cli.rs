//! The `catalog` commands people run from their repositories and CI.

use std::process::Command;

mod common;
use common::{catalog_all, free_port, wait_for_component};

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/backstage-examples/all.yaml"
);

fn catalog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_catalog"))
}

#[test]
fn validate_prints_every_problem_and_fails() {
    let out = catalog().args(["validate", EXAMPLES]).output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("invalid-component.yaml: document 1: \"metadata.name\""),
        "{stdout}"
    );
    assert!(stdout.contains("34 valid entities, 1 problems"), "{stdout}");

    let out = catalog()
        .args(["validate", "--format", "json", EXAMPLES])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["entities"], 34);
    let p = &json["problems"][0];
    assert!(
        p["location"]
            .as_str()
            .unwrap()
            .ends_with("invalid-component.yaml")
    );
    assert_eq!(p["document"], 1);
    assert_eq!(p["field"], "metadata.name");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ok.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: a}\nspec: {type: team, children: []}\n",
    )
    .unwrap();
    let out = catalog()
        .args(["validate", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn apply_pushes_the_backstage_examples_and_reports_changes() {
    let p = catalog_e2e::Pipeline::start().await;
    let api = format!("http://{}", p.api_addr);
    // The API runs on this test's runtime: wait for the command without blocking it.
    let run = |dry: bool| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"));
        c.args([
            "apply", "-f", EXAMPLES, "--source", "examples", "--api", &api,
        ]);
        if dry {
            c.arg("--dry-run");
        }
        c.output()
    };
    let out = run(true).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("34 created (dry run: nothing published)") || stdout.contains("34 created"),
        "{stdout}"
    );
    // The invalid example is reported locally and makes the exit code non-zero.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid-component.yaml"));

    let out = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("34 entities from 1 location(s): 34 created"),
        "{stdout}"
    );
    assert!(
        stdout.contains("created component:default/petstore"),
        "{stdout}"
    );
    let out = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("34 unchanged"), "{stdout}");
    assert!(!stdout.contains("created component"), "{stdout}");
    p.stop().await;
}

/// `catalog projector` as operators run it: configured by environment,
/// serving metrics, and stopping cleanly on SIGTERM mid-stream (a batch in
/// flight is committed or abandoned whole; a restart applies the rest once).
#[tokio::test]
async fn the_projector_process_reports_metrics_and_stops_cleanly_on_sigterm() {
    use catalog_e2e::events::{publish, workload};
    use catalog_e2e::{connect_log, migrated_pool, start_projector, test_projector_config};

    let env = catalog_test_support::TestEnv::new().await;
    let log = connect_log(&env).await;
    let first = *publish(&log, workload(1500)).await.last().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"))
        .arg("projector")
        .env("CATALOG_NATS__URL", &env.nats_url)
        .env("CATALOG_NATS__STREAM", &env.stream)
        .env("CATALOG_NATS__SUBJECT_PREFIX", &env.subject_prefix)
        .env("CATALOG_POSTGRES__URL", &env.pg_url)
        .env("CATALOG_PROJECTOR__BATCH_SIZE", "20")
        .env("CATALOG_METRICS__LISTEN", format!("127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    catalog_e2e::wait_for(
        "the projector's metrics to show the first events applied",
        std::time::Duration::from_secs(60),
        || {
            let metrics = metrics.clone();
            async move {
                let text = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
                text.contains(&format!(
                    "catalog_projector_checkpoint{{partition=\"projector\"}} {first}"
                ))
                .then_some(())
            }
        },
    )
    .await;
    // More events, and SIGTERM while they are being applied.
    let last = *publish(&log, workload(1500)).await.last().unwrap();
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("the projector stops within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    // What was committed is whole: the history holds exactly the events up
    // to the checkpoint. A restart applies the rest, each event once.
    let pool = migrated_pool(&env).await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let c = pool.get().await.unwrap();
            c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
        }
    };
    let checkpoint = count("SELECT stream_sequence FROM projector_checkpoints").await;
    assert_eq!(
        count("SELECT count(*) FROM entity_history").await,
        checkpoint
    );
    let running = start_projector(&log, &pool, test_projector_config());
    catalog_e2e::wait_for(
        "the restarted projector to finish",
        std::time::Duration::from_secs(60),
        || async move {
            (count("SELECT stream_sequence FROM projector_checkpoints").await == last as i64)
                .then_some(())
        },
    )
    .await;
    running.shutdown.cancel();
    let _ = running.handle.await;
    assert_eq!(
        count("SELECT count(*) FROM entity_history").await,
        last as i64
    );
}

/// `catalog config check` validates the example configuration (with its
/// `${VAR}`s from the environment) and names the key of every mistake.
#[test]
fn config_check_accepts_the_example_and_names_bad_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/dev/catalog.yaml");
    let out = catalog()
        .args(["config", "check", example])
        .env("DEMO_CI_TOKEN", "t")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("configuration OK"), "{stdout}");
    // The proxy header's variable is missing.
    let out = catalog()
        .args(["config", "check", example])
        .env_remove("DEMO_CI_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ui_bridge.proxy.endpoints./ci.headers.Authorization")
            && stderr.contains("DEMO_CI_TOKEN"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    for (text, key) in [
        ("api:\n  listen: nowhere\n", "listen"),
        ("nats:\n  replicas: 4\n", "nats.replicas"),
        ("ui_bridge:\n  plugins:\n    - id: ci-builds\n", "ci-builds"),
        (
            "ui_bridge:\n  proxy:\n    endpoints:\n      /x: {target: 'not a url'}\n",
            "/x",
        ),
        ("postgres:\n  url: 'mysql://x'\n", "postgres.url"),
        ("api:\n  auth: {enabled: true}\n", "nobody could call"),
        (
            "api:\n  auth: {tokens: [{name: ci, token: short, scopes: [catalog.write]}]}\n",
            "tokens[0] (ci): the token is shorter than 16 characters",
        ),
        (
            "api:\n  auth: {tokens: [{name: ci, token: 0123456789abcdefgh, scopes: [catalog.root]}]}\n",
            "catalog.root",
        ),
        (
            "ui_bridge:\n  auth: {trusted_proxy: {addresses: [somewhere]}}\n",
            "trusted_proxy.addresses",
        ),
        (
            "ui_bridge:\n  cors: {allowed_origins: ['*']}\n",
            "cors.allowed_origins",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = catalog()
            .args(["config", "check", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}

/// `catalog all` serves one `/metrics` with every component's series:
/// ingest publishes by location, projector progress, API calls by method and
/// code, bridge requests by route and status.
#[tokio::test]
async fn every_component_reports_its_metrics() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = catalog_test_support::TestEnv::new().await;
    let (metrics_port, api_port, ui_port) = (free_port(), free_port(), free_port());
    let mut child = catalog_all(&env, EXAMPLES, api_port, ui_port)
        .env(
            "CATALOG_METRICS__LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{ui_port}");
    wait_for_component(&base, "artist-lookup").await;
    assert_eq!(
        reqwest::get(format!(
            "{base}/api/catalog/entities/by-name/component/default/nope"
        ))
        .await
        .unwrap()
        .status(),
        404
    );
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for wanted in [
        "catalog_ingest_published_total{location=\"file:",
        "change=\"upserted\"",
        "catalog_ingest_errors_total{location=\"file:",
        "catalog_ingest_sync_seconds_count",
        "catalog_projector_events_applied_total",
        "catalog_api_requests_total{method=\"/catalog.v1.CatalogService/GetEntity\",code=\"Ok\"}",
        "catalog_api_requests_total{method=\"/catalog.v1.CatalogService/GetEntity\",code=\"NotFound\"}",
        "catalog_api_request_seconds_bucket{le=",
        "catalog_http_requests_total{route=\"/api/catalog/entities/by-name/{kind}/{namespace}/{name}\",status=\"404\"}",
        "catalog_http_request_seconds_count{route=",
    ] {
        assert!(text.contains(wanted), "missing {wanted} in:\n{text}");
    }
    child.kill().await.unwrap();
}
