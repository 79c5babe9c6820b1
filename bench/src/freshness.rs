//! Freshness: how long after a change is made it can be seen, through the
//! API's watch stream and through the bridge's server-sent events, for
//! changes pushed with `Apply` and changes written to a descriptor file.
//!
//! A change is one entity's description set to a unique marker; both
//! streams are read continuously and note when each marker arrives. Changes
//! are made one after the other, each waiting for the last to arrive.
//! Background load, when asked for, is a separate client applying changes
//! to other entities at a steady rate.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::load::percentile;

#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    fn of(mut d: Vec<Duration>) -> Self {
        d.sort();
        let ms = |x: Duration| x.as_secs_f64() * 1000.0;
        Self {
            samples: d.len(),
            p50_ms: ms(percentile(&d, 0.5)),
            p99_ms: ms(percentile(&d, 0.99)),
            max_ms: ms(d.last().copied().unwrap_or_default()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// `apply` or `file`.
    pub change: String,
    /// Background changes per second while measuring.
    pub background_per_sec: u64,
    pub api_watch: Latencies,
    pub bridge_events: Latencies,
}

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

const MARK: &str = "fresh-mark-";

/// The marker in an entity's description, if any.
fn marker(entity: &serde_json::Value) -> Option<String> {
    entity["metadata"]["description"]
        .as_str()
        .filter(|d| d.starts_with(MARK))
        .map(str::to_string)
}

/// Watches both streams until `stop`, noting when each marker arrives.
pub struct Watchers {
    pub api: Seen,
    pub bridge: Seen,
    stop: CancellationToken,
}

impl Watchers {
    pub async fn start(api: Channel, bridge: &str) -> anyhow::Result<Self> {
        let stop = CancellationToken::new();
        let (api_seen, bridge_seen): (Seen, Seen) = Default::default();
        let mut watch = CatalogServiceClient::new(api)
            .watch_entities(pb::WatchEntitiesRequest {
                heartbeat_seconds: 15,
                ..Default::default()
            })
            .await
            .context("opening WatchEntities")?
            .into_inner();
        let (seen, token) = (api_seen.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = token.cancelled() => break,
                    next = watch.next() => next,
                };
                let message = match next {
                    Some(Ok(message)) => message,
                    Some(Err(status)) => {
                        eprintln!("    the API's watch stream failed: {status}");
                        break;
                    }
                    None => {
                        eprintln!("    the API's watch stream ended");
                        break;
                    }
                };
                let now = Instant::now();
                if let Some(pb::watch_entities_response::Event::Change(c)) = message.event
                    && let Some(entity) = c.entity.as_ref()
                    && let Some(m) = marker(&catalog_proto::struct_to_json(entity))
                {
                    seen.lock().map(|mut s| s.insert(m, now)).ok();
                }
            }
        });
        let res = reqwest::get(format!("{bridge}/api/catalog/events"))
            .await
            .context("opening the bridge's event stream")?;
        anyhow::ensure!(res.status().is_success(), "events: {}", res.status());
        let mut body = res.bytes_stream();
        let (seen, token) = (bridge_seen.clone(), stop.clone());
        tokio::spawn(async move {
            let mut buffer = String::new();
            loop {
                let next = tokio::select! {
                    () = token.cancelled() => break,
                    next = body.next() => next,
                };
                let bytes = match next {
                    Some(Ok(bytes)) => bytes,
                    other => {
                        eprintln!("    the bridge's event stream ended: {other:?}");
                        break;
                    }
                };
                let now = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim())
                            && let Some(m) = marker(&v["entity"])
                        {
                            seen.lock().map(|mut s| s.insert(m, now)).ok();
                        }
                    }
                }
            }
        });
        Ok(Self {
            api: api_seen,
            bridge: bridge_seen,
            stop,
        })
    }

    /// When both streams have shown `mark`, or an error after 30 s.
    async fn arrival(&self, mark: &str) -> anyhow::Result<(Instant, Instant)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let a = self.api.lock().ok().and_then(|s| s.get(mark).copied());
            let b = self.bridge.lock().ok().and_then(|s| s.get(mark).copied());
            if let (Some(a), Some(b)) = (a, b) {
                return Ok((a, b));
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{mark} not seen within 30 s (API watch: {}, bridge events: {})",
                if a.is_some() { "seen" } else { "not seen" },
                if b.is_some() { "seen" } else { "not seen" }
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn component(name: &str, description: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  description: {description}\nspec:\n  type: service\n  lifecycle: production\n  owner: group-0\n"
    )
}

async fn apply(
    client: &mut IngestServiceClient<Channel>,
    source: &str,
    docs: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let res = client
        .apply(pb::ApplyRequest {
            source: source.into(),
            descriptors: docs
                .into_iter()
                .map(|(name, content)| pb::Descriptor { name, content })
                .collect(),
            dry_run: false,
        })
        .await?
        .into_inner();
    for r in res.results {
        anyhow::ensure!(r.message.is_empty(), "apply: {}", r.message);
    }
    Ok(())
}

/// Applies `per_sec` changes per second (in batches of 10 every 10 ms) to
/// 100 entities of its own until stopped.
pub fn background(
    api: Channel,
    per_sec: u64,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut client = IngestServiceClient::new(api);
        let per_tick = 10u64;
        let mut tick =
            tokio::time::interval(Duration::from_secs_f64(per_tick as f64 / per_sec as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut n = 0u64;
        while !stop.is_cancelled() {
            tick.tick().await;
            let docs = (0..per_tick)
                .map(|k| {
                    let i = n + k;
                    (
                        format!("load-{}.yaml", i % 100),
                        component(&format!("load-{}", i % 100), &format!("load {i}")),
                    )
                })
                .collect();
            if apply(&mut client, "bench-load", docs).await.is_ok() {
                n += per_tick;
            }
        }
        n
    })
}

/// `samples` changes through `Apply`, one at a time.
pub async fn through_apply(
    api: Channel,
    watchers: &Watchers,
    samples: usize,
    round: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut client = IngestServiceClient::new(api);
    let (mut via_api, mut via_bridge) = (Vec::new(), Vec::new());
    for k in 0..samples {
        let mark = format!("{MARK}{round}-{k}");
        let name = format!("fresh-{}", k % 20);
        let started = Instant::now();
        apply(
            &mut client,
            "bench-fresh",
            vec![(format!("{name}.yaml"), component(&name, &mark))],
        )
        .await?;
        let (a, b) = watchers.arrival(&mark).await?;
        via_api.push(a - started);
        via_bridge.push(b - started);
    }
    Ok((via_api, via_bridge))
}

/// `samples` changes written to `file`, one at a time. The ingestor polls
/// its locations; its poll interval bounds what this can show.
pub async fn through_file(
    file: PathBuf,
    watchers: &Watchers,
    samples: usize,
    round: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut via_api, mut via_bridge) = (Vec::new(), Vec::new());
    for k in 0..samples {
        let mark = format!("{MARK}{round}-{k}");
        let started = Instant::now();
        tokio::fs::write(&file, component("fresh-file", &mark)).await?;
        let (a, b) = watchers.arrival(&mark).await?;
        via_api.push(a - started);
        via_bridge.push(b - started);
    }
    Ok((via_api, via_bridge))
}

pub fn figures(
    change: &str,
    background_per_sec: u64,
    d: (Vec<Duration>, Vec<Duration>),
) -> Freshness {
    Freshness {
        change: change.into(),
        background_per_sec,
        api_watch: Latencies::of(d.0),
        bridge_events: Latencies::of(d.1),
    }
}
