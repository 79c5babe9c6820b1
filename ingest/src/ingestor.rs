//! The ingest loop: crawl root locations, diff against the log, publish.
//!
//! Rules (Backstage's, unless noted):
//! - An entity belongs to the root location that first published it (its
//!   *location key*, the `managed-by-origin-location` annotation). Another
//!   location producing the same ref is refused with a conflict reported on
//!   that location; the stored entity is untouched.
//! - An entity its location no longer produces is deleted, or with
//!   `orphan_strategy: keep` marked `backstage.io/orphan: "true"`.
//! - Nothing is deleted or marked because a source could not be read or
//!   parsed, or one of its documents is invalid: its entities are retained.
//! - Entities of a file or URL location that is no longer configured are deleted.
//! - Nothing is published for an unchanged entity.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_eventlog::location::{refresh_wildcard, registration_wildcard};
use catalog_eventlog::{EventLog, EventLogError, LocationEvent, PublishOutcome, Publisher};
use catalog_model::{Entity, EntityChange, EntityEvent, EntityRef, EventSource};
use catalog_proto::v1 as pb;
use catalog_proto::v1::location_event::Change;
use futures::StreamExt;
use rand::Rng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{IngestConfig, OrphanStrategy};
use crate::crawl::{CrawlCache, Crawler, Found, ORPHAN, Problem, RootOutcome};
use crate::lease::Leases;
use crate::location::{LocationSpec, LocationType};
use crate::read::{ReadError, UrlReader};
use crate::registry::{Registrations, registered_locations, status_changed, status_due, status_of};
use crate::state::{LiveEntity, PublishedState, last_entity};

/// Events built and published together by [`Ingestor::execute`]: enough to
/// keep the publisher's window of in-flight acks full.
const EXECUTE_CHUNK: usize = 1024;

/// While the ingestor hears registrations and refresh requests as they are
/// published, it re-reads them from the log only in the two passes after
/// hearing one (the pass it wakes, and one [`FOLLOW_UP`] later, in case the
/// stream stored it only after the first read), or after this long
/// regardless (a core NATS subscription may miss a
/// message, say across a reconnect). Reading them costs a consumer over
/// every location subject, 60 ms at 100,000 entity subjects.
const REGISTRATIONS_RECHECK: Duration = Duration::from_secs(30);

/// How soon a pass woken by a location event is followed by another.
const FOLLOW_UP: Duration = Duration::from_millis(250);

/// How long after a file-system notification the pass that reads it runs:
/// time for the writer to finish what it is writing.
const FILE_SETTLE: Duration = Duration::from_millis(20);

/// A change under a watched file location (never, without a watch).
async fn changed(files: Option<&crate::watch::FileWatch>) {
    match files {
        Some(files) => files.changed().await,
        None => std::future::pending().await,
    }
}

/// When registrations must be read from the log again, while they are
/// listened for.
#[derive(Debug, Clone, Copy)]
struct RegistrationWatch {
    /// Passes that still re-read whenever the log moved (a message was heard).
    heard_passes: u8,
    /// When they were last checked against the log.
    checked: Instant,
}

/// Failures that stop a sync or the start of an ingestor.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error("invalid location {location:?}: {message}")]
    Location { location: String, message: String },
    #[error("HTTP client: {0}")]
    Http(#[from] ReadError),
}

/// What one sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Entities published as created or changed.
    pub upserted: usize,
    /// Entities published as deleted.
    pub deleted: usize,
    /// Entities newly marked as orphans.
    pub orphaned: usize,
    /// Entities found unchanged (nothing published).
    pub unchanged: usize,
    /// Publishes refused because another producer had written the entity
    /// first; they were retried from fresh state.
    pub conflicts: usize,
    /// Every problem found, each naming its location and what was wrong.
    pub errors: Vec<String>,
    /// The same problems, structured.
    pub problems: Vec<Problem>,
}

struct Root {
    spec: LocationSpec,
    outcome: Option<RootOutcome>,
    next_refresh: Instant,
    /// From configuration (not registered on the log).
    is_static: bool,
    /// The last status published, and when.
    published_status: Option<(pb::LocationStatus, Instant)>,
    /// Whether this worker holds the location's lease (always, without leases).
    held: bool,
    /// The latest refresh request answered by a published status.
    refresh_answered: u64,
    /// A refresh request waiting for its read to be reported.
    refresh_pending: Option<u64>,
}

