//! `url` locations against a local HTTP server: conditional GET, errors,
//! timeouts, size limits, and redirects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use catalog_ingest::read::{ReadError, UrlReader, UrlReaderConfig};
use url::Url;

const COMPONENT: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: remote}\nspec: {type: service, lifecycle: production, owner: team, definition: x}\n";

struct Server {
    base: String,
    full_gets: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

async fn serve() -> Server {
    let full_gets = Arc::new(AtomicUsize::new(0));
    let not_modified = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (full, nm) = (full_gets.clone(), not_modified.clone());
    let app = Router::new()
        .route(
            "/repo/catalog-info.yaml",
            get(move |headers: HeaderMap| {
                let (full, nm) = (full.clone(), nm.clone());
                async move {
                    if headers
                        .get(header::IF_NONE_MATCH)
                        .and_then(|v| v.to_str().ok())
                        == Some("\"v1\"")
                    {
                        nm.fetch_add(1, Ordering::SeqCst);
                        return StatusCode::NOT_MODIFIED.into_response();
                    }
                    full.fetch_add(1, Ordering::SeqCst);
                    ([(header::ETAG, "\"v1\"")], COMPONENT).into_response()
                }
            }),
        )
        .route(
            "/repo/slow.yaml",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                COMPONENT
            }),
        )
        .route("/repo/huge.yaml", get(|| async { "#".repeat(2 << 20) }))
        .route(
            "/repo/same-origin-redirect.yaml",
            get(|| async { Redirect::temporary("/repo/catalog-info.yaml") }),
        )
        .route(
            "/repo/other-origin-redirect.yaml",
            get(move || async move {
                Redirect::temporary(&format!("http://localhost:{port}/repo/catalog-info.yaml"))
            }),
        )
        .route(
            "/repo/error.yaml",
            get(|| async {
                Response::builder()
                    .status(500)
                    .body(axum::body::Body::empty())
                    .unwrap()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base: format!("http://127.0.0.1:{port}/repo/"),
        full_gets,
        not_modified,
    }
}

fn reader() -> UrlReader {
    UrlReader::new(&UrlReaderConfig {
        timeout_ms: 500,
        max_bytes: 1 << 20,
        allowed_hosts: Vec::new(),
    })
    .unwrap()
}

#[tokio::test]
async fn unchanged_documents_are_answered_with_304_from_the_cache() {
    let s = serve().await;
    let r = reader();
    let url = Url::parse(&format!("{}catalog-info.yaml", s.base)).unwrap();
    assert_eq!(r.read(&url).await.unwrap(), COMPONENT);
    assert_eq!(r.read(&url).await.unwrap(), COMPONENT);
    assert_eq!(r.read(&url).await.unwrap(), COMPONENT);
    assert_eq!(s.full_gets.load(Ordering::SeqCst), 1);
    assert_eq!(s.not_modified.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_timeouts_oversize_bodies_and_foreign_redirects_are_refused() {
    let s = serve().await;
    let r = reader();
    let get = |path: &str| Url::parse(&format!("{}{path}", s.base)).unwrap();
    assert_eq!(r.read(&get("missing.yaml")).await, Err(ReadError::NotFound));
    assert_eq!(
        r.read(&get("error.yaml")).await,
        Err(ReadError::Status(500))
    );
    assert!(matches!(
        r.read(&get("slow.yaml")).await,
        Err(ReadError::Timeout(_))
    ));
    assert_eq!(
        r.read(&get("huge.yaml")).await,
        Err(ReadError::TooLarge { limit: 1 << 20 })
    );
    assert_eq!(
        r.read(&get("same-origin-redirect.yaml")).await.unwrap(),
        COMPONENT
    );
    let err = r
        .read(&get("other-origin-redirect.yaml"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::Redirect(m) if m.contains("another origin")),
        "{err:?}"
    );
}

#[tokio::test]
async fn url_locations_are_crawled_like_files() {
    let s = serve().await;
    let urls = reader();
    let policy = catalog_model::kinds::KindPolicy::default();
    let mut cache = catalog_ingest::crawl::CrawlCache::default();
    let mut crawler = catalog_ingest::crawl::Crawler {
        urls: &urls,
        cache: &mut cache,
        check: catalog_ingest::crawl::kind_check(&policy),
        refresh_urls: true,
    };
    let root = catalog_ingest::location::LocationSpec::url(&format!("{}catalog-info.yaml", s.base))
        .unwrap();
    let outcome = crawler.crawl(&root).await;
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    assert_eq!(outcome.found_count(), 1);
    assert_eq!(
        outcome.found().next().unwrap().location,
        format!("url:{}catalog-info.yaml", s.base)
    );
    let missing =
        catalog_ingest::location::LocationSpec::url(&format!("{}missing.yaml", s.base)).unwrap();
    let outcome = crawler.crawl(&missing).await;
    assert_eq!(outcome.problems.len(), 1);
    assert!(
        outcome
            .retained
            .contains(&format!("url:{}missing.yaml", s.base))
    );
}

#[tokio::test]
async fn file_locations_may_point_at_url_locations_but_not_the_reverse() {
    let s = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("all.yaml");
    std::fs::write(
        &root,
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: remote-repos}}\nspec:\n  type: url\n  targets: ['{}catalog-info.yaml', './relative.yaml']\n",
            s.base
        ),
    )
    .unwrap();
    let spec = catalog_ingest::location::LocationSpec::file(
        root.to_str().unwrap(),
        std::path::Path::new("/"),
    );
    let outcome = catalog_ingest::crawl::crawl_once(&spec, &Default::default())
        .await
        .unwrap();
    // The relative target is not a URL: the whole Location document is refused.
    assert_eq!(outcome.found_count(), 0, "{:?}", outcome.problems);
    assert!(
        outcome.problems[0].message.contains("absolute http(s) URL"),
        "{:?}",
        outcome.problems
    );

    std::fs::write(
        &root,
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: remote-repos}}\nspec:\n  type: url\n  targets: ['{}catalog-info.yaml']\n",
            s.base
        ),
    )
    .unwrap();
    let outcome = catalog_ingest::crawl::crawl_once(&spec, &Default::default())
        .await
        .unwrap();
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    let remote = outcome
        .found()
        .find(|f| f.entity.name() == "remote")
        .expect("remote entity");
    assert_eq!(remote.location, format!("url:{}catalog-info.yaml", s.base));
    assert_eq!(remote.origin, spec.key());
}

