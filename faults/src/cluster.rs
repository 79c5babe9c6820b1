//! One scenario's deployment: its own stream and database on the suite's
//! servers, reached through proxies, with the `catalog` binary's
//! components as processes that can be killed, and the checks every
//! scenario ends with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use catalog_bench::procs::{Component, Deployment, Servers};
use catalog_eventlog::location::is_location_subject;
use futures::TryStreamExt as _;

use crate::proxy::Proxy;
use crate::servers::{NatsServer, Postgres, free_port};

/// The suite's servers and the proxies in front of them.
pub struct Cluster {
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub nats: NatsServer,
    pub pg: Postgres,
    pub nats_proxy: Proxy,
    pub pg_proxy: Proxy,
    /// Admin connections by database, reused while they stay open (the
    /// scenarios poll checkpoints every few milliseconds).
    admins: tokio::sync::Mutex<HashMap<String, Arc<tokio_postgres::Client>>>,
    /// One NATS connection for every check; it reconnects by itself after
    /// the server restarts.
    nats_client: tokio::sync::OnceCell<async_nats::Client>,
}

impl Cluster {
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Self> {
        // For the HTTP client that reads the components' `/readyz`.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start(dir).await?;
        let pg = Postgres::start(dir).await?;
        Ok(Self {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            nats_proxy: Proxy::start(nats.port).await?,
            pg_proxy: Proxy::start(pg.port).await?,
            nats,
            pg,
            admins: Default::default(),
            nats_client: Default::default(),
        })
    }

    /// An admin connection, straight to the server (not through the proxy).
    pub async fn admin(&self, database: &str) -> anyhow::Result<Arc<tokio_postgres::Client>> {
        let mut admins = self.admins.lock().await;
        if let Some(client) = admins.get(database)
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        let url = self.pg.url(database);
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        tokio::spawn(conn);
        let client = Arc::new(client);
        admins.insert(database.to_string(), Arc::clone(&client));
        Ok(client)
    }

    /// The NATS connection, straight to the server.
    pub async fn nats_client(&self) -> anyhow::Result<async_nats::Client> {
        let url = self.nats.url();
        self.nats_client
            .get_or_try_init(|| async {
                async_nats::connect(&url)
                    .await
                    .with_context(|| format!("connecting to {url}"))
            })
            .await
            .cloned()
    }

    /// A fresh stream, subject prefix and database for scenario `name`
    /// (`[a-z0-9_]`), its descriptor files written from `entities`
    /// synthetic entities.
    pub async fn scenario(&self, name: &str, entities: usize, seed: u64) -> anyhow::Result<Run> {
        let db = format!("faults_{name}");
        let admin = self.admin("postgres").await?;
        recreate_database(&admin, &db).await?;
        let dir = self.dir.join(name);
        let catalog = dir.join("catalog");
        let logs = dir.join("logs");
        std::fs::create_dir_all(&catalog)?;
        std::fs::create_dir_all(&logs)?;
        let docs = if entities == 0 {
            Vec::new()
        } else {
            catalog_bench::synthetic::documents(entities, seed)
        };
        for (f, chunk) in docs.chunks(100).enumerate() {
            std::fs::write(
                catalog.join(format!("catalog-{f:05}.yaml")),
                chunk.join("---\n"),
            )?;
        }
        let stream = format!("FAULTS_{}", name.to_uppercase());
        let prefix = format!("faults_{name}");
        let deployment = Deployment::for_servers(
            &self.binary,
            Servers {
                nats_url: format!("nats://127.0.0.1:{}", self.nats_proxy.port),
                stream: stream.clone(),
                subject_prefix: prefix.clone(),
                pg_url: format!("postgres://postgres@127.0.0.1:{}/{db}", self.pg_proxy.port),
            },
            &logs,
        )?;
        deployment.run("migrate").await?;
        Ok(Run {
            entities: docs.len(),
            db,
            stream,
            prefix,
            catalog,
            deployment,
            logs,
        })
    }
}

