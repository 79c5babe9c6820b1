//! Ingest metrics, by root location: `catalog_ingest_published_total{location,
//! change}` (`upserted`, `deleted`, `orphaned`), `catalog_ingest_conflicts_total
//! {location}`, `catalog_ingest_errors_total{location}` (failed publishes, and
//! reads of the location that found problems: one per read), and
//! `catalog_ingest_sync_seconds` (one pass over every due location).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Published {
    location: String,
    change: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Location {
    location: String,
}

/// The ingestor's metrics.
#[derive(Clone)]
pub struct IngestMetrics {
    published: Family<Published, Counter>,
    conflicts: Family<Location, Counter>,
    errors: Family<Location, Counter>,
    sync_seconds: Histogram,
}

impl IngestMetrics {
    /// Metrics registered in `registry` under `catalog_ingest_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            published: Family::default(),
            conflicts: Family::default(),
            errors: Family::default(),
            sync_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        };
        let r = registry.sub_registry_with_prefix("catalog_ingest");
        r.register(
            "published",
            "Entity events published, by root location and change",
            m.published.clone(),
        );
        r.register(
            "conflicts",
            "Publishes refused because another producer changed the entity first",
            m.conflicts.clone(),
        );
        r.register(
            "errors",
            "Failed publishes and location reads with problems",
            m.errors.clone(),
        );
        r.register(
            "sync_seconds",
            "Time of one pass over the due locations",
            m.sync_seconds.clone(),
        );
        m
    }

    pub(crate) fn published(&self, location: &str, change: &str) {
        self.published
            .get_or_create(&Published {
                location: location.to_string(),
                change: change.to_string(),
            })
            .inc();
    }

    pub(crate) fn conflict(&self, location: &str) {
        self.conflicts
            .get_or_create(&Location {
                location: location.to_string(),
            })
            .inc();
    }

    pub(crate) fn error(&self, location: &str) {
        self.errors
            .get_or_create(&Location {
                location: location.to_string(),
            })
            .inc();
    }

    pub(crate) fn sync(&self, seconds: f64) {
        self.sync_seconds.observe(seconds);
    }
}
