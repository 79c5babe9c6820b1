//! The faults, one function each. Every scenario ends with the same proof:
//! the read model holds every entity and equals a clean replay of the
//! stream, row for row.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::cluster::{Cluster, Run, Started};
use crate::proxy::Mode;

/// How big and how many.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Entities ingested in each scenario.
    pub entities: usize,
    /// Projector kills.
    pub kills: usize,
    /// Events the projector falls behind by in the backlog scenario.
    pub backlog: usize,
    /// Peak RSS the projector may reach while catching up, bytes.
    pub projector_rss_bound: u64,
    pub seed: u64,
}

/// One fault's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub fault: String,
    pub injection: String,
    pub passed: bool,
    pub result: String,
    pub seconds: f64,
}

/// Every scenario's name, in the order they run.
pub const ALL: &[&str] = &[
    "projector-kill",
    "ingest-kill",
    "nats-restart",
    "postgres-restart",
    "network-pause",
    "backlog",
    "overload",
];

/// Runs scenario `name`.
pub async fn run(cluster: &mut Cluster, name: &str, sizes: &Sizes) -> Outcome {
    let started = Instant::now();
    let (fault, injection, result) = match name {
        "projector-kill" => (
            format!("projector killed {} times during ingest", sizes.kills),
            "kill -9 of `catalog projector` at random moments (seeded), restarted each time".into(),
            projector_kill(cluster, sizes).await,
        ),
        "ingest-kill" => (
            "ingestor killed mid-publish".into(),
            "kill -9 of `catalog ingest` at a third and at half of its publishing, restarted"
                .into(),
            ingest_kill(cluster, sizes).await,
        ),
        "nats-restart" => (
            "NATS restarted during ingest and during projection".into(),
            "kill -9 of nats-server, restarted on the same store after 2 s; twice".into(),
            nats_restart(cluster, sizes).await,
        ),
        "postgres-restart" => (
            "PostgreSQL restarted during projection and queries".into(),
            "`pg_ctl stop -m immediate` (a crash), restarted after 2 s".into(),
            postgres_restart(cluster, sizes).await,
        ),
        "network-pause" => (
            "network pauses and cuts".into(),
            "TCP proxy: NATS paused 5 s, PostgreSQL paused 5 s, NATS cut 3 s".into(),
            network_pause(cluster, sizes).await,
        ),
        "backlog" => (
            format!("projector behind by {} events", sizes.backlog),
            "stream filled with the projector stopped, then started".into(),
            backlog(cluster, sizes).await,
        ),
        "overload" => (
            "API and bridge overloaded".into(),
            format!(
                "{OVERLOAD_CLIENTS} clients without pause for {} s against a limit of {OVERLOAD_LIMIT} concurrent calls, gRPC then REST",
                OVERLOAD_TIME.as_secs()
            ),
            overload(cluster, sizes).await,
        ),
        other => (
            other.to_string(),
            String::new(),
            Err(anyhow::anyhow!("no such scenario: {other}")),
        ),
    };
    let (passed, result) = match result {
        Ok(r) => (true, r),
        Err(e) => (false, format!("FAILED: {e:#}")),
    };
    Outcome {
        fault,
        injection,
        passed,
        result,
        seconds: started.elapsed().as_secs_f64(),
    }
}

const COMPLETE: Duration = Duration::from_secs(1800);

