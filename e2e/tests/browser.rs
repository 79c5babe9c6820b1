//! The web UI in a real browser (headless Chromium driven over WebDriver by
//! ChromeDriver) against a real catalog holding Backstage's example catalog:
//! filtering and searching the catalog table, an entity's page with its
//! relations graph and history, a change made through the API appearing
//! without a reload, and the three plugins on their own URLs (the
//! third-party one through the proxy, to a real local HTTP server).
//!
//! Needs `chromium` and `chromedriver` (deploy/dev/test.sh installs them);
//! `CATALOG_CHROMEDRIVER` and `CATALOG_CHROMIUM` override where they are.
//! With `CATALOG_UPDATE_SCREENSHOTS=1` the catalog and entity pages are
//! saved to `docs/screenshots/` (shown in the README).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use catalog_e2e::{Pipeline, test_projector_config};
use catalog_ui_bridge::plugins::default_plugins;
use catalog_ui_bridge::proxy::{EndpointConfig, EndpointOptions};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const CI_TOKEN: &str = "browser-test-ci-token";

fn tool(env: &str, name: &str) -> String {
    std::env::var(env).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        let found = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        assert!(
            !found.is_empty(),
            "{name} is needed for the browser tests (deploy/dev/test.sh installs it; or set {env})"
        );
        found
    })
}

/// A running ChromeDriver and a browser session; both end on drop/close.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

impl Browser {
    async fn start() -> Self {
        let driver_path = tool("CATALOG_CHROMEDRIVER", "chromedriver");
        let chromium = tool("CATALOG_CHROMIUM", "chromium");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"]
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("TLS setup")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("connecting to chromedriver");
        Self {
            client,
            _driver: driver,
        }
    }
}

