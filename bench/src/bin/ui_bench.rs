//! `ui-bench`: how fast the web UI's pages render in a real browser, and how
//! many bytes of assets each page loads. Runs against a running catalog
//! (`deploy/dev/run.sh`), driving headless Chromium through ChromeDriver.
//!
//! For each page it loads the URL `--runs` times in a fresh tab and reports
//! p50/p99 of: first contentful paint, and "data rendered" (the page's main
//! content, e.g. the catalog table's first row, in the DOM), both from the
//! start of navigation; and the page's transferred assets (HTML, CSS, JS,
//! JSON, images; API responses counted separately).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Measure the web UI in headless Chromium: render times and asset bytes per page")]
struct Args {
    /// The bridge's base URL.
    #[arg(long, default_value = "http://127.0.0.1:7007")]
    url: String,
    /// Loads per page.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// ChromeDriver and Chromium (default: found on PATH).
    #[arg(long, default_value = "chromedriver")]
    chromedriver: String,
    #[arg(long, default_value = "/usr/bin/chromium")]
    chromium: String,
}

/// Waits in the page for `selector`, then reports timings and transfers.
const MEASURE: &str = r#"
const [selector, done] = arguments;
const report = () => {
  const paint = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
  let assets = 0, api = 0;
  const nav = performance.getEntriesByType('navigation')[0];
  assets += nav ? nav.transferSize || nav.encodedBodySize : 0;
  for (const r of performance.getEntriesByType('resource')) {
    const size = r.transferSize || r.encodedBodySize || 0;
    if (new URL(r.name).pathname.startsWith('/api/')) api += size; else assets += size;
  }
  done({ fcp: paint ? paint.startTime : null, rendered: performance.now(), assets, api });
};
if (document.querySelector(selector)) { report(); return; }
new MutationObserver((_, obs) => {
  if (document.querySelector(selector)) { obs.disconnect(); report(); }
}).observe(document, { childList: true, subtree: true });
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(c: &Client, url: &str, selector: &str, runs: usize) -> anyhow::Result<()> {
    let (mut fcp, mut rendered, mut assets, mut api) = (Vec::new(), Vec::new(), 0.0, 0.0);
    for _ in 0..runs {
        // A fresh navigation each time, with the HTTP cache cleared.
        c.issue_cmd(ClearCache).await.ok();
        c.goto("about:blank").await?;
        c.goto(url).await?;
        let r = c
            .execute_async(MEASURE, vec![json!(selector)])
            .await
            .with_context(|| format!("waiting for {selector} on {url}"))?;
        if let Some(v) = r["fcp"].as_f64() {
            fcp.push(v);
        }
        rendered.push(r["rendered"].as_f64().unwrap_or(f64::NAN));
        assets = r["assets"].as_f64().unwrap_or(0.0);
        api = r["api"].as_f64().unwrap_or(0.0);
    }
    fcp.sort_by(f64::total_cmp);
    rendered.sort_by(f64::total_cmp);
    println!(
        "{url:<58} first paint p50 {:>6.1} ms p99 {:>6.1} ms | data rendered p50 {:>6.1} ms p99 {:>6.1} ms | assets {:>6.1} KB, API {:>5.1} KB",
        percentile(&fcp, 0.5),
        percentile(&fcp, 0.99),
        percentile(&rendered, 0.5),
        percentile(&rendered, 0.99),
        assets / 1024.0,
        api / 1024.0
    );
    Ok(())
}

/// Chrome's "clear browser cache" DevTools command through ChromeDriver.
#[derive(Debug)]
struct ClearCache;

impl fantoccini::wd::WebDriverCompatibleCommand for ClearCache {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"cmd": "Network.clearBrowserCache", "params": {}}).to_string()),
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The WebDriver client's TLS stack needs a process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _driver = tokio::process::Command::new(&args.chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.chromedriver))?;
    let mut waited = 0;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        waited += 1;
        if waited > 200 {
            bail!("chromedriver did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": args.chromium,
               "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,1000"]}),
    );
    let c = ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?;
    let base = args.url.trim_end_matches('/');
    // An entity to open: the first of the catalog.
    let first: Value = reqwest::get(format!("{base}/api/catalog/entities/by-query?limit=1"))
        .await?
        .json()
        .await?;
    let e = &first["items"][0];
    let entity = format!(
        "{base}/catalog/{}/{}/{}",
        e["metadata"]["namespace"].as_str().unwrap_or("default"),
        e["kind"].as_str().unwrap_or_default().to_lowercase(),
        e["metadata"]["name"].as_str().unwrap_or_default()
    );
    println!(
        "{} loads per page, cache cleared before each; headless Chromium on the same machine as the catalog",
        args.runs
    );
    measure(
        &c,
        &format!("{base}/catalog"),
        "[data-testid=catalog-row]",
        args.runs,
    )
    .await?;
    measure(&c, &entity, "[data-testid=about-card]", args.runs).await?;
    measure(
        &c,
        &format!("{base}/plugins/tech-radar"),
        "[data-testid=radar-blip]",
        args.runs,
    )
    .await?;
    c.close().await?;
    Ok(())
}
