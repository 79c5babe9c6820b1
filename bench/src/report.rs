//! The suite's results: one JSON document per run in `bench/results/`, and
//! the same figures as tables on stdout, with the targets they are held to.

use std::fmt::Write as _;

use serde::Serialize;

use crate::freshness::Freshness;
use crate::machine::Machine;
use crate::queries::QueryFigure;
use crate::reference::Reference;

#[derive(Debug, Clone, Serialize)]
pub struct Ingest {
    pub entities: usize,
    pub files: usize,
    pub relation_rows: i64,
    pub seconds: f64,
    /// When the stream first held every entity's event (the ingestor's
    /// share of the time; the rest is the projector catching up).
    pub published_secs: Option<f64>,
    /// CPU-seconds each process spent during the cold ingest.
    pub cpu_secs: Vec<(String, f64)>,
    pub entities_per_sec: f64,
    /// Our time over the reference's (publish + consume + COPY).
    pub times_reference: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectorAlone {
    pub events: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub peak_rss_bytes: u64,
}

/// `catalog rebuild` of a whole stream, from start to switch.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildFigure {
    pub events: usize,
    pub seconds: f64,
    pub events_per_sec: f64,
    /// When the replay had applied every event (the rest: building the
    /// deferred indexes, verifying, switching), as `catalog rebuild`
    /// reported it; `None` if it did not say.
    pub replay_secs: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub peak_rss_bytes: Vec<(String, u64)>,
    pub database_bytes: i64,
    pub stream_bytes: u64,
    pub stream_messages: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub entities: usize,
    pub reference: Reference,
    pub ingest: Ingest,
    pub freshness: Vec<Freshness>,
    pub queries: Vec<QueryFigure>,
    pub projector: Option<ProjectorAlone>,
    pub resources: Resources,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub suite: &'static str,
    pub started_at: String,
    pub seed: u64,
    pub machine: Machine,
    pub settings: serde_json::Value,
    pub sizes: Vec<SizeReport>,
    pub rebuild: Option<RebuildFigure>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

impl SizeReport {
    /// The figures as text tables.
    pub fn tables(&self) -> String {
        let mut t = String::new();
        let r = &self.reference;
        let i = &self.ingest;
        let _ = writeln!(
            t,
            "\n=== {} entities (and one more, the file changed for freshness) ===",
            self.entities
        );
        let _ = writeln!(
            t,
            "cold ingest      {:>8.2} s  {:>9.0} entities/s  ({} files, {} relation rows)  = {:.2}x the reference",
            i.seconds, i.entities_per_sec, i.files, i.relation_rows, i.times_reference
        );
        let cpu: Vec<String> = i
            .cpu_secs
            .iter()
            .map(|(name, secs)| format!("{name} {secs:.1}"))
            .collect();
        let _ = writeln!(
            t,
            "  published after {}; CPU-seconds: {}",
            i.published_secs
                .map_or("-".to_string(), |s| format!("{s:.2} s")),
            cpu.join(", ")
        );
        let _ = writeln!(
            t,
            "reference        {:>8.2} s  = JetStream publish {:.2} s ({:.0} msg/s) + consume {:.2} s ({:.0} msg/s) + COPY {:.2} s ({} rows, {} relation rows); {:.1} MB of payload",
            r.total_secs(),
            r.publish_secs,
            r.messages as f64 / r.publish_secs,
            r.consume_secs,
            r.messages as f64 / r.consume_secs,
            r.copy_secs,
            r.rows,
            r.relation_rows,
            mb(r.payload_bytes)
        );
        if let Some(p) = &self.projector {
            let _ = writeln!(
                t,
                "projector alone  {:>8.2} s  {:>9.0} events/s  ({} events, pre-filled stream, peak RSS {:.0} MB)",
                p.seconds,
                p.events_per_sec,
                p.events,
                mb(p.peak_rss_bytes)
            );
        }
        let _ = writeln!(
            t,
            "\nfreshness (ms)            background   api watch p50 / p99 / max     bridge SSE p50 / p99 / max   samples"
        );
        for f in &self.freshness {
            let _ = writeln!(
                t,
                "  {:<24} {:>6}/s   {:>7.1} / {:>7.1} / {:>7.1}      {:>7.1} / {:>7.1} / {:>7.1}   {}",
                format!("change via {}", f.change),
                f.background_per_sec,
                f.api_watch.p50_ms,
                f.api_watch.p99_ms,
                f.api_watch.max_ms,
                f.bridge_events.p50_ms,
                f.bridge_events.p99_ms,
                f.bridge_events.max_ms,
                f.api_watch.samples
            );
        }
        let _ = writeln!(
            t,
            "\nqueries                              via    req/s     p50 ms   p99 ms   server cpu ms/1000   postgres cpu ms/1000  errors"
        );
        for q in &self.queries {
            let _ = writeln!(
                t,
                "  {:<34} {:<5} {:>7.0}  {:>8.2} {:>8.2}   {:>18.0}   {:>20.0}  {}",
                q.scenario,
                q.via,
                q.requests_per_sec,
                q.p50_ms,
                q.p99_ms,
                q.server_cpu_ms_per_1000,
                q.postgres_cpu_ms_per_1000,
                q.errors
            );
        }
        let res = &self.resources;
        let rss: Vec<String> = res
            .peak_rss_bytes
            .iter()
            .map(|(n, b)| format!("{n} {:.0} MB", mb(*b)))
            .collect();
        let _ = writeln!(
            t,
            "\nresources        peak RSS: {}; database {:.0} MB; stream {:.0} MB ({} messages)",
            rss.join(", "),
            mb(res.database_bytes.max(0) as u64),
            mb(res.stream_bytes),
            res.stream_messages
        );
        t
    }