/// Polls `check` until it returns `Some`, or fails after `WAIT` with `what`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`eventually`], showing the page's text when it times out.
async fn eventually_on<T, F, Fut>(c: &Client, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            let text = text_of(c, "main").await.unwrap_or_default();
            panic!("timed out waiting for {what}; the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn css(selector: &str) -> Locator<'_> {
    Locator::Css(selector)
}

/// The `data-entity-ref`s of the catalog table's rows.
async fn row_refs(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for row in c
        .find_all(css("[data-testid=catalog-row]"))
        .await
        .unwrap_or_default()
    {
        if let Ok(Some(r)) = row.attr("data-entity-ref").await {
            out.push(r);
        }
    }
    out
}

async fn text_of(c: &Client, selector: &str) -> Option<String> {
    c.find(css(selector)).await.ok()?.text().await.ok()
}

fn save_screenshot(name: &str, png: &[u8]) {
    let dir = if std::env::var("CATALOG_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/screenshots"))
    } else {
        std::env::temp_dir().join("catalog-screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

#[tokio::test]
async fn the_web_ui_filters_shows_entities_updates_live_and_hosts_plugins() {
    // The third party: a real HTTP server the ci-builds plugin reaches
    // through the bridge's proxy, which injects its token.
    let ci = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ci_addr: SocketAddr = ci.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(ci, catalog_demo_ci::router(Some(CI_TOKEN.into())))
            .await
            .unwrap()
    });
    let p = Pipeline::start_custom(test_projector_config(), |bridge| {
        bridge.plugins = Some(default_plugins());
        let mut ep = EndpointOptions::for_target(format!("http://{ci_addr}"));
        ep.headers = BTreeMap::from([("Authorization".into(), format!("Bearer {CI_TOKEN}"))]);
        ep.allowed_methods = Some(vec!["GET".into()]);
        ep.credentials = Some("dangerously-allow-unauthenticated".into());
        bridge.proxy.endpoints = BTreeMap::from([("ci".into(), EndpointConfig::Full(ep))]);
    })
    .await;
    let root = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/backstage-examples/all.yaml"
    ));
    let mut ingestor = p.ingestor(vec![root]).await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 34);
    p.wait_for_total(34).await;
    let base = p.rest_base();
    let browser = Browser::start().await;
    let c = &browser.client;

    // The catalog table, filtered by kind through its select; the filter
    // lands in the URL.
    c.goto(&format!("{base}/catalog")).await.unwrap();
    eventually("catalog rows", || async {
        (!row_refs(c).await.is_empty()).then_some(())
    })
    .await;
    // Options carry the values as written (facet counts come with them).
    let kind = eventually("the kind filter's options", || async {
        let select = c.find(css("[data-testid=filter-kind]")).await.ok()?;
        let html = select.html(true).await.ok()?;
        html.contains("value=\"Component\"").then_some(select)
    })
    .await;
    kind.select_by_value("Component").await.unwrap();
    let components = eventually("only components listed", || async {
        let refs = row_refs(c).await;
        (!refs.is_empty() && refs.iter().all(|r| r.starts_with("component:"))).then_some(refs)
    })
    .await;
    assert!(
        components.contains(&"component:default/artist-lookup".to_string()),
        "{components:?}"
    );
    let url = c.current_url().await.unwrap();
    assert!(url.as_str().contains("kind=Component"), "{url}");
    save_screenshot("catalog.png", &c.screenshot().await.unwrap());

    // Full-text filter on the table.
    let text = c.find(css("[data-testid=filter-text]")).await.unwrap();
    text.send_keys("artist").await.unwrap();
    eventually("the full-text filter applied", || async {
        let refs = row_refs(c).await;
        (refs == vec!["component:default/artist-lookup".to_string()]).then_some(())
    })
    .await;

    // The header search box: highlighted matches, Enter... or a click opens it.
    let search = c.find(css("[data-testid=search-input]")).await.unwrap();
    search.send_keys("playback").await.unwrap();
    let result = eventually("search results", || async {
        let r = c.find(css("[data-testid=search-result]")).await.ok()?;
        let html = r.html(true).await.ok()?;
        html.contains("<mark").then_some(r)
    })
    .await;
    let chosen = result
        .attr("data-entity-ref")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(chosen.contains("playback"), "{chosen}");
    // The keyboard picks a result: down to the first, Enter opens it.
    search.send_keys("\u{E015}\u{E007}").await.unwrap();
    eventually("the chosen entity's page", || async {
        let url = c.current_url().await.ok()?;
        url.path().starts_with("/catalog/").then_some(())
    })
    .await;

    // An API's definition, readable; and a refresh request from the page.
    c.goto(&format!("{base}/catalog/default/api/petstore"))
        .await
        .unwrap();
    eventually("the API tab", || async {
        c.find(css("[data-testid=tab-api]"))
            .await
            .ok()?
            .click()
            .await
            .ok()
    })
    .await;
    let definition = eventually("the API definition", || async {
        text_of(c, "[data-testid=api-definition]")
            .await
            .filter(|t| !t.is_empty())
    })
    .await;
    assert!(
        definition.contains("openapi") || definition.contains("/pets"),
        "{definition:.300}"
    );
    c.find(css("[data-testid=refresh-button]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the refresh acknowledged", || async {
        let status = text_of(c, "[data-testid=refresh-status]").await?;
        status.starts_with("Refresh requested").then_some(())
    })
    .await;

    // The entity page: about card, relations as a list and a graph, history.
    c.goto(&format!("{base}/catalog/default/component/artist-lookup"))
        .await
        .unwrap();
    let title = eventually("the entity title", || async {
        text_of(c, "[data-testid=entity-title]").await
    })
    .await;
    assert!(title.contains("artist-lookup"), "{title}");
    let about = text_of(c, "[data-testid=about-card]").await.unwrap();
    assert!(about.contains("team-a"), "{about}");
    c.find(css("[data-testid=tab-relations]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("graph nodes", || async {
        let nodes = c.find_all(css("[data-testid=graph-node]")).await.ok()?;
        (nodes.len() >= 2).then_some(())
    })
    .await;
    let listed = text_of(c, "[data-testid=relations-list]").await.unwrap();
    assert!(listed.contains("team-a"), "{listed}");
    save_screenshot("entity.png", &c.screenshot().await.unwrap());
    c.find(css("[data-testid=tab-history]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("a history entry", || async {
        let e = c.find(css("[data-testid=history-entry]")).await.ok()?;
        (e.attr("data-change").await.ok()?? == "created").then_some(())
    })
    .await;

    // A change made through the API appears without a reload.
    c.find(css("[data-testid=tab-overview]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let marker = c
        .execute("window.__noReload = 'still here'; return 1", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!(1));
    // The entity belongs to its file location; a new version of it arrives
    // on the log as the ingestor would publish it.
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/backstage-examples/components/artist-lookup-component.yaml"
    ))
    .unwrap();
    let mut doc: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    doc["metadata"]["description"] = json!("Changed live while the page was open");
    catalog_e2e::events::publish(&p.log, vec![catalog_e2e::events::upsert_doc(doc, 2)]).await;
    eventually("the live change on the page", || async {
        let about = text_of(c, "[data-testid=about-card]").await?;
        about.contains("Changed live").then_some(())
    })
    .await;
    let still = c.execute("return window.__noReload", vec![]).await.unwrap();
    assert_eq!(still, json!("still here"), "the page was reloaded");

    // The plugins, each on its own URL.
    c.goto(&format!("{base}/plugins/tech-radar")).await.unwrap();
    eventually("radar entries", || async {
        let blips = c.find_all(css("[data-testid=radar-blip]")).await.ok()?;
        (blips.len() >= 5).then_some(())
    })
    .await;
    c.goto(&format!("{base}/plugins/ownership/group:default/team-a"))
        .await
        .unwrap();
    eventually_on(c, "team-a's components", || async {
        let owned = c
            .find_all(css(
                "[data-testid=owned-component] [data-testid=owned-entity]",
            ))
            .await
            .ok()?;
        let mut refs = Vec::new();
        for o in owned {
            refs.push(o.attr("data-entity-ref").await.ok()??);
        }
        refs.contains(&"component:default/artist-lookup".to_string())
            .then_some(())
    })
    .await;
    c.goto(&format!(
        "{base}/plugins/ci-builds/component/default/artist-lookup"
    ))
    .await
    .unwrap();
    let builds = eventually_on(c, "CI builds through the proxy", || async {
        let rows = c.find_all(css("[data-testid=ci-build]")).await.ok()?;
        (!rows.is_empty()).then_some(rows.len())
    })
    .await;
    assert!(builds >= 5, "{builds}");
    browser.client.close().await.unwrap();
    p.stop().await;
}
