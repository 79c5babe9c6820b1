//! `catalog`: the one binary. Each subcommand runs one component; `all` runs
//! every component in one process for local use.

mod apply;
mod config;
mod metrics;

use std::path::PathBuf;

use anyhow::Context;
use catalog_api::ApiServer;
use catalog_eventlog::EventLog;
use catalog_ingest::crawl::crawl_once;
use catalog_ingest::{Ingestor, LocationConfig};
use catalog_model::kinds::KindPolicy;
use catalog_projector::{Projector, db, schema};
use catalog_ui_bridge::UiBridge;
use clap::{Parser, Subcommand};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

#[derive(Parser)]
#[command(name = "catalog", version, about = "Event-sourced software catalog")]
struct Cli {
    /// Configuration file (YAML). Every key can also be set with an
    /// environment variable CATALOG_<SECTION>__<KEY>.
    #[arg(long, short, global = true, env = "CATALOG_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate a configuration file (with the CATALOG_*
    /// environment and `${VAR}` substitution) without starting anything:
    /// every key, the plugins' manifests and the proxy endpoints. Exits
    /// non-zero, naming the key, when something is wrong.
    Check {
        /// The file to check (default: --config).
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Read descriptor locations and publish entity events.
    Ingest,
    /// Apply entity events to the PostgreSQL read models.
    Projector,
    /// Serve the gRPC catalog API.
    Api,
    /// Serve the web UI and the REST API.
    UiBridge,
    /// Run every component in one process.
    All,
    /// Replay the whole event stream into a fresh read model, verify it, and
    /// switch it in atomically; the API serves the old model until then.
    Rebuild {
        /// Keep the previous tables in a schema `previous_<time>`.
        #[arg(long)]
        keep_previous: bool,
    },
    /// Push descriptors from files or directories through the API's
    /// IngestService, and print what changed.
    Apply {
        /// Files, directories or globs to push.
        #[arg(short = 'f', long = "file", required = true)]
        paths: Vec<String>,
        /// Name of the pushing source; it owns the entities it pushes.
        #[arg(long, env = "CATALOG_APPLY_SOURCE", default_value = "catalog-cli")]
        source: String,
        /// URL of the catalog's gRPC API.
        #[arg(
            long,
            env = "CATALOG_API_URL",
            default_value = "http://127.0.0.1:50051"
        )]
        api: String,
        /// Bearer token for the API (a token with catalog.write, or a JWT),
        /// when it authenticates calls.
        #[arg(long, env = "CATALOG_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Report what would change without publishing.
        #[arg(long)]
        dry_run: bool,
        /// Kinds to accept besides Backstage's built-in ones.
        #[arg(long = "extra-kind")]
        extra_kinds: Vec<String>,
    },
    /// Run the read-model schema migrations and exit (a deployment's
    /// pre-install/pre-upgrade step; the projector also migrates at start).
    Migrate,
    /// Create or update the JetStream streams the components use (the event
    /// stream, its dead-letter stream, the ingest lease bucket) and exit.
    /// Run it as a NATS user allowed to manage streams when the components
    /// run with `nats.manage_streams: false` (see docs/nats-security.md).
    InitStreams,
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check descriptors offline and print every problem found (file,
    /// document, field); exits non-zero when there is any.
    Validate {
        /// Files, directories, globs (quoted) or `url:` locations to check.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Kinds to accept besides Backstage's built-in ones.
        #[arg(long = "extra-kind")]
        extra_kinds: Vec<String>,
    },
}

