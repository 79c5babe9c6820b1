//! The whole pipeline in one process, for end-to-end tests and benchmarks:
//! event log on a real NATS server, read model in a real PostgreSQL
//! database, the gRPC API and the UI bridge on ephemeral ports.
//!
//! Each [`Pipeline`] uses its own stream, subject prefix and database (from
//! [`TestEnv`]), so pipelines run side by side and clean up after themselves.

pub mod events;

use std::net::SocketAddr;
use std::path::PathBuf;

use catalog_api::{ApiConfig, ApiServer};
use catalog_eventlog::{EventLog, EventLogConfig};
use catalog_ingest::{IngestConfig, Ingestor, LocationConfig};
use catalog_projector::{Projector, ProjectorConfig, db, schema};
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_test_support::TestEnv;
use catalog_ui_bridge::{UiBridge, UiBridgeConfig};
use deadpool_postgres::Pool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use catalog_test_support::wait_for;

/// Sends `tracing` output to the test's captured output (`RUST_LOG`
/// selects it; default `warn`). Safe to call from every test.
pub fn init_tracing() {
    // HTTP clients in tests (reqwest) need the process-wide TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The event log configuration of a test environment.
pub fn log_config(env: &TestEnv) -> EventLogConfig {
    EventLogConfig {
        url: env.nats_url.clone(),
        stream: env.stream.clone(),
        subject_prefix: env.subject_prefix.clone(),
        ..EventLogConfig::default()
    }
}

/// Connects to the environment's event log (creating its stream).
pub async fn connect_log(env: &TestEnv) -> EventLog {
    init_tracing();
    EventLog::connect(log_config(env), "catalog-test")
        .await
        .unwrap_or_else(|e| panic!("connecting to the event log: {e}"))
}

/// How many entity events the log holds (location events not counted).
pub async fn entity_event_count(log: &EventLog) -> u64 {
    use async_nats::jetstream::consumer::pull;
    let stream = log.stream().await.unwrap_or_else(|e| panic!("{e}"));
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: catalog_model::subject::entity_wildcard(log.prefix()),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("counting entity events: {e}"));
    consumer
        .info()
        .await
        .unwrap_or_else(|e| panic!("counting entity events: {e}"))
        .num_pending
}