impl Root {
    fn new(spec: LocationSpec, is_static: bool) -> Self {
        Self {
            spec,
            outcome: None,
            next_refresh: Instant::now(),
            is_static,
            published_status: None,
            held: false,
            refresh_answered: 0,
            refresh_pending: None,
        }
    }
}

/// Reads locations and publishes entity events.
pub struct Ingestor {
    config: IngestConfig,
    log: EventLog,
    publisher: Publisher,
    state: PublishedState,
    urls: UrlReader,
    cache: CrawlCache,
    roots: Vec<Root>,
    policy: catalog_model::kinds::KindPolicy,
    /// The stream's last sequence when registrations were last read.
    registrations_read: Option<u64>,
    /// Set while [`Ingestor::run`] listens for registration and refresh
    /// events; without it, registrations are re-read whenever the log moved.
    registration_watch: Option<RegistrationWatch>,
    /// Every root key this ingestor has had.
    known: HashSet<String>,
    /// Location keys whose last registration event is an unregistration.
    unregistered: HashSet<String>,
    leases: Option<Leases>,
    /// Origins that look gone here but are leased by another live worker.
    leased_elsewhere: HashSet<String>,
    metrics: Option<crate::metrics::IngestMetrics>,
    /// What the last pass that had nothing to publish planned from, and its
    /// report: while the inputs stay the same, so does the (empty) plan.
    steady: Option<(PlanInputs, SyncReport)>,
}

/// Everything [`Ingestor::plan`] reads, cheap to compare. The crawl
/// outcomes are compared by the identity of their sources' outcomes: the
/// crawl cache hands out the same `Arc`s for unchanged sources, and holding
/// them here keeps their addresses from being reused by new ones.
struct PlanInputs {
    roots: Vec<RootInputs>,
    generation: u64,
    known: Vec<String>,
    unregistered: Vec<String>,
    leased_elsewhere: Vec<String>,
}

struct RootInputs {
    key: String,
    held: bool,
    outcome: Option<RootOutcome>,
}

impl PartialEq for RootInputs {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.held == other.held
            && match (&self.outcome, &other.outcome) {
                (None, None) => true,
                (Some(a), Some(b)) => a.same_as(b),
                _ => false,
            }
    }
}

impl PartialEq for PlanInputs {
    fn eq(&self, other: &Self) -> bool {
        self.generation == other.generation
            && self.roots == other.roots
            && self.known == other.known
            && self.unregistered == other.unregistered
            && self.leased_elsewhere == other.leased_elsewhere
    }
}

fn sorted(set: &HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort();
    v
}

enum Planned {
    Upsert(Arc<Found>),
    Delete { location: String },
    Orphan { location: String },
}