impl Command {
    /// The component name in `service.name` (`catalog-<component>`).
    fn component(&self) -> &'static str {
        match self {
            Command::Ingest => "ingest",
            Command::Projector => "projector",
            Command::Api => "api",
            Command::UiBridge => "ui-bridge",
            Command::All => "all",
            Command::Rebuild { .. } => "rebuild",
            Command::Migrate => "migrate",
            Command::InitStreams => "init-streams",
            Command::Apply { .. } | Command::Validate { .. } | Command::Config(_) => "cli",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr; the one-shot commands print their own report, so
    // they log only errors unless RUST_LOG says otherwise.
    if matches!(
        cli.command,
        Command::Validate { .. } | Command::Apply { .. } | Command::Config(_)
    ) {
        catalog_telemetry::init_logs(
            "error",
            catalog_telemetry::LogFormat::from_env()?.unwrap_or_default(),
        )?;
    }
    if let Command::Validate {
        paths,
        format,
        extra_kinds,
    } = &cli.command
    {
        return validate(paths, *format, extra_kinds.clone()).await;
    }
    if let Command::Apply {
        paths,
        source,
        api,
        token,
        dry_run,
        extra_kinds,
    } = &cli.command
    {
        let ok = apply::apply(apply::ApplyArgs {
            paths: paths.clone(),
            source: source.clone(),
            api: api.clone(),
            token: token.clone(),
            dry_run: *dry_run,
            extra_kinds: extra_kinds.clone(),
        })
        .await?;
        if !ok {
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Command::Config(ConfigCommand::Check { file }) = &cli.command {
        let path = file.as_deref().or(cli.config.as_deref());
        return check_config(path).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    let telemetry = catalog_telemetry::init(&config.telemetry, cli.command.component(), "info")?;
    let result = run(cli.command, config).await;
    telemetry.shutdown();
    result
}

/// Runs a long-lived component (or `migrate`, `init-streams`, `rebuild`).
async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::Migrate = command {
        schema::migrate(&pool(&config)?).await?;
        println!("read-model schema is up to date");
        return Ok(());
    }
    if let Command::InitStreams = command {
        return init_streams(&config).await;
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    if let Command::Rebuild { keep_previous } = command {
        return rebuild(&config, keep_previous, shutdown).await;
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let projector_metrics = catalog_projector::ProjectorMetrics::register(&mut registry);
    let ingest_metrics = catalog_ingest::metrics::IngestMetrics::register(&mut registry);
    let api_metrics = catalog_api::ApiMetrics::register(&mut registry);
    let bridge_metrics = catalog_ui_bridge::metrics::BridgeMetrics::register(&mut registry);
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    // What `/readyz` checks: the servers the command's components use.
    let mut readiness = metrics::Readiness::default();
    match command {
        Command::Ingest => {
            let log = event_log(&config, "catalog-ingest").await?;
            readiness.nats = Some(log.client().clone());
            spawn_ingest(&mut tasks, &config, log, ingest_metrics, &shutdown);
        }
        Command::Projector => {
            let log = event_log(&config, "catalog-projector").await?;
            readiness.nats = Some(log.client().clone());
            readiness.postgres = Some(readiness_pool(&config)?);
            spawn_projector(&mut tasks, &config, log, projector_metrics, &shutdown)?;
        }
        Command::Api => {
            let log = event_log(&config, "catalog-api").await?;
            readiness.nats = Some(log.client().clone());
            readiness.postgres = Some(readiness_pool(&config)?);
            spawn_api(&mut tasks, &config, log, api_metrics, &shutdown).await?;
        }
        Command::UiBridge => {
            spawn_bridge(&mut tasks, &config, bridge_metrics, &shutdown).await?;
        }
        Command::All => {
            let log = event_log(&config, "catalog").await?;
            readiness.nats = Some(log.client().clone());
            readiness.postgres = Some(readiness_pool(&config)?);
            // The read model must exist before the API answers.
            schema::migrate(&pool(&config)?).await?;
            spawn_projector(
                &mut tasks,
                &config,
                log.clone(),
                projector_metrics,
                &shutdown,
            )?;
            spawn_ingest(&mut tasks, &config, log.clone(), ingest_metrics, &shutdown);
            let api = spawn_api(&mut tasks, &config, log, api_metrics, &shutdown).await?;
            let ui = spawn_bridge(&mut tasks, &config, bridge_metrics, &shutdown).await?;
            println!(
                "\nCatalog is up.\n  Web UI and REST API: http://{ui}/\n  gRPC API:            {api}\nPress Ctrl-C to stop.\n"
            );
        }
        Command::Validate { .. }
        | Command::Apply { .. }
        | Command::Rebuild { .. }
        | Command::Migrate
        | Command::InitStreams
        | Command::Config(_) => {
            unreachable!("handled above")
        }
    }
    if let Some(addr) = config.metrics.listen {
        let handle = metrics::serve(addr, registry, readiness, shutdown.clone()).await?;
        tasks.spawn(async move { handle.await.context("metrics endpoint task")? });
    }
    // The first component to stop (or fail) stops the others.
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("component task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = %format!("{e:#}"), "component failed; shutting down");
            if result.is_ok() {
                result = Err(e);
            }
        }
        shutdown.cancel();
    }
    result
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// `catalog config check`: everything start-up would check, nothing started.
async fn check_config(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    // The bridge's plugins and proxy endpoints are checked by building them.
    UiBridge::new(config.ui_bridge.clone())
        .map_err(|e| anyhow::anyhow!("invalid configuration: ui_bridge: {e}"))?;
    let pool = db::connect_pool(&config.postgres.url, 1)
        .map_err(|e| anyhow::anyhow!("invalid configuration: postgres.url: {e}"))?;
    // Tokens, their files, group refs and the JWT settings (a JWKS file is
    // read; a JWKS URL is fetched, and only warned about when unreachable).
    catalog_api::auth::Authorizer::new(&config.api.auth, pool)
        .await
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let source = path.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
    println!(
        "configuration OK ({source} and CATALOG_* environment): NATS {} stream {} ({} replica(s)), \
         PostgreSQL {}, API on {}, web UI on {}, {} proxy endpoint(s), metrics on {}",
        config.nats.url,
        config.nats.stream,
        config.nats.replicas,
        db::redact(&config.postgres.url),
        config.api.listen,
        config.ui_bridge.listen,
        config.ui_bridge.proxy.endpoints.len(),
        config
            .metrics
            .listen
            .map_or_else(|| "(off)".to_string(), |a| a.to_string()),
    );
    Ok(())
}

async fn event_log(config: &Config, name: &str) -> anyhow::Result<EventLog> {
    Ok(EventLog::connect(config.nats.clone(), name).await?)
}

/// `catalog init-streams`: the streams every component binds to, created
/// or brought to the expected configuration whatever `nats.manage_streams`
/// says.
async fn init_streams(config: &Config) -> anyhow::Result<()> {
    let nats = catalog_eventlog::EventLogConfig {
        manage_streams: true,
        ..config.nats.clone()
    };
    let log = EventLog::connect(nats, "catalog-init-streams").await?;
    let mut streams = vec![log.config().stream.clone()];
    if config.projector.dead_letter_subject {
        catalog_eventlog::ensure_dead_letter_stream(&log).await?;
        streams.push(catalog_eventlog::deadletter::dead_letter_stream(&log));
    }
    if config.ingest.leases {
        catalog_ingest::lease::ensure_bucket(&log, config.ingest.lease_ttl()).await?;
        streams.push(format!(
            "KV_{}",
            catalog_ingest::lease::bucket_name(&log.config().stream)
        ));
    }
    println!("JetStream streams are up to date: {}", streams.join(", "));
    Ok(())
}

fn pool(config: &Config) -> anyhow::Result<deadpool_postgres::Pool> {
    Ok(db::connect_pool(
        &config.postgres.url,
        config.postgres.max_connections,
    )?)
}

/// A connection of its own for `/readyz`, so that a busy component's pool
/// does not make it look unready.
fn readiness_pool(config: &Config) -> anyhow::Result<deadpool_postgres::Pool> {
    Ok(db::connect_pool(&config.postgres.url, 1)?)
}

fn spawn_ingest(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    config: &Config,
    log: EventLog,
    metrics: catalog_ingest::metrics::IngestMetrics,
    shutdown: &CancellationToken,
) {
    let (cfg, shutdown) = (config.ingest.clone(), shutdown.clone());
    tasks.spawn(async move {
        let ingestor = Ingestor::new(cfg, log)
            .await
            .context("starting ingest")?
            .with_metrics(metrics);
        ingestor.run(shutdown).await.context("ingest")
    });
}

fn spawn_projector(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    config: &Config,
    log: EventLog,
    metrics: catalog_projector::ProjectorMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let projector =
        Projector::new(config.projector.clone(), log, pool(config)?).with_metrics(metrics);
    let shutdown = shutdown.clone();
    tasks.spawn(async move { projector.run(shutdown).await.context("projector") });
    Ok(())
}

async fn spawn_api(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    config: &Config,
    log: EventLog,
    metrics: catalog_api::ApiMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<std::net::SocketAddr> {
    let server = ApiServer::new(
        config.api.clone(),
        db::connect_read_pool(
            &config.postgres.url,
            config.postgres.max_connections,
            config.api.statement_timeout(),
        )?,
        log,
    )
    .with_metrics(metrics);
    let listener = server.bind().await?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown.clone();
    tasks.spawn(async move { server.run(listener, shutdown).await.context("gRPC API") });
    Ok(addr)
}

async fn spawn_bridge(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    config: &Config,
    metrics: catalog_ui_bridge::metrics::BridgeMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<std::net::SocketAddr> {
    let bridge = UiBridge::new(config.ui_bridge.clone())?.with_metrics(metrics);
    let listener = bridge.bind().await?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown.clone();
    tasks.spawn(async move { bridge.run(listener, shutdown).await.context("UI bridge") });
    Ok(addr)
}

/// `catalog rebuild`: replays the log into a fresh read model and switches it in.
async fn rebuild(
    config: &Config,
    keep_previous: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use catalog_projector::rebuild::{Progress, RebuildOptions};
    let log = event_log(config, "catalog-rebuild").await?;
    let live = pool(config)?;
    let bar = indicatif::ProgressBar::new(100);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rebuilding {bar:30} {pos:>3}% {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let on_progress = move |p: &Progress| {
        progress_bar.set_position(p.percent() as u64);
        let mut msg = format!(
            "{}/{} events, {:.0} events/s, {:.1}s",
            p.applied.min(p.target),
            p.target,
            p.rate,
            p.elapsed.as_secs_f64()
        );
        if p.indexing {
            msg.push_str("; building indexes");
        }
        if progress_bar.is_hidden() {
            eprintln!("rebuilding {:>5.1}% {msg}", p.percent());
        }
        progress_bar.set_message(msg);
    };
    let report = catalog_projector::rebuild::rebuild(
        &config.projector,
        &log,
        &live,
        &config.postgres.url,
        RebuildOptions {
            keep_previous,
            on_progress: Box::new(on_progress),
        },
        shutdown,
    )
    .await
    .context("rebuilding the read model")?;
    bar.finish_and_clear();
    println!(
        "Rebuilt and switched in: {} entities, {} relation rows, {} history rows, up to stream sequence {}, in {:.1}s.",
        report.entities,
        report.relations,
        report.history,
        report.checkpoint,
        report.elapsed.as_secs_f64()
    );
    if let Some(previous) = report.previous {
        println!("The previous tables are kept in schema {previous}.");
    }
    Ok(())
}

/// `catalog validate`: read every descriptor offline and print each problem.
async fn validate(
    paths: &[String],
    format: OutputFormat,
    extra_kinds: Vec<String>,
) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let policy = KindPolicy { extra_kinds };
    let mut problems = Vec::new();
    let mut entities = 0;
    for path in paths {
        let spec = LocationConfig::Key(path.clone())
            .to_spec(&cwd)
            .with_context(|| format!("location {path:?}"))?;
        let outcome = crawl_once(&spec, &policy).await?;
        entities += outcome.found_count();
        problems.extend(outcome.problems);
    }
    match format {
        OutputFormat::Text => {
            for p in &problems {
                println!("{p}");
            }
            println!("{entities} valid entities, {} problems", problems.len());
        }
        OutputFormat::Json => {
            let out = serde_json::json!({"entities": entities, "problems": problems});
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    if !problems.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