#[tokio::test]
async fn a_url_location_cannot_point_at_local_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: s}\nspec: {type: team, children: []}\n").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: evil}}\nspec: {{type: file, target: '{}/secret.yaml'}}\n",
        dir.path().display()
    );
    let app = Router::new().route("/all.yaml", get(move || async move { body }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let spec =
        catalog_ingest::location::LocationSpec::url(&format!("http://127.0.0.1:{port}/all.yaml"))
            .unwrap();
    let outcome = catalog_ingest::crawl::crawl_once(&spec, &Default::default())
        .await
        .unwrap();
    assert!(
        outcome.found_count() == 0,
        "{:?}",
        outcome.found().collect::<Vec<_>>()
    );
    assert_eq!(outcome.problems.len(), 1);
    assert_eq!(outcome.problems[0].field.as_deref(), Some("spec.type"));
    assert!(
        outcome.problems[0]
            .message
            .contains("cannot point at local files"),
        "{:?}",
        outcome.problems
    );
}

#[tokio::test]
async fn only_allowed_hosts_are_read() {
    let s = serve().await;
    let r = UrlReader::new(&UrlReaderConfig {
        allowed_hosts: vec!["catalog.example.com".into(), "*.example.org".into()],
        ..Default::default()
    })
    .unwrap();
    let url = Url::parse(&format!("{}catalog-info.yaml", s.base)).unwrap();
    assert_eq!(
        r.read(&url).await,
        Err(ReadError::HostNotAllowed("127.0.0.1".into()))
    );
    assert_eq!(s.full_gets.load(Ordering::SeqCst), 0);
    assert!(r.allows(&Url::parse("https://catalog.example.com/a.yaml").unwrap()));
    assert!(r.allows(&Url::parse("https://git.example.org/a.yaml").unwrap()));
    assert!(!r.allows(&Url::parse("https://example.org.evil.com/a.yaml").unwrap()));
    assert!(!r.allows(&Url::parse("http://169.254.169.254/latest").unwrap()));
}