async fn projector_kill(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    let run = cluster
        .scenario("projector_kill", sizes.entities, sizes.seed)
        .await?;
    let mut rng = StdRng::seed_from_u64(sizes.seed);
    let mut ingest = run.start("ingest")?;
    let mut projector = run.start("projector")?;
    // Each kill lands while the projector is working: after it has applied
    // something since its restart, at a random moment, with events left.
    let mut kills = 0;
    let mut applied = 0;
    while kills < sizes.kills {
        let deadline = Instant::now() + COMPLETE;
        loop {
            projector.component.check_alive()?;
            ingest.component.check_alive()?;
            if run.checkpoint(cluster, &run.db, "projector").await? > applied {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the projector made no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        applied = run.checkpoint(cluster, &run.db, "projector").await?;
        let last = run.stream_state(cluster).await?.last_sequence;
        let entities = run.entity_count(cluster).await?;
        if applied >= last && entities == run.entities as i64 {
            break; // nothing left to interrupt
        }
        projector.component.kill().await?;
        kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        projector = run.start("projector")?;
    }
    anyhow::ensure!(kills > 0, "the projection ended before the first kill");
    run.wait_complete(cluster, &mut [&mut ingest, &mut projector], COMPLETE)
        .await?;
    let compared = run.compare_with_replay(cluster).await?;
    stop(vec![ingest, projector]).await;
    Ok(format!(
        "{kills} kills, each while events were left to apply; {} entities; {compared}",
        run.entities
    ))
}

async fn ingest_kill(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    let run = cluster
        .scenario("ingest_kill", sizes.entities, sizes.seed)
        .await?;
    let mut projector = run.start("projector")?;
    let mut ingest = run.start("ingest")?;
    let mut kills = Vec::new();
    for fraction in [3, 2] {
        let at = (run.entities / fraction) as u64;
        let deadline = Instant::now() + COMPLETE;
        loop {
            ingest.component.check_alive()?;
            let messages = run
                .stream_state(cluster)
                .await
                .map(|s| s.messages)
                .unwrap_or(0);
            if messages >= at {
                kills.push(messages);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the ingestor published nothing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ingest.component.kill().await?;
        ingest = run.start("ingest")?;
    }
    run.wait_complete(cluster, &mut [&mut ingest, &mut projector], COMPLETE)
        .await?;
    // Let the restarted ingestor make a pass over everything: it must not
    // publish again what was published before its kill.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let subjects = run.entity_subjects(cluster).await?;
    let twice: Vec<&String> = subjects
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| s)
        .collect();
    anyhow::ensure!(
        twice.is_empty(),
        "{} entities were published more than once, e.g. {}",
        twice.len(),
        twice.first().map(|s| s.as_str()).unwrap_or("")
    );
    anyhow::ensure!(
        subjects.len() == run.entities,
        "{} entity subjects for {} entities",
        subjects.len(),
        run.entities
    );
    let compared = run.compare_with_replay(cluster).await?;
    stop(vec![ingest, projector]).await;
    Ok(format!(
        "killed at {} and {} messages; each of {} entities published exactly once; {compared}",
        kills[0], kills[1], run.entities
    ))
}

async fn nats_restart(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    let run = cluster
        .scenario("nats_restart", sizes.entities, sizes.seed)
        .await?;
    let mut ingest = run.start("ingest")?;
    let mut projector = run.start("projector")?;
    let mut notes = Vec::new();
    // During ingest: once a quarter is published.
    wait_messages(&run, cluster, (run.entities / 4) as u64, &mut ingest).await?;
    notes.push(outage_nats(cluster, &run, &[&ingest, &projector]).await?);
    // During projection: once the publishing is over, while the projector works.
    wait_messages(&run, cluster, run.entities as u64, &mut ingest).await?;
    notes.push(outage_nats(cluster, &run, &[&ingest, &projector]).await?);
    run.wait_complete(cluster, &mut [&mut ingest, &mut projector], COMPLETE)
        .await?;
    let compared = run.compare_with_replay(cluster).await?;
    stop(vec![ingest, projector]).await;
    Ok(format!("{}; {compared}", notes.join("; ")))
}

/// Kills NATS, checks that the components report it, restarts it.
async fn outage_nats(
    cluster: &mut Cluster,
    run: &Run,
    components: &[&Started],
) -> anyhow::Result<String> {
    let applied = run.checkpoint(cluster, &run.db, "projector").await?;
    let last = run.stream_state(cluster).await?.last_sequence;
    cluster.nats.kill().await?;
    let mut unready = 0;
    for c in components {
        if run.wait_ready(c, false, Duration::from_secs(5)).await {
            unready += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.nats.restart().await?;
    let mut ready = 0;
    for c in components {
        if run.wait_ready(c, true, Duration::from_secs(60)).await {
            ready += 1;
        }
    }
    anyhow::ensure!(
        unready == components.len() && ready == components.len(),
        "during the outage {unready} of {} components reported not ready, after it {ready} ready again",
        components.len()
    );
    Ok(format!(
        "outage with {applied} of {last} events applied: all {} components unready, then ready",
        components.len()
    ))
}

async fn postgres_restart(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    let run = cluster
        .scenario("postgres_restart", sizes.entities, sizes.seed)
        .await?;
    let mut ingest = run.start("ingest")?;
    let mut projector = run.start("projector")?;
    let mut api = run.start("api")?;
    let api_url = run.deployment.api_url();
    wait_messages(&run, cluster, (run.entities / 3) as u64, &mut ingest).await?;
    let applied = run.checkpoint(cluster, &run.db, "projector").await?;
    let last = run.stream_state(cluster).await?.last_sequence;
    cluster.pg.crash().await?;
    let projector_unready = run
        .wait_ready(&projector, false, Duration::from_secs(10))
        .await;
    let api_unready = run.wait_ready(&api, false, Duration::from_secs(10)).await;
    // A query during the outage fails fast and says why, rather than hanging.
    let during = query_total(&api_url, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.pg.restart().await?;
    let projector_ready = run
        .wait_ready(&projector, true, Duration::from_secs(60))
        .await;
    let api_ready = run.wait_ready(&api, true, Duration::from_secs(60)).await;
    anyhow::ensure!(
        projector_unready && api_unready && projector_ready && api_ready,
        "readiness during/after the outage: projector {projector_unready}/{projector_ready}, api {api_unready}/{api_ready}"
    );
    let during = match during {
        Ok(n) => anyhow::bail!("a query during the outage answered {n} entities"),
        Err(e) => e,
    };
    run.wait_complete(
        cluster,
        &mut [&mut ingest, &mut projector, &mut api],
        COMPLETE,
    )
    .await?;
    let total = query_total(&api_url, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("after the outage: {e}"))?;
    anyhow::ensure!(
        total == run.entities as u64,
        "after the outage the API counts {total} entities"
    );
    let compared = run.compare_with_replay(cluster).await?;
    stop(vec![ingest, projector, api]).await;
    Ok(format!(
        "crash with {applied} of {last} events applied; projector and API unready during it, ready after; \
         a query during it failed with {during}; after it the API answers {total} entities; {compared}"
    ))
}

/// The API's count of entities, or the error it answered.
async fn query_total(api_url: &str, timeout: Duration) -> Result<u64, String> {
    use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(api_url.to_string())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let res = CatalogServiceClient::new(channel)
        .list_entities(catalog_proto::v1::ListEntitiesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .map_err(|s| format!("{:?} ({})", s.code(), s.message()))?;
    Ok(res.into_inner().total_size)
}

async fn network_pause(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    let run = cluster
        .scenario("network_pause", sizes.entities, sizes.seed)
        .await?;
    let mut ingest = run.start("ingest")?;
    let mut projector = run.start("projector")?;
    wait_messages(&run, cluster, (run.entities / 4) as u64, &mut ingest).await?;
    for (proxy, mode, secs) in [
        ("nats", Mode::Pause, 5),
        ("postgres", Mode::Pause, 5),
        ("nats", Mode::Cut, 3),
    ] {
        let p = if proxy == "nats" {
            &cluster.nats_proxy
        } else {
            &cluster.pg_proxy
        };
        p.set(mode);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        p.set(Mode::Pass);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    run.wait_complete(cluster, &mut [&mut ingest, &mut projector], COMPLETE)
        .await?;
    let compared = run.compare_with_replay(cluster).await?;
    stop(vec![ingest, projector]).await;
    Ok(compared)
}

async fn backlog(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    let run = cluster.scenario("backlog", 0, sizes.seed).await?;
    // Events of synthetic entities, each a new version of one of them.
    let docs = catalog_bench::synthetic::documents(sizes.backlog.min(100_000), sizes.seed);
    let entities: Vec<catalog_model::Entity> = docs
        .iter()
        .flat_map(|d| catalog_model::parse_documents(d).unwrap_or_default())
        .filter_map(|v| catalog_model::Entity::from_json(v).ok())
        .collect();
    anyhow::ensure!(!entities.is_empty(), "no entities to publish");
    let log = catalog_eventlog::EventLog::connect(
        catalog_eventlog::EventLogConfig {
            url: cluster.nats.url(),
            stream: run.stream.clone(),
            subject_prefix: run.prefix.clone(),
            ..Default::default()
        },
        "faults-backlog",
    )
    .await
    .context("connecting to the stream")?;
    let n = sizes.backlog;
    // Made as they are published: a million events would not fit in memory at once.
    let events = (0..n)
        .map(|i| catalog_bench::load::event(&entities[i % entities.len()], i / entities.len()))
        .map_while(Result::ok);
    let last = catalog_bench::load::publish(&log, events).await?;
    anyhow::ensure!(
        last >= n as u64,
        "only {last} of {n} events could be made and published"
    );
    let mut projector = run.start("projector")?;
    let started = Instant::now();
    let mut peak = 0;
    loop {
        projector.component.check_alive()?;
        peak = peak.max(projector.component.rss());
        if run.checkpoint(cluster, &run.db, "projector").await? >= last {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < COMPLETE,
            "the projector did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    peak = peak.max(projector.component.peak_rss());
    anyhow::ensure!(
        peak <= sizes.projector_rss_bound,
        "the projector's RSS reached {} MB catching up (bound {} MB)",
        peak >> 20,
        sizes.projector_rss_bound >> 20
    );
    stop(vec![projector]).await;
    Ok(format!(
        "caught up with {n} events in {secs:.0} s ({:.0} events/s), peak RSS {} MB (bound {} MB)",
        n as f64 / secs,
        peak >> 20,
        sizes.projector_rss_bound >> 20
    ))
}

const OVERLOAD_CLIENTS: usize = 200;
const OVERLOAD_LIMIT: usize = 8;
const OVERLOAD_TIME: Duration = Duration::from_secs(5);

/// What the clients of an overload got.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    shed: u64,
    /// Anything else: timeouts, resets, other errors, with one example.
    other: u64,
    example: Option<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.shed += other.shed;
        self.other += other.other;
        if self.example.is_none() {
            self.example = other.example;
        }
    }

    fn check(&self, what: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            self.other == 0,
            "{what}: {} calls neither answered nor shed (e.g. {}; {} answered, {} shed)",
            self.other,
            self.example.as_deref().unwrap_or(""),
            self.ok,
            self.shed
        );
        anyhow::ensure!(
            self.shed > 0,
            "{what}: nothing was shed ({} answered)",
            self.ok
        );
        anyhow::ensure!(
            self.ok > 0,
            "{what}: nothing was answered ({} shed)",
            self.shed
        );
        Ok(format!(
            "{what}: {} answered, {} shed, 0 failed otherwise",
            self.ok, self.shed
        ))
    }
}

async fn overload(cluster: &mut Cluster, sizes: &Sizes) -> anyhow::Result<String> {
    use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
    let run = cluster
        .scenario("overload", sizes.entities.min(10_000), sizes.seed)
        .await?;
    let limit = OVERLOAD_LIMIT.to_string();
    let mut ingest = run.start("ingest")?;
    let mut projector = run.start("projector")?;
    let api = run.deployment.start(
        "api",
        &[("CATALOG_API__MAX_CONCURRENT_REQUESTS", limit.clone())],
    )?;
    let bridge = run.deployment.start(
        "ui-bridge",
        &[("CATALOG_UI_BRIDGE__MAX_CONCURRENT_REQUESTS", limit)],
    )?;
    let mut api = Started {
        component: api,
        metrics_port: 0,
    };
    let mut bridge = Started {
        component: bridge,
        metrics_port: 0,
    };
    run.wait_complete(
        cluster,
        &mut [&mut ingest, &mut projector, &mut api, &mut bridge],
        COMPLETE,
    )
    .await?;
    let api_url = run.deployment.api_url();
    let bridge_url = run.deployment.bridge_url();
    // Both answer before the load.
    query_total(&api_url, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("before the load: {e}"))?;

    // Each client on a connection of its own, as separate callers would be.
    let endpoint = tonic::transport::Endpoint::from_shared(api_url.clone())?;
    let until = Instant::now() + OVERLOAD_TIME;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..OVERLOAD_CLIENTS {
        let mut client = CatalogServiceClient::new(endpoint.connect_lazy());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < until {
                let mut request = tonic::Request::new(catalog_proto::v1::SearchEntitiesRequest {
                    query: "service".into(),
                    page_size: 50,
                    ..Default::default()
                });
                request.set_timeout(Duration::from_secs(10));
                match client.search_entities(request).await {
                    Ok(_) => tally.ok += 1,
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => tally.shed += 1,
                    Err(s) => {
                        tally.other += 1;
                        tally
                            .example
                            .get_or_insert(format!("{:?}: {}", s.code(), s.message()));
                    }
                }
            }
            tally
        });
    }
    let mut grpc = Tally::default();
    while let Some(t) = tasks.join_next().await {
        grpc.add(t?);
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let until = Instant::now() + OVERLOAD_TIME;
    for _ in 0..OVERLOAD_CLIENTS {
        let (http, url) = (
            http.clone(),
            format!(
                "{bridge_url}/api/catalog/entities/by-query?fullTextFilterTerm=service&limit=50"
            ),
        );
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < until {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => tally.ok += 1,
                    Ok(r) if r.status().as_u16() == 503 || r.status().as_u16() == 429 => {
                        tally.shed += 1
                    }
                    Ok(r) => {
                        tally.other += 1;
                        tally.example.get_or_insert(format!("HTTP {}", r.status()));
                    }
                    Err(e) => {
                        tally.other += 1;
                        tally.example.get_or_insert(e.to_string());
                    }
                }
            }
            tally
        });
    }
    let mut rest = Tally::default();
    while let Some(t) = tasks.join_next().await {
        rest.add(t?);
    }

    // Recovered by themselves: single calls answer again.
    let total = query_total(&api_url, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("after the load, the API: {e}"))?;
    let after = http
        .get(format!("{bridge_url}/api/catalog/entities?limit=1"))
        .send()
        .await
        .context("after the load, the bridge")?;
    anyhow::ensure!(
        after.status().is_success(),
        "after the load the bridge answers {}",
        after.status()
    );
    let summary = format!(
        "{}; {}; afterwards both answer (the API counts {total} entities)",
        grpc.check("gRPC")?,
        rest.check("REST")?
    );
    stop(vec![ingest, projector, api, bridge]).await;
    Ok(summary)
}

/// Waits until the stream holds `at` messages.
async fn wait_messages(
    run: &Run,
    cluster: &Cluster,
    at: u64,
    ingest: &mut Started,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + COMPLETE;
    loop {
        ingest.component.check_alive()?;
        if run
            .stream_state(cluster)
            .await
            .map(|s| s.messages)
            .unwrap_or(0)
            >= at
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the stream did not reach {at} messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop(components: Vec<Started>) {
    for c in components {
        let _ = c.component.stop().await;
    }
}
