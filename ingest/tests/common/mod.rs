//! Crawling helpers for tests.

use catalog_ingest::crawl::{CrawlCache, Crawler, RootOutcome};
use catalog_ingest::location::LocationSpec;
use catalog_ingest::read::UrlReader;
use catalog_model::kinds::{KindPolicy, check_kind};

/// Crawls one location key (or path) with default settings.
pub async fn crawl(key: &str) -> RootOutcome {
    let cwd = std::env::current_dir().unwrap();
    let spec = if key.starts_with("file:") || key.starts_with("url:") {
        LocationSpec::parse_key(key, &cwd).unwrap()
    } else {
        LocationSpec::file(key, &cwd)
    };
    let urls = UrlReader::new(&Default::default()).unwrap();
    let policy = KindPolicy::default();
    let check = move |e: &catalog_model::Entity| check_kind(e, &policy);
    let mut cache = CrawlCache::default();
    let mut crawler = Crawler {
        urls: &urls,
        cache: &mut cache,
        check: &check,
    };
    crawler.crawl(&spec).await
}
