//! Registered locations, read from the log, and status reports written to it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use catalog_eventlog::location::location_wildcard;
use catalog_eventlog::{EventLog, EventLogError, LocationEvent, decode_location_event};
use catalog_proto::v1 as pb;
use catalog_proto::v1::location_event::Change;
use futures::StreamExt;

use crate::crawl::{RootOutcome, problem_to_proto};
use crate::location::LocationSpec;

fn nats_err(context: &str, e: impl std::fmt::Display) -> EventLogError {
    EventLogError::Nats {
        context: context.to_string(),
        message: e.to_string(),
    }
}

/// What the log says about registered locations.
#[derive(Debug, Default)]
pub struct Registrations {
    /// Registered locations, with who registered them (`api`, `config:<producer>`).
    pub registered: Vec<(LocationSpec, String)>,
    /// Keys of locations whose last registration event is an unregistration.
    pub unregistered: HashSet<String>,
    /// The stream sequence of each location's latest refresh request.
    pub refresh_requests: HashMap<String, u64>,
}

/// The locations currently registered on the log (last registration event
/// of each location is a registration), the keys of those unregistered, and
/// the latest refresh request of each location.
pub async fn registered_locations(log: &EventLog) -> Result<Registrations, EventLogError> {
    let stream = log.stream().await?;
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: location_wildcard(log.prefix()),
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(|e| nats_err("creating registration consumer", e))?;
    let pending = consumer
        .info()
        .await
        .map_err(|e| nats_err("reading registration consumer", e))?
        .num_pending;
    let mut out = Registrations::default();
    if pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| nats_err("reading registrations", e))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| nats_err("reading registrations", e))?;
        let info = message
            .info()
            .map_err(|e| nats_err("reading registration metadata", e))?;
        let (pending, sequence) = (info.pending, info.stream_sequence);
        match decode_location_event(log.prefix(), &message.subject, &message.payload) {
            Ok(LocationEvent {
                change: Change::Registered(r),
                location_key,
                ..
            }) => match LocationSpec::parse_key(&location_key, &cwd) {
                Ok(spec) => {
                    let by = if r.registered_by.is_empty() {
                        "api".to_string()
                    } else {
                        r.registered_by
                    };
                    out.registered.push((spec, by));
                }
                Err(e) => {
                    tracing::warn!(location = %location_key, error = %e, "unusable registered location")
                }
            },
            Ok(LocationEvent {
                change: Change::Unregistered(_),
                location_key,
                ..
            }) => {
                out.unregistered.insert(location_key);
            }
            Ok(LocationEvent {
                change: Change::RefreshRequested(_),
                location_key,
                ..
            }) => {
                out.refresh_requests.insert(location_key, sequence);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(subject = %message.subject, error = %e, "undecodable location event")
            }
        }
        if pending == 0 {
            break;
        }
    }
    out.registered.sort();
    Ok(out)
}

/// Most problems carried by one status report.
pub const MAX_STATUS_PROBLEMS: usize = 200;

/// The status of a root after a crawl.
pub fn status_of(
    spec: &LocationSpec,
    outcome: &RootOutcome,
    is_static: bool,
) -> pb::LocationStatus {
    let key = spec.key();
    // Failed: the root itself could not be read or parsed (not one document).
    let failed = outcome
        .problems
        .iter()
        .any(|p| p.location == key && p.document.is_none());
    let outcome_kind = if failed {
        pb::location_status::Outcome::Failed
    } else if outcome.problems.is_empty() {
        pb::location_status::Outcome::Ok
    } else {
        pb::location_status::Outcome::Partial
    };
    let now = chrono::Utc::now();
    pb::LocationStatus {
        refreshed_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        outcome: outcome_kind as i32,
        entities: u32::try_from(outcome.found_count()).unwrap_or(u32::MAX),
        // Bounded, so a status always fits in one message.
        problems: outcome
            .problems
            .iter()
            .take(MAX_STATUS_PROBLEMS)
            .map(problem_to_proto)
            .collect(),
        r#static: is_static,
        refresh_sequence: 0,
    }
}

/// Whether a new status differs from the last published one in substance
/// (everything but the time).
pub fn status_changed(old: &pb::LocationStatus, new: &pb::LocationStatus) -> bool {
    (old.outcome, old.entities, &old.problems, old.r#static)
        != (new.outcome, new.entities, &new.problems, new.r#static)
}

/// When a status with no change is republished anyway (to refresh its time).
pub fn status_due(published_at: Instant, interval: Duration) -> bool {
    published_at.elapsed() >= interval
}
