//! The ingest loop: scan locations, diff against the log, publish changes.

use std::collections::{BTreeMap, HashSet};

use catalog_eventlog::{EventLog, EventLogError, PublishOutcome, Publisher};
use catalog_model::{Entity, EntityChange, EntityEvent, EntityRef, EventSource};
use tokio_util::sync::CancellationToken;

use crate::config::IngestConfig;
use crate::scan::{FileContents, Scan, Scanner};
use crate::state::{LiveEntity, PublishedState};

/// Failures that stop a sync.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error("scanning locations: {0}")]
    Scan(String),
}

/// What one sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Entities published as created or changed.
    pub upserted: usize,
    /// Entities published as deleted.
    pub deleted: usize,
    /// Entities found unchanged (nothing published).
    pub unchanged: usize,
    /// Publishes refused because another producer had written the entity
    /// first; they are re-read and retried on the next sync.
    pub conflicts: usize,
    /// Every problem found, each naming its location and what was wrong.
    pub errors: Vec<String>,
}

/// Reads locations and publishes entity events.
pub struct Ingestor {
    config: IngestConfig,
    log: EventLog,
    publisher: Publisher,
    scanner: Option<Scanner>,
    state: PublishedState,
}

/// An entity as found in a location.
struct Found {
    entity: Entity,
    content_hash: String,
    location: String,
}

impl Ingestor {
    /// Prepares an ingestor: reads what the log already holds.
    pub async fn new(config: IngestConfig, log: EventLog) -> Result<Self, IngestError> {
        let state = PublishedState::load(&log).await?;
        Ok(Self {
            scanner: Some(Scanner::new(&config.locations)),
            publisher: Publisher::new(log.clone()),
            config,
            log,
            state,
        })
    }

    /// Runs until `shutdown` is cancelled, syncing every poll interval.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), IngestError> {
        let mut last_errors = Vec::new();
        loop {
            match self.sync_once().await {
                Ok(report) => {
                    if report.upserted + report.deleted + report.conflicts > 0 {
                        tracing::info!(
                            upserted = report.upserted,
                            deleted = report.deleted,
                            unchanged = report.unchanged,
                            conflicts = report.conflicts,
                            "published entity changes"
                        );
                    }
                    if report.errors != last_errors && !report.errors.is_empty() {
                        tracing::warn!(count = report.errors.len(), "locations have problems");
                    }
                    last_errors = report.errors;
                }
                Err(e) => tracing::error!(error = %e, "sync failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.config.poll_interval()) => {}
            }
        }
    }

    /// Scans every location once and publishes what changed.
    pub async fn sync_once(&mut self) -> Result<SyncReport, IngestError> {
        let mut scanner = self
            .scanner
            .take()
            .ok_or_else(|| IngestError::Scan("scanner lost".into()))?;
        let joined = tokio::task::spawn_blocking(move || {
            let scan = scanner.scan();
            (scanner, scan)
        })
        .await;
        let (scanner, scan) = joined.map_err(|e| IngestError::Scan(e.to_string()))?;
        let mut report = SyncReport::default();
        let (found, retained) = collect(scan, &mut report);
        let events = self.diff(&scanner, &found, &retained, &mut report);
        self.scanner = Some(scanner);
        self.publish(events, &found, &mut report).await;
        Ok(report)
    }

    /// The events that bring the log in line with what was found.
    fn diff(
        &self,
        scanner: &Scanner,
        found: &BTreeMap<EntityRef, Found>,
        retained: &HashSet<String>,
        report: &mut SyncReport,
    ) -> Vec<(EntityEvent, u64)> {
        let mut events = Vec::new();
        for (entity_ref, f) in found {
            let current = self.state.get(entity_ref);
            let unchanged = current
                .and_then(|s| s.live.as_ref())
                .is_some_and(|l| l.content_hash == f.content_hash && l.location == f.location);
            if unchanged {
                report.unchanged += 1;
                continue;
            }
            let change = EntityChange::Upserted {
                entity: f.entity.clone(),
                content_hash: f.content_hash.clone(),
            };
            events.push((
                self.event(entity_ref, &f.location, change),
                current.map_or(0, |s| s.sequence),
            ));
        }
        for (entity_ref, subject, live) in self.state.live() {
            let ours = scanner.owns_location(&live.location);
            let kept = retained.iter().any(|r| is_within(&live.location, r));
            if ours && !kept && !found.contains_key(entity_ref) {
                events.push((
                    self.event(entity_ref, &live.location, EntityChange::Deleted),
                    subject.sequence,
                ));
            }
        }
        events
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

    async fn publish(
        &mut self,
        events: Vec<(EntityEvent, u64)>,
        found: &BTreeMap<EntityRef, Found>,
        report: &mut SyncReport,
    ) {
        if events.is_empty() {
            return;
        }
        let refs: Vec<(EntityRef, bool)> = events
            .iter()
            .map(|(e, _)| {
                (
                    e.entity_ref.clone(),
                    matches!(e.change, EntityChange::Deleted),
                )
            })
            .collect();
        let outcomes = self.publisher.publish_all(events).await;
        for ((entity_ref, deleted), outcome) in refs.into_iter().zip(outcomes) {
            match outcome {
                PublishOutcome::Stored { sequence, .. } => {
                    let live = if deleted {
                        report.deleted += 1;
                        None
                    } else {
                        report.upserted += 1;
                        found.get(&entity_ref).map(|f| LiveEntity {
                            content_hash: f.content_hash.clone(),
                            location: f.location.clone(),
                        })
                    };
                    self.state.set(entity_ref, sequence, live);
                }
                PublishOutcome::Conflict => {
                    report.conflicts += 1;
                    if let Err(e) = self.state.refresh(&self.log, &entity_ref).await {
                        report
                            .errors
                            .push(format!("re-reading {entity_ref} after a conflict: {e}"));
                    }
                }
                PublishOutcome::Failed(reason) => {
                    report
                        .errors
                        .push(format!("publishing {entity_ref}: {reason}"));
                }
            }
        }
    }
}

/// Whether `location` is `root` or a file below it.
fn is_within(location: &str, root: &str) -> bool {
    location == root
        || location
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Entities found (first definition of a ref wins), and the locations whose
/// previously published entities must be kept because they could not be read.
fn collect(scan: Scan, report: &mut SyncReport) -> (BTreeMap<EntityRef, Found>, HashSet<String>) {
    let mut found: BTreeMap<EntityRef, Found> = BTreeMap::new();
    let mut retained = HashSet::new();
    for (location, reason) in scan.failed_roots {
        report.errors.push(format!("{location}: {reason}"));
        retained.insert(location);
    }
    for (location, contents) in scan.files {
        match contents {
            FileContents::Failed(reason) => {
                report.errors.push(format!("{location}: {reason}"));
                retained.insert(location);
            }
            FileContents::Parsed { entities, errors } => {
                // A document that no longer validates is not a deleted
                // document: keep what this file published until it is fixed.
                if !errors.is_empty() {
                    retained.insert(location.clone());
                }
                report
                    .errors
                    .extend(errors.into_iter().map(|e| format!("{location}: {e}")));
                for entity in entities {
                    let entity_ref = entity.entity_ref().clone();
                    if let Some(first) = found.get(&entity_ref) {
                        report.errors.push(format!(
                            "{location}: entity {entity_ref} is already defined in {}; ignored",
                            first.location
                        ));
                        continue;
                    }
                    let content_hash = entity.content_hash();
                    found.insert(
                        entity_ref,
                        Found {
                            entity,
                            content_hash,
                            location: location.clone(),
                        },
                    );
                }
            }
        }
    }
    (found, retained)
}
