//! The projector's Prometheus metrics. Registered into a registry the caller
//! owns (no global state); every series is labelled with its partition.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn batch_size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

fn apply_seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Counters, gauges and histograms of one projector process.
#[derive(Clone)]
pub struct ProjectorMetrics {
    events_applied: Family<Labels, Counter>,
    events_skipped: Family<Labels, Counter>,
    dead_letters: Family<Labels, Counter>,
    batches: Family<Labels, Counter>,
    batch_size: Family<Labels, Histogram, fn() -> Histogram>,
    apply_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    checkpoint: Family<Labels, Gauge>,
    lag: Family<Labels, Gauge>,
    stream_last_sequence: Gauge,
    pending_pages_merged: Counter,
}

impl Default for ProjectorMetrics {
    fn default() -> Self {
        Self {
            events_applied: Family::default(),
            events_skipped: Family::default(),
            dead_letters: Family::default(),
            batches: Family::default(),
            batch_size: Family::new_with_constructor(batch_size_histogram),
            apply_seconds: Family::new_with_constructor(apply_seconds_histogram),
            checkpoint: Family::default(),
            lag: Family::default(),
            stream_last_sequence: Gauge::default(),
            pending_pages_merged: Counter::default(),
        }
    }
}

fn labels(partition: &str) -> Labels {
    vec![("partition".into(), partition.into())]
}

impl ProjectorMetrics {
    /// Metrics registered in `registry` under `catalog_projector_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("catalog_projector");
        r.register(
            "events_applied",
            "Events that changed the read model",
            m.events_applied.clone(),
        );
        r.register(
            "events_skipped",
            "Events skipped: already applied, or another partition's",
            m.events_skipped.clone(),
        );
        r.register(
            "dead_letters",
            "Messages that could not be decoded or applied, sent to the dead-letter subject",
            m.dead_letters.clone(),
        );
        r.register("batches", "Batches committed", m.batches.clone());
        r.register(
            "batch_size",
            "Messages per committed batch",
            m.batch_size.clone(),
        );
        r.register(
            "apply_seconds",
            "Time to apply and commit one batch",
            m.apply_seconds.clone(),
        );
        r.register(
            "checkpoint",
            "Last stream sequence committed to the read model",
            m.checkpoint.clone(),
        );
        r.register(
            "lag",
            "Stream last sequence minus the checkpoint",
            m.lag.clone(),
        );
        r.register(
            "stream_last_sequence",
            "Last sequence of the event stream, as last read",
            m.stream_last_sequence.clone(),
        );
        r.register(
            "gin_pending_pages_merged",
            "Pages of GIN pending lists merged into their indexes by the projector",
            m.pending_pages_merged.clone(),
        );
        m
    }

    /// Records a committed batch.
    pub(crate) fn batch(
        &self,
        partition: &str,
        messages: usize,
        outcome: &crate::apply::ApplyOutcome,
        seconds: f64,
    ) {
        let l = labels(partition);
        self.events_applied
            .get_or_create(&l)
            .inc_by(outcome.applied as u64);
        self.events_skipped
            .get_or_create(&l)
            .inc_by(outcome.skipped as u64);
        self.dead_letters
            .get_or_create(&l)
            .inc_by(outcome.dead as u64);
        self.batches.get_or_create(&l).inc();
        self.batch_size.get_or_create(&l).observe(messages as f64);
        self.apply_seconds.get_or_create(&l).observe(seconds);
        self.set_checkpoint(partition, outcome.checkpoint);
    }

    /// Records a merge of the GIN pending lists.
    pub(crate) fn merged_pending_pages(&self, pages: u64) {
        self.pending_pages_merged.inc_by(pages);
    }

    /// Records the checkpoint of a partition and its lag.
    pub(crate) fn set_checkpoint(&self, partition: &str, checkpoint: u64) {
        let l = labels(partition);
        let checkpoint = i64::try_from(checkpoint).unwrap_or(i64::MAX);
        self.checkpoint.get_or_create(&l).set(checkpoint);
        let last = self.stream_last_sequence.get();
        self.lag
            .get_or_create(&l)
            .set(last.saturating_sub(checkpoint).max(0));
    }

    /// Records the stream's last sequence and updates every partition's lag.
    pub(crate) fn set_stream_last_sequence(&self, partitions: &[String], last: u64) {
        let last = i64::try_from(last).unwrap_or(i64::MAX);
        self.stream_last_sequence.set(last);
        for p in partitions {
            let l = labels(p);
            let checkpoint = self.checkpoint.get_or_create(&l).get();
            self.lag
                .get_or_create(&l)
                .set(last.saturating_sub(checkpoint).max(0));
        }
    }
}
