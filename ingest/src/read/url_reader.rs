//! `url` locations: HTTP GET with conditional requests (ETag /
//! Last-Modified), timeouts, a size limit, and redirects only within the same
//! origin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::Deserialize;
use url::Url;

use super::{MAX_SOURCE_BYTES, ReadError};

/// Settings of the URL reader.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlReaderConfig {
    /// Whole-request timeout, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest body accepted, in bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Hosts URL locations may be read from (like Backstage's
    /// `backend.reading.allow`): exact names, or `*.example.com` for
    /// subdomains. Empty allows every host.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

fn default_timeout_ms() -> u64 {
    10_000
}
fn default_max_bytes() -> usize {
    MAX_SOURCE_BYTES
}

impl Default for UrlReaderConfig {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            max_bytes: default_max_bytes(),
            allowed_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    etag: Option<String>,
    last_modified: Option<String>,
    body: String,
}

/// Reads URLs, remembering validators so unchanged documents cost a 304.
#[derive(Clone)]
pub struct UrlReader {
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
    cache: Arc<Mutex<HashMap<Url, Cached>>>,
    allowed_hosts: Arc<Vec<String>>,
}

const MAX_REDIRECTS: usize = 5;

impl UrlReader {
    pub fn new(config: &UrlReaderConfig) -> Result<Self, ReadError> {
        // One process-wide TLS provider; a second install is a no-op error.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let allowed_hosts = Arc::new(
            config
                .allowed_hosts
                .iter()
                .map(|h| h.to_lowercase())
                .collect::<Vec<_>>(),
        );
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if same_origin {
                attempt.follow()
            } else {
                let to = attempt.url().to_string();
                attempt.error(format!("redirect to another origin ({to})"))
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(policy)
            .user_agent(concat!("catalog-ingest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ReadError::Http(e.to_string()))?;
        Ok(Self {
            client,
            timeout,
            max_bytes: config.max_bytes,
            cache: Arc::new(Mutex::new(HashMap::new())),
            allowed_hosts,
        })
    }

    fn cached(&self, url: &Url) -> Option<Cached> {
        self.cache.lock().ok()?.get(url).cloned()
    }

    /// Whether `url`'s host may be read.
    pub fn allows(&self, url: &Url) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let host = url.host_str().unwrap_or_default().to_lowercase();
        self.allowed_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == *allowed,
            })
    }

    /// GETs `url`; answers a 304 from the cache.
    pub async fn read(&self, url: &Url) -> Result<String, ReadError> {
        if !self.allows(url) {
            return Err(ReadError::HostNotAllowed(
                url.host_str().unwrap_or_default().to_string(),
            ));
        }
        let cached = self.cached(url);
        let mut request = self.client.get(url.clone());
        if let Some(c) = &cached {
            if let Some(etag) = &c.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &c.last_modified {
                request = request.header(IF_MODIFIED_SINCE, lm);
            }
        }
        let response = request.send().await.map_err(|e| self.error(e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(c) = cached
        {
            return Ok(c.body);
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(ReadError::NotFound);
        }
        if !status.is_success() {
            return Err(ReadError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(ReadError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| self.error(e))?;
            if body.len() + chunk.len() > self.max_bytes {
                return Err(ReadError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(body).map_err(|_| ReadError::NotUtf8)?;
        if let Ok(mut cache) = self.cache.lock() {
            if etag.is_some() || last_modified.is_some() {
                cache.insert(
                    url.clone(),
                    Cached {
                        etag,
                        last_modified,
                        body: body.clone(),
                    },
                );
            } else {
                cache.remove(url);
            }
        }
        Ok(body)
    }

    fn error(&self, e: reqwest::Error) -> ReadError {
        if e.is_timeout() {
            ReadError::Timeout(self.timeout)
        } else if e.is_redirect() {
            let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
            let mut message = e.to_string();
            while let Some(s) = source {
                message = s.to_string();
                source = s.source();
            }
            ReadError::Redirect(message)
        } else {
            ReadError::Http(e.to_string())
        }
    }
}