/// Drops `db` if it exists and creates it empty.
async fn recreate_database(admin: &tokio_postgres::Client, db: &str) -> anyhow::Result<()> {
    for statement in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db}"),
    ] {
        admin
            .batch_execute(&statement)
            .await
            .map_err(|e| anyhow::anyhow!("{statement}: {}", catalog_projector::db::describe(&e)))?;
    }
    Ok(())
}

/// One scenario's deployment.
pub struct Run {
    /// Entities its descriptor files hold.
    pub entities: usize,
    pub db: String,
    pub stream: String,
    pub prefix: String,
    pub catalog: PathBuf,
    pub deployment: Deployment,
    pub logs: PathBuf,
}

/// A component started with a metrics endpoint (for `/readyz`).
pub struct Started {
    pub component: Component,
    pub metrics_port: u16,
}

/// What the stream holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamState {
    pub last_sequence: u64,
    pub messages: u64,
}

impl Run {
    /// Starts `catalog <command>`; the ingestor reads this run's files.
    pub fn start(&self, command: &str) -> anyhow::Result<Started> {
        let metrics_port = free_port()?;
        let mut extra = vec![(
            "CATALOG_METRICS__LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )];
        if command == "ingest" {
            extra.push((
                "CATALOG_INGEST__LOCATIONS",
                format!("[{}]", self.catalog.display()),
            ));
            extra.push(("CATALOG_INGEST__POLL_INTERVAL_MS", "500".into()));
        }
        let extra: Vec<(&str, String)> = extra.into_iter().collect();
        Ok(Started {
            component: self.deployment.start(command, &extra)?,
            metrics_port,
        })
    }

    pub async fn stream_state(&self, cluster: &Cluster) -> anyhow::Result<StreamState> {
        let js = async_nats::jetstream::new(cluster.nats_client().await?);
        let mut stream = js
            .get_stream(&self.stream)
            .await
            .with_context(|| format!("reading stream {}", self.stream))?;
        let state = stream.info().await?.state.clone();
        Ok(StreamState {
            last_sequence: state.last_sequence,
            messages: state.messages,
        })
    }

    /// Messages per entity subject (location subjects left out).
    pub async fn entity_subjects(&self, cluster: &Cluster) -> anyhow::Result<HashMap<String, u64>> {
        let js = async_nats::jetstream::new(cluster.nats_client().await?);
        let stream = js.get_stream(&self.stream).await?;
        let subjects: HashMap<String, usize> = stream
            .info_with_subjects(format!("{}.>", self.prefix))
            .await?
            .try_collect()
            .await?;
        Ok(subjects
            .into_iter()
            .filter(|(s, _)| !is_location_subject(&self.prefix, s))
            .map(|(s, n)| (s, n as u64))
            .collect())
    }

    /// The sequence every projector partition of `consumer` has applied.
    pub async fn checkpoint(
        &self,
        cluster: &Cluster,
        db: &str,
        consumer: &str,
    ) -> anyhow::Result<u64> {
        let pg = cluster.admin(db).await?;
        let row = pg
            .query_one(
                "SELECT count(*), coalesce(min(stream_sequence), 0) FROM projector_checkpoints \
                 WHERE consumer = $1 OR consumer LIKE $1 || '-p%'",
                &[&consumer],
            )
            .await
            .context("reading checkpoints")?;
        let (n, min): (i64, i64) = (row.get(0), row.get(1));
        Ok(if n > 0 { min as u64 } else { 0 })
    }

    /// Waits until the read model holds every entity and has applied the
    /// whole stream, failing after `timeout` or when a component exits.
    pub async fn wait_complete(
        &self,
        cluster: &Cluster,
        components: &mut [&mut Started],
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            for c in components.iter_mut() {
                c.component.check_alive()?;
            }
            if let Ok(true) = self.complete(cluster).await {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!(
                    "the read model was not complete after {timeout:?} ({})",
                    self.progress(cluster).await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn complete(&self, cluster: &Cluster) -> anyhow::Result<bool> {
        let state = self.stream_state(cluster).await?;
        if self.checkpoint(cluster, &self.db, "projector").await? < state.last_sequence {
            return Ok(false);
        }
        Ok(self.entity_count(cluster).await? == self.entities as i64)
    }

    pub async fn entity_count(&self, cluster: &Cluster) -> anyhow::Result<i64> {
        let pg = cluster.admin(&self.db).await?;
        Ok(pg
            .query_one("SELECT count(*) FROM entities", &[])
            .await?
            .get(0))
    }

    /// Where things stand, for a failure's message.
    pub async fn progress(&self, cluster: &Cluster) -> String {
        let state = self.stream_state(cluster).await.unwrap_or_default();
        let checkpoint = self
            .checkpoint(cluster, &self.db, "projector")
            .await
            .unwrap_or(0);
        let entities = self.entity_count(cluster).await.unwrap_or(-1);
        format!(
            "stream last sequence {}, {} messages; checkpoint {checkpoint}; {entities} of {} entities",
            state.last_sequence, state.messages, self.entities
        )
    }

    /// Replays the whole stream into a database of its own with a
    /// projector that is never disturbed, and compares the two read models
    /// table by table, row by row (checkpoints left out: their keys are
    /// the consumers' names). Also checks that every entity event was
    /// applied exactly once. Returns a line describing what was compared.
    pub async fn compare_with_replay(&self, cluster: &Cluster) -> anyhow::Result<String> {
        let replay_db = format!("{}_replay", self.db);
        let admin = cluster.admin("postgres").await?;
        recreate_database(&admin, &replay_db).await?;
        let last = self.stream_state(cluster).await?.last_sequence;
        let replay_url = format!(
            "postgres://postgres@127.0.0.1:{}/{replay_db}",
            cluster.pg.port
        );
        let replay = self.deployment.start(
            "projector",
            &[
                ("CATALOG_POSTGRES__URL", replay_url),
                ("CATALOG_PROJECTOR__CONSUMER", "replay".into()),
                ("CATALOG_PROJECTOR__DEAD_LETTER_SUBJECT", "false".into()),
            ],
        )?;
        let mut replay = Started {
            component: replay,
            metrics_port: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            replay.component.check_alive()?;
            if self
                .checkpoint(cluster, &replay_db, "replay")
                .await
                .unwrap_or(0)
                >= last
            {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the replay did not finish");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        replay.component.stop().await?;
        let ours = cluster.admin(&self.db).await?;
        let theirs = cluster.admin(&replay_db).await?;
        let mut a = catalog_projector::rebuild::checksums(&*ours, "public").await?;
        let mut b = catalog_projector::rebuild::checksums(&*theirs, "public").await?;
        a.remove("projector_checkpoints");
        b.remove("projector_checkpoints");
        let differing: Vec<&String> = a
            .keys()
            .chain(b.keys())
            .filter(|t| a.get(*t) != b.get(*t))
            .collect();
        if !differing.is_empty() {
            bail!(
                "the read model differs from a clean replay in {}",
                differing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // Every entity event once: as many history rows as the stream holds
        // entity events, each sequence once.
        let events: u64 = self.entity_subjects(cluster).await?.values().sum();
        let row = ours
            .query_one(
                "SELECT count(*), count(DISTINCT sequence) FROM entity_history",
                &[],
            )
            .await?;
        let (rows, distinct): (i64, i64) = (row.get(0), row.get(1));
        anyhow::ensure!(
            rows == distinct && rows as u64 == events,
            "{events} entity events in the stream but {rows} history rows ({distinct} distinct)"
        );
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {replay_db} WITH (FORCE)"))
            .await?;
        Ok(format!(
            "{} tables equal to a clean replay; {events} events applied once each",
            a.len()
        ))
    }

    /// Whether `/readyz` of `c` answers 200 within a second.
    pub async fn ready(&self, c: &Started) -> bool {
        let url = format!("http://127.0.0.1:{}/readyz", c.metrics_port);
        let client = reqwest::Client::new();
        matches!(
            client.get(url).timeout(Duration::from_secs(2)).send().await,
            Ok(r) if r.status().is_success()
        )
    }

    /// Waits up to `timeout` for `c` to report `ready` (or not ready).
    pub async fn wait_ready(&self, c: &Started, ready: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.ready(c).await == ready {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}