/// A pool on the environment's database, with the read-model schema in place.
pub async fn migrated_pool(env: &TestEnv) -> Pool {
    let pool = db::connect_pool(&env.pg_url, 8).unwrap_or_else(|e| panic!("{e}"));
    schema::migrate(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pool
}

/// A running projector that can be killed (its task aborted) and restarted.
pub struct RunningProjector {
    pub handle: JoinHandle<()>,
    pub shutdown: CancellationToken,
}

/// Starts a projector task.
pub fn start_projector(log: &EventLog, pool: &Pool, config: ProjectorConfig) -> RunningProjector {
    let shutdown = CancellationToken::new();
    let projector = Projector::new(config, log.clone(), pool.clone());
    let token = shutdown.clone();
    let handle = tokio::spawn(async move {
        if let Err(e) = projector.run(token).await {
            panic!("projector failed: {e}");
        }
    });
    RunningProjector { handle, shutdown }
}

/// Projector settings for tests: small batches, short waits.
pub fn test_projector_config() -> ProjectorConfig {
    ProjectorConfig {
        consumer: "projector".into(),
        batch_size: 100,
        batch_wait_ms: 20,
        ..ProjectorConfig::default()
    }
}

/// Projector, API and bridge running; ingestion is driven by the caller.
pub struct Pipeline {
    pub log: EventLog,
    pub pool: Pool,
    pub api_addr: SocketAddr,
    pub bridge_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// Last, so that it is dropped (database and stream removed) after the
    /// pool's connections are closed.
    pub env: TestEnv,
}

impl Pipeline {
    /// Starts projector, gRPC API and UI bridge on a fresh environment.
    pub async fn start() -> Self {
        Self::start_with(test_projector_config()).await
    }

    /// Like [`Pipeline::start`], with the given projector settings.
    pub async fn start_with(projector: ProjectorConfig) -> Self {
        Self::start_custom(projector, |_| {}).await
    }

    /// Like [`Pipeline::start`], with the bridge's settings adjusted by
    /// `bridge` (the tests' default has no plugins and no proxy endpoints).
    pub async fn start_custom(
        projector: ProjectorConfig,
        bridge: impl FnOnce(&mut UiBridgeConfig),
    ) -> Self {
        Self::start_full(projector, |_| {}, bridge).await
    }

    /// Like [`Pipeline::start_custom`], with the API's settings adjusted by
    /// `api` too.
    pub async fn start_full(
        projector: ProjectorConfig,
        api: impl FnOnce(&mut ApiConfig),
        bridge: impl FnOnce(&mut UiBridgeConfig),
    ) -> Self {
        let env = TestEnv::new().await;
        let log = connect_log(&env).await;
        let pool = migrated_pool(&env).await;
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();

        let projector = start_projector(&log, &pool, projector);
        let token = projector.shutdown.clone();
        let parent = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            parent.cancelled().await;
            token.cancel();
        }));
        tasks.push(projector.handle);

        let mut api_config = ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            page_token_secret: "test-secret".into(),
            extra_kinds: Vec::new(),
            // The tests register temporary directories.
            allow_file_locations: true,
            ..ApiConfig::default()
        };
        api(&mut api_config);
        let api = ApiServer::new(api_config, pool.clone(), log.clone());
        let listener = api.bind().await.unwrap_or_else(|e| panic!("{e}"));
        let api_addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = api.run(listener, token).await {
                panic!("API failed: {e}");
            }
        }));

        let mut bridge_config = UiBridgeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_url: format!("http://{api_addr}"),
            plugins: Some(Vec::new()),
            ..UiBridgeConfig::default()
        };
        bridge(&mut bridge_config);
        let bridge = UiBridge::new(bridge_config).unwrap_or_else(|e| panic!("{e}"));
        let listener = bridge.bind().await.unwrap_or_else(|e| panic!("{e}"));
        let bridge_addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = bridge.run(listener, token).await {
                panic!("UI bridge failed: {e}");
            }
        }));

        Self {
            env,
            log,
            pool,
            api_addr,
            bridge_addr,
            shutdown,
            tasks,
        }
    }

    /// An ingestor over `locations`, publishing to this pipeline's log.
    pub async fn ingestor(&self, locations: Vec<PathBuf>) -> Ingestor {
        self.ingestor_with(locations, |_| {}).await
    }

    /// Like [`Pipeline::ingestor`], with the configuration adjusted by `edit`.
    pub async fn ingestor_with(
        &self,
        locations: Vec<PathBuf>,
        edit: impl FnOnce(&mut IngestConfig),
    ) -> Ingestor {
        let mut config = IngestConfig {
            locations: locations
                .iter()
                .map(|p| LocationConfig::Key(p.to_string_lossy().into_owned()))
                .collect(),
            poll_interval_ms: 50,
            ..IngestConfig::default()
        };
        edit(&mut config);
        Ingestor::new(config, self.log.clone())
            .await
            .unwrap_or_else(|e| panic!("starting ingestor: {e}"))
    }

    /// A gRPC client for the API.
    pub async fn grpc(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::connect(format!("http://{}", self.api_addr))
            .await
            .unwrap_or_else(|e| panic!("connecting to the API: {e}"))
    }

    /// Waits until the API reports exactly `n` entities.
    pub async fn wait_for_total(&self, n: u64) {
        let grpc = self.grpc().await;
        wait_for(
            &format!("{n} entities"),
            std::time::Duration::from_secs(30),
            || {
                let mut g = grpc.clone();
                async move {
                    let r = g
                        .list_entities(catalog_proto::v1::ListEntitiesRequest::default())
                        .await
                        .ok()?
                        .into_inner();
                    (r.total_size == n).then_some(())
                }
            },
        )
        .await;
    }

    /// The bridge's base URL.
    pub fn rest_base(&self) -> String {
        format!("http://{}", self.bridge_addr)
    }

    /// Stops every component and waits for them.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}