    /// The targets, for a run at 100,000 entities.
    pub fn targets(&self, rebuild: Option<&RebuildFigure>) -> Vec<(String, String, &'static str)> {
        let mut out = Vec::new();
        let i = &self.ingest;
        out.push((
            "cold ingest <= 10 s (>= 10,000 entities/s)".into(),
            format!("{:.2} s, {:.0}/s", i.seconds, i.entities_per_sec),
            verdict(i.seconds <= 10.0),
        ));
        out.push((
            "cold ingest within 3x of the raw COPY + publish reference".into(),
            format!("{:.2}x", i.times_reference),
            verdict(i.times_reference <= 3.0),
        ));
        // The freshness targets hold for a change through Apply and for one
        // through a file alike.
        for f in &self.freshness {
            let (limit, what) = if f.background_per_sec == 0 {
                (50.0, "idle")
            } else {
                (200.0, "under load")
            };
            let how = if f.change == "apply" {
                "Apply"
            } else {
                "a file"
            };
            let worst = f.api_watch.p99_ms.max(f.bridge_events.p99_ms);
            out.push((
                format!("freshness p99 <= {limit} ms {what} ({how}, API and bridge)"),
                format!("{worst:.1} ms"),
                verdict(worst <= limit),
            ));
        }
        if let Some(p) = &self.projector {
            out.push((
                "projector >= 20,000 events/s".into(),
                format!("{:.0}/s", p.events_per_sec),
                verdict(p.events_per_sec >= 20_000.0),
            ));
        }
        if let Some(r) = rebuild {
            out.push((
                format!("rebuild of {} events <= 90 s", r.events),
                format!("{:.1} s, {:.0}/s", r.seconds, r.events_per_sec),
                verdict(r.seconds <= 90.0),
            ));
        }
        let grpc = |name: &str| {
            self.queries
                .iter()
                .find(|q| q.via == "grpc" && q.scenario.starts_with(name))
        };
        if let Some(q) = grpc("GetEntity") {
            out.push((
                "GetEntity >= 10,000 req/s, p99 <= 5 ms".into(),
                format!("{:.0}/s, p99 {:.2} ms", q.requests_per_sec, q.p99_ms),
                verdict(q.requests_per_sec >= 10_000.0 && q.p99_ms <= 5.0),
            ));
        }
        for (name, limit) in [
            ("ListEntities ownedBy", 20.0),
            ("full-text search", 50.0),
            ("facets", 50.0),
        ] {
            if let Some(q) = grpc(name) {
                out.push((
                    format!("{name} p99 <= {limit} ms"),
                    format!("{:.2} ms", q.p99_ms),
                    verdict(q.p99_ms <= limit),
                ));
            }
        }
        let per_req = |via: &str| -> f64 {
            self.queries
                .iter()
                .filter(|q| q.via == via)
                .map(|q| q.server_cpu_ms_per_1000 + q.postgres_cpu_ms_per_1000)
                .sum()
        };
        let (g, r) = (per_req("grpc"), per_req("rest"));
        if g > 0.0 && r > 0.0 {
            let overhead = (r - g) / g * 100.0;
            out.push((
                "bridge REST overhead over gRPC <= 20 % CPU per request".into(),
                format!("{overhead:+.0} % (sum over the six scenarios)"),
                verdict(overhead <= 20.0),
            ));
        }
        for (name, bytes) in &self.resources.peak_rss_bytes {
            if name == "api" || name == "ui-bridge" {
                out.push((
                    format!("{name} peak RSS <= 100 MB"),
                    format!("{:.0} MB at {} entities", mb(*bytes), self.entities),
                    verdict(*bytes <= 100_000_000),
                ));
            }
        }
        out
    }
}
