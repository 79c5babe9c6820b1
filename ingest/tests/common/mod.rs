//! Crawling helpers for tests.

use catalog_ingest::crawl::{RootOutcome, crawl_once};
use catalog_ingest::location::LocationSpec;
use catalog_model::kinds::KindPolicy;

/// Crawls one location key (or path) with default settings.
pub async fn crawl(key: &str) -> RootOutcome {
    let cwd = std::env::current_dir().unwrap();
    let spec = if key.starts_with("file:") || key.starts_with("url:") {
        LocationSpec::parse_key(key, &cwd).unwrap()
    } else {
        LocationSpec::file(key, &cwd)
    };
    crawl_once(&spec, &KindPolicy::default()).await.unwrap()
}