impl Ingestor {
    /// Prepares an ingestor: resolves its locations and reads what the log
    /// already holds.
    pub async fn new(config: IngestConfig, log: EventLog) -> Result<Self, IngestError> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let mut roots = Vec::new();
        for l in &config.locations {
            let spec = l.to_spec(&cwd).map_err(|e| IngestError::Location {
                location: format!("{l:?}"),
                message: e.to_string(),
            })?;
            roots.push(Root::new(spec, true));
        }
        // The lease bucket first: a worker that cannot use it stops before
        // publishing anything.
        let leases = if config.leases {
            Some(Leases::open(&log, config.lease_ttl()).await?)
        } else {
            None
        };
        let state = PublishedState::load(&log).await?;
        register_configured(&log, &config.producer, &roots).await?;
        Ok(Self {
            urls: UrlReader::new(&config.url)?,
            policy: catalog_model::kinds::KindPolicy {
                extra_kinds: config.extra_kinds.clone(),
            },
            publisher: Publisher::new(log.clone()),
            cache: CrawlCache::default(),
            config,
            log,
            state,
            roots,
            registrations_read: None,
            registration_watch: None,
            known: HashSet::new(),
            unregistered: HashSet::new(),
            leases,
            leased_elsewhere: HashSet::new(),
            metrics: None,
            steady: None,
        })
    }

    /// Records metrics (`catalog_ingest_*`) in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::IngestMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs until `shutdown` is cancelled, syncing every poll interval.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), IngestError> {
        let mut last_errors: Vec<String> = Vec::new();
        // Refresh requests wake the loop at once rather than at the next poll.
        let wake = self
            .listen(
                refresh_wildcard(self.log.prefix()),
                "cannot listen for refresh requests; they wait for the next poll",
            )
            .await;
        // New and removed locations wake the loop too, and until one is
        // heard the registrations need not be read again.
        let registrations = self
            .listen(
                registration_wildcard(self.log.prefix()),
                "cannot listen for registrations; they are read at every poll",
            )
            .await;
        if wake.is_some() && registrations.is_some() {
            let now = Instant::now();
            self.registration_watch = Some(RegistrationWatch {
                heard_passes: 0,
                checked: now,
            });
        }
        // Either kind of message: read the registrations again, soon.
        let mut heard = futures::stream::select_all(wake.into_iter().chain(registrations));
        // A pass woken by a registration or refresh is followed by another
        // soon, whatever the poll interval: one that read the log just
        // before the stream stored what was heard then sees it.
        let mut follow_up = false;
        // Changes to files wake the loop too (a short settle later).
        let mut files = self.config.watch_files.then(|| {
            crate::watch::FileWatch::new()
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot watch files; their changes wait for the next poll");
                })
                .ok()
        }).flatten();
        loop {
            let started = Instant::now();
            match self.sync_once().await {
                Ok(report) => {
                    if report.upserted + report.deleted + report.orphaned + report.conflicts > 0 {
                        tracing::info!(
                            upserted = report.upserted,
                            deleted = report.deleted,
                            orphaned = report.orphaned,
                            unchanged = report.unchanged,
                            conflicts = report.conflicts,
                            "published entity changes"
                        );
                    }
                    // Each problem is logged once, when it first appears
                    // (crawl problems are logged by the crawler as they are found).
                    for e in report.errors.iter().filter(|e| !last_errors.contains(*e)) {
                        if !report
                            .problems
                            .iter()
                            .any(|p| p.to_string() == **e && p.document.is_some())
                        {
                            tracing::warn!(problem = %e, "ingest problem");
                        }
                    }
                    last_errors = report.errors;
                }
                Err(e) => tracing::error!(error = %e, "sync failed; retrying"),
            }
            let pass = started.elapsed();
            if let Some(files) = &mut files {
                files.follow(self.roots.iter().filter(|r| r.held).map(|r| &r.spec));
            }
            let next = tokio::time::sleep(if std::mem::take(&mut follow_up) {
                self.config.poll_interval().min(FOLLOW_UP)
            } else {
                self.config.poll_interval()
            });
            tokio::pin!(next);
            let mut file_changed = false;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        if let Some(leases) = &self.leases {
                            let keys: Vec<String> = self.roots.iter().map(|r| r.spec.key()).collect();
                            leases.release(&keys).await;
                        }
                        return Ok(());
                    }
                    () = &mut next => break,
                    Some(_) = heard.next() => {
                        self.heard_location_event();
                        follow_up = true;
                        break;
                    }
                    () = changed(files.as_ref()), if !file_changed => {
                        // Let the writer finish (an editor's writes come in
                        // bursts), and keep the pass no busier than half
                        // the time however often files change.
                        file_changed = true;
                        let wait = FILE_SETTLE.max(pass);
                        let soon = tokio::time::Instant::now() + wait;
                        if soon < next.deadline() {
                            next.as_mut().reset(soon);
                        }
                    }
                }
            }
        }
    }

    /// Crawls the locations that are due and publishes what changed.
    pub async fn sync_once(&mut self) -> Result<SyncReport, IngestError> {
        let started = Instant::now();
        let report = self.sync_pass().await;
        if let Some(m) = &self.metrics {
            m.sync(started.elapsed().as_secs_f64());
        }
        report
    }

    async fn sync_pass(&mut self) -> Result<SyncReport, IngestError> {
        self.reload_registrations().await?;
        self.crawl_due().await;
        self.confirm_leases().await;
        self.check_leases_of_gone_origins().await;
        // Nothing read, registered or published since a pass that had
        // nothing to publish: this one would plan nothing either. (At
        // 100,000 entities a plan costs a tenth of a second.)
        let inputs = self.plan_inputs();
        if let Some((last, report)) = &self.steady
            && *last == inputs
        {
            let report = report.clone();
            self.publish_statuses().await;
            return Ok(report);
        }
        let mut report = SyncReport::default();
        let plan = self.plan(&mut report);
        let nothing_to_publish = plan.is_empty();
        self.execute(plan, &mut report).await;
        // A lost race is retried once, from the state just re-read.
        if report.conflicts > 0 {
            let plan = self.plan(&mut SyncReport::default());
            let mut retry = SyncReport::default();
            self.execute(plan, &mut retry).await;
            report.upserted += retry.upserted;
            report.deleted += retry.deleted;
            report.orphaned += retry.orphaned;
            report.conflicts += retry.conflicts;
            report.errors.extend(retry.errors);
        }
        self.steady =
            (nothing_to_publish && report.conflicts == 0).then(|| (inputs, report.clone()));
        self.publish_statuses().await;
        Ok(report)
    }

    fn plan_inputs(&self) -> PlanInputs {
        PlanInputs {
            roots: self
                .roots
                .iter()
                .map(|r| RootInputs {
                    key: r.spec.key(),
                    held: r.held,
                    outcome: r.outcome.clone(),
                })
                .collect(),
            generation: self.state.generation(),
            known: sorted(&self.known),
            unregistered: sorted(&self.unregistered),
            leased_elsewhere: sorted(&self.leased_elsewhere),
        }
    }

    /// A core NATS subscription, or `None` (logged with `failure`).
    async fn listen(&self, subject: String, failure: &str) -> Option<async_nats::Subscriber> {
        match self.log.client().subscribe(subject).await {
            Ok(subscription) => Some(subscription),
            Err(e) => {
                tracing::warn!(error = %e, "{failure}");
                None
            }
        }
    }

    /// A registration or refresh request was published: read them again.
    fn heard_location_event(&mut self) {
        if let Some(watch) = &mut self.registration_watch {
            watch.heard_passes = 2;
        }
    }

    /// Adds newly registered locations and drops unregistered ones.
    async fn reload_registrations(&mut self) -> Result<(), IngestError> {
        let now = Instant::now();
        if let Some(watch) = &mut self.registration_watch {
            let quiet = watch.heard_passes == 0;
            watch.heard_passes = watch.heard_passes.saturating_sub(1);
            let recent = now.duration_since(watch.checked) < REGISTRATIONS_RECHECK;
            if quiet && recent && self.registrations_read.is_some() {
                return Ok(());
            }
            watch.checked = now;
        }
        // Re-read only when the log has moved since the last read.
        let last = self.log.last_sequence().await?;
        if self.registrations_read == Some(last) {
            return Ok(());
        }
        let Registrations {
            registered,
            unregistered,
            refresh_requests,
        } = registered_locations(&self.log).await?;
        let registered: Vec<LocationSpec> = registered.into_iter().map(|(spec, _)| spec).collect();
        self.registrations_read = Some(last);
        self.unregistered = unregistered;
        self.roots
            .retain(|r| r.is_static || registered.contains(&r.spec));
        for spec in registered {
            if !self.roots.iter().any(|r| r.spec == spec) {
                tracing::info!(location = %spec.key(), "reading newly registered location");
                self.roots.push(Root::new(spec, false));
            }
        }
        // A new refresh request makes its location due now.
        for root in &mut self.roots {
            if let Some(&sequence) = refresh_requests.get(&root.spec.key())
                && sequence > root.refresh_answered
                && root.refresh_pending != Some(sequence)
            {
                tracing::info!(location = %root.spec.key(), sequence, "refresh requested");
                root.refresh_pending = Some(sequence);
                root.next_refresh = Instant::now();
            }
        }
        Ok(())
    }

    /// Publishes each root's status when it changed (or is due a refresh).
    async fn publish_statuses(&mut self) {
        let interval = self.config.refresh_interval();
        for root in &mut self.roots {
            let Some(outcome) = &root.outcome else {
                continue;
            };
            let mut status = status_of(&root.spec, outcome, root.is_static);
            status.refresh_sequence = root.refresh_pending.unwrap_or(root.refresh_answered);
            // A requested refresh is always answered, changed or not.
            let publish = root.refresh_pending.is_some()
                || match &root.published_status {
                    None => true,
                    Some((old, at)) => status_changed(old, &status) || status_due(*at, interval),
                };
            if !publish {
                continue;
            }
            let event = LocationEvent::new(&root.spec.key(), Change::Status(status.clone()));
            match self.publisher.publish_location(&event, None).await {
                PublishOutcome::Stored { .. } => {
                    root.refresh_answered = status.refresh_sequence;
                    root.refresh_pending = None;
                    root.published_status = Some((status, Instant::now()))
                }
                other => {
                    tracing::warn!(location = %root.spec.key(), outcome = ?other, "status not published")
                }
            }
        }
    }

    async fn crawl_due(&mut self) {
        let now = Instant::now();
        self.known.extend(self.roots.iter().map(|r| r.spec.key()));
        let mut crawler = Crawler {
            urls: &self.urls,
            cache: &mut self.cache,
            check: crate::crawl::kind_check(&self.policy),
            refresh_urls: true,
        };
        for root in &mut self.roots {
            root.held = match &self.leases {
                Some(leases) => leases.hold(&root.spec.key()).await,
                None => true,
            };
            if !root.held {
                // Another worker reads it; forget what this one saw.
                root.outcome = None;
                root.published_status = None;
                continue;
            }
            // Files are checked every poll; anything fetched over HTTP only
            // when the location's refresh is due.
            let refresh = root.outcome.is_none() || now >= root.next_refresh;
            if root.spec.kind == LocationType::Url && !refresh {
                continue;
            }
            crawler.refresh_urls = refresh;
            let outcome = crawler.crawl(&root.spec).await;
            if let Some(m) = &self.metrics
                && !outcome.problems.is_empty()
            {
                m.error(&root.spec.key());
            }
            root.outcome = Some(outcome);
            if refresh {
                let interval = self.config.refresh_interval().as_secs_f64();
                let jitter = rand::rng().random_range(0.9..1.1);
                root.next_refresh = now + Duration::from_secs_f64(interval * jitter);
            }
        }
        self.cache.sweep();
    }

    /// What to publish: upserts, deletions and orphan marks, in ref order.
    fn plan(&self, report: &mut SyncReport) -> BTreeMap<EntityRef, Planned> {
        let root_keys: HashSet<String> = self.roots.iter().map(|r| r.spec.key()).collect();
        let held: HashSet<String> = self
            .roots
            .iter()
            .filter(|r| r.held && r.outcome.is_some())
            .map(|r| r.spec.key())
            .collect();
        let mut plan = BTreeMap::new();
        // ref -> (source, origin) of the definition that won. (foldhash:
        // every entity of the catalog passes through here on each plan.)
        let found: usize = self
            .roots
            .iter()
            .filter_map(|r| r.outcome.as_ref())
            .map(RootOutcome::found_count)
            .sum();
        let mut claimed: foldhash::HashMap<&EntityRef, (&str, &str)> =
            foldhash::HashMap::with_capacity_and_hasher(found, Default::default());
        let mut retained: HashSet<&String> = HashSet::new();
        for root in &self.roots {
            let Some(outcome) = &root.outcome else {
                continue;
            };
            retained.extend(outcome.retained.iter());
            for p in &outcome.problems {
                report.errors.push(p.to_string());
                report.problems.push(p.clone());
            }
            for f in outcome.found() {
                let r = f.entity.entity_ref();
                if let Some((first, origin)) = claimed.get(r) {
                    let message = if *origin == f.origin {
                        format!("entity {r} is already defined in {first}; ignored")
                    } else {
                        format!(
                            "entity {r} is already managed by location {origin} (location key conflict); ignored"
                        )
                    };
                    self.conflict(report, f, message);
                    continue;
                }
                let live = self.state.get(r).and_then(|s| s.live.as_ref());
                if let Some(live) = live
                    && live.origin != f.origin
                    && !self.is_gone(&live.origin, &root_keys)
                {
                    self.conflict(
                            report,
                            f,
                            format!(
                                "entity {r} is already managed by location {} (location key conflict); ignored",
                                live.origin
                            ),
                        );
                    continue;
                }
                claimed.insert(r, (&f.location, &f.origin));
                if live.is_some_and(|l| l.content_hash == f.content_hash) {
                    report.unchanged += 1;
                    continue;
                }
                plan.insert(r.clone(), Planned::Upsert(Arc::clone(f)));
            }
        }
        for (r, _, live) in self.state.live() {
            if claimed.contains_key(r) || !is_location_key(&live.origin) {
                continue;
            }
            if self.is_gone(&live.origin, &root_keys) {
                // Its location is gone: so is it.
                plan.insert(
                    r.clone(),
                    Planned::Delete {
                        location: live.location.clone(),
                    },
                );
                continue;
            }
            // Another worker's location, or one that could not be read.
            if !held.contains(&live.origin)
                || retained.contains(&live.origin)
                || retained.contains(&live.location)
            {
                continue;
            }
            let planned = match self.config.orphan_strategy {
                OrphanStrategy::Delete => Planned::Delete {
                    location: live.location.clone(),
                },
                OrphanStrategy::Keep if live.orphan => continue,
                OrphanStrategy::Keep => Planned::Orphan {
                    location: live.location.clone(),
                },
            };
            plan.insert(r.clone(), planned);
        }
        plan
    }

    /// Whether a location that owned entities is gone: it was one of this
    /// ingestor's roots and no longer is, or it was unregistered. (A location
    /// merely unknown here may belong to another worker's configuration.)
    fn is_gone(&self, origin: &str, roots: &HashSet<String>) -> bool {
        is_location_key(origin)
            && !roots.contains(origin)
            && (self.known.contains(origin) || self.unregistered.contains(origin))
            && !self.leased_elsewhere.contains(origin)
    }

    /// Re-checks (and renews) every lease just before publishing: a crawl
    /// that took longer than the lease TTL may have lost a lease to another
    /// worker, and then this worker must not publish for that location.
    async fn confirm_leases(&mut self) {
        let Some(leases) = &self.leases else { return };
        for root in self.roots.iter_mut().filter(|r| r.held) {
            if !leases.hold(&root.spec.key()).await {
                tracing::warn!(location = %root.spec.key(), "lease lost during the crawl; not publishing it");
                root.held = false;
                root.outcome = None;
                root.published_status = None;
            }
        }
    }

    /// A location this worker no longer has, or that was unregistered, is not
    /// gone while another worker still reads it (say, during a rolling
    /// configuration change): its entities stay until that worker lets go.
    async fn check_leases_of_gone_origins(&mut self) {
        self.leased_elsewhere.clear();
        let Some(leases) = &self.leases else { return };
        let roots: HashSet<String> = self.roots.iter().map(|r| r.spec.key()).collect();
        let candidates: Vec<String> = self
            .state
            .origins()
            .filter(|o| {
                is_location_key(o)
                    && !roots.contains(*o)
                    && (self.known.contains(*o) || self.unregistered.contains(*o))
            })
            .map(str::to_string)
            .collect();
        for origin in candidates {
            if leases.held_elsewhere(&origin).await {
                self.leased_elsewhere.insert(origin);
            }
        }
    }

    fn conflict(&self, report: &mut SyncReport, f: &Found, message: String) {
        let p = Problem {
            location: f.location.clone(),
            document: None,
            field: None,
            message,
        };
        report.errors.push(p.to_string());
        report.problems.push(p);
    }

    /// Publishes a plan, [`EXECUTE_CHUNK`] events at a time: a plan of a
    /// whole large catalog never has all its events (each a copy of its
    /// entity) in memory at once.
    async fn execute(&mut self, plan: BTreeMap<EntityRef, Planned>, report: &mut SyncReport) {
        let mut plan = plan.into_iter().peekable();
        while plan.peek().is_some() {
            let chunk: Vec<(EntityRef, Planned)> = plan.by_ref().take(EXECUTE_CHUNK).collect();
            self.execute_chunk(chunk, report).await;
        }
    }

    async fn execute_chunk(&mut self, plan: Vec<(EntityRef, Planned)>, report: &mut SyncReport) {
        let mut events = Vec::with_capacity(plan.len());
        let mut after: Vec<(EntityRef, Option<LiveEntity>, u8, String)> =
            Vec::with_capacity(plan.len());
        for (r, planned) in plan {
            let expected = self.state.get(&r).map_or(0, |s| s.sequence);
            let (location, change, live, what) = match planned {
                Planned::Upsert(f) => {
                    let live = LiveEntity::of_found(&f);
                    let change = EntityChange::Upserted {
                        entity: f.entity.clone(),
                        content_hash: f.content_hash.clone(),
                    };
                    (f.location.clone(), change, Some(live), 0)
                }
                Planned::Delete { location } => (location, EntityChange::Deleted, None, 1),
                Planned::Orphan { location } => match self.orphaned(&r).await {
                    Ok(Some(entity)) => {
                        let hash = entity.content_hash();
                        let live = LiveEntity::of(&entity, &hash, &location);
                        let change = EntityChange::Upserted {
                            entity,
                            content_hash: hash,
                        };
                        (location, change, Some(live), 2)
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        report.errors.push(format!("marking {r} as an orphan: {e}"));
                        continue;
                    }
                },
            };
            // Metrics are by root location (bounded), not by source file.
            let origin = live
                .as_ref()
                .map(|l| l.origin.clone())
                .or_else(|| {
                    self.state
                        .get(&r)
                        .and_then(|s| s.live.as_ref().map(|l| l.origin.clone()))
                })
                .unwrap_or_default();
            events.push((self.event(&r, &location, change), expected));
            after.push((r, live, what, origin));
        }
        if events.is_empty() {
            return;
        }
        let span = tracing::info_span!("ingest", events = events.len());
        let outcomes = self
            .publisher
            .publish_all(events)
            .instrument(span.clone())
            .await;
        for ((r, live, what, origin), outcome) in after.into_iter().zip(outcomes) {
            match outcome {
                PublishOutcome::Stored { sequence, .. } => {
                    let change = match what {
                        0 => {
                            report.upserted += 1;
                            "upserted"
                        }
                        1 => {
                            report.deleted += 1;
                            "deleted"
                        }
                        _ => {
                            report.orphaned += 1;
                            "orphaned"
                        }
                    };
                    if let Some(m) = &self.metrics {
                        m.published(&origin, change);
                    }
                    self.state.set(r, sequence, live);
                }
                PublishOutcome::Conflict => {
                    report.conflicts += 1;
                    if let Some(m) = &self.metrics {
                        m.conflict(&origin);
                    }
                    if let Err(e) = self.state.refresh(&self.log, &r).await {
                        report
                            .errors
                            .push(format!("re-reading {r} after a conflict: {e}"));
                    }
                }
                PublishOutcome::Failed(reason) => {
                    if let Some(m) = &self.metrics {
                        m.error(&origin);
                    }
                    report.errors.push(format!("publishing {r}: {reason}"))
                }
            }
        }
    }

    /// The last published entity with the orphan annotation added.
    async fn orphaned(&self, r: &EntityRef) -> Result<Option<Entity>, EventLogError> {
        let Some(entity) = last_entity(&self.log, r).await? else {
            return Ok(None);
        };
        let mut doc = entity.to_value();
        if let Some(annotations) = doc
            .get_mut("metadata")
            .and_then(|m| m.as_object_mut())
            .map(|m| {
                m.entry("annotations")
                    .or_insert_with(|| Value::Object(Default::default()))
            })
            .and_then(Value::as_object_mut)
        {
            annotations.insert(ORPHAN.into(), Value::String("true".into()));
        }
        Ok(Entity::from_json(doc).ok())
    }

    fn event(&self, entity_ref: &EntityRef, location: &str, change: EntityChange) -> EntityEvent {
        EntityEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            time_millis: chrono::Utc::now().timestamp_millis(),
            source: EventSource {
                producer: self.config.producer.clone(),
                location: location.to_string(),
            },
            entity_ref: entity_ref.clone(),
            change,
        }
    }
}

/// Registers this worker's configured locations on the log, and
/// unregisters those it registered before but no longer has, so that their
/// entities are freed (and deleted) everywhere.
async fn register_configured(
    log: &EventLog,
    producer: &str,
    roots: &[Root],
) -> Result<(), IngestError> {
    let me = format!("config:{producer}");
    let current = registered_locations(log).await?;
    let publisher = Publisher::new(log.clone());
    for (spec, by) in &current.registered {
        if *by == me && !roots.iter().any(|r| r.spec == *spec) {
            tracing::info!(location = %spec.key(), "location left the configuration; unregistering it");
            let event = LocationEvent::new(
                &spec.key(),
                Change::Unregistered(pb::LocationUnregistered {}),
            );
            publisher.publish_location(&event, None).await;
        }
    }
    for root in roots {
        if current
            .registered
            .iter()
            .any(|(spec, _)| *spec == root.spec)
        {
            continue;
        }
        let event = LocationEvent::new(
            &root.spec.key(),
            Change::Registered(pb::LocationRegistered {
                r#type: root.spec.kind.as_str().to_string(),
                target: root.spec.target.clone(),
                registered_by: me.clone(),
            }),
        );
        if let PublishOutcome::Failed(e) = publisher.publish_location(&event, None).await {
            return Err(IngestError::EventLog(EventLogError::Nats {
                context: format!("registering configured location {}", root.spec.key()),
                message: e,
            }));
        }
    }
    Ok(())
}

/// Whether an origin is a `file:` or `url:` location (as opposed to a push source).
fn is_location_key(origin: &str) -> bool {
    origin.starts_with("file:") || origin.starts_with("url:")
}
