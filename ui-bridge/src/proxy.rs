//! The third-party HTTP proxy (`/api/proxy/{endpoint}/...`): Backstage's
//! proxy-backend, configured under `ui_bridge.proxy` (reference §5).
//!
//! Owns: the endpoint configuration and its validation, the rules that decide
//! what reaches a target (path, method, headers, credentials, rate), and
//! streaming bodies both ways within size and time limits.
//!
//! Must never: follow an upstream redirect; send a path that escapes the
//! target's base path; forward cookies or the caller's credentials unless the
//! endpoint allows it; buffer a whole body; log an injected header's value.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{OriginalUri, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{BoxError, Router};
use futures::{Stream, StreamExt};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use percent_encoding::percent_decode;
use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use tracing::Instrument;
use url::Url;

use crate::auth::Identity;
use crate::rest::{RestError, error_name};

const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_MAX_REQUEST_BYTES: u64 = 10 << 20;
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 50 << 20;

/// Backstage's `safeForwardHeaders`: request headers every endpoint lets
/// through.
const SAFE_FORWARD_HEADERS: [HeaderName; 11] = [
    header::CACHE_CONTROL,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::EXPIRES,
    header::LAST_MODIFIED,
    header::PRAGMA,
    header::HOST,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::USER_AGENT,
];

/// Response headers every endpoint lets through: the safe headers (less
/// `host`) and those that describe the body or a redirect, none of which
/// carries a credential. `Location` must pass for redirects to reach the
/// caller.
const SAFE_RESPONSE_HEADERS: [HeaderName; 17] = [
    header::CACHE_CONTROL,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::EXPIRES,
    header::LAST_MODIFIED,
    header::PRAGMA,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::USER_AGENT,
    header::LOCATION,
    header::CONTENT_ENCODING,
    header::CONTENT_DISPOSITION,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::RETRY_AFTER,
];

/// `ui_bridge.proxy` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Endpoints by name, served at `/api/proxy/{name}`. `/simple` and
    /// `simple` name the same endpoint; a name may contain `/`
    /// (`/larger/v1`), and the longest name that prefixes a request path
    /// on a segment boundary serves it.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointConfig>,
    /// How long to wait for a target's response head, in milliseconds,
    /// unless an endpoint sets `timeoutMs`.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest request body forwarded, in bytes.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: u64,
    /// Largest response body returned, in bytes.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_max_request_bytes() -> u64 {
    DEFAULT_MAX_REQUEST_BYTES
}
fn default_max_response_bytes() -> u64 {
    DEFAULT_MAX_RESPONSE_BYTES
}
fn default_true() -> bool {
    true
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            endpoints: BTreeMap::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// One endpoint: a bare target URL (Backstage's short form, all options at
/// their defaults) or the full form.
#[derive(Debug, Clone)]
pub enum EndpointConfig {
    /// `/simple: http://host:8080`.
    Target(String),
    /// `/larger/v1: {target: ..., ...}`.
    Full(EndpointOptions),
}

impl<'de> Deserialize<'de> for EndpointConfig {
    // Written out rather than `#[serde(untagged)]` so that a mistake in
    // the full form reports the field at fault, not "did not match any
    // variant".
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EndpointVisitor;
        impl<'de> Visitor<'de> for EndpointVisitor {
            type Value = EndpointConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a target URL or a map with `target` and endpoint options")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EndpointConfig::Target(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                EndpointOptions::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(EndpointConfig::Full)
            }
        }
        deserializer.deserialize_any(EndpointVisitor)
    }
}

/// The full form of an endpoint, with Backstage's option names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointOptions {
    /// Where requests go: an `http` or `https` URL; its path is the base
    /// every forwarded path stays under.
    pub target: String,
    /// Rewrites of the path after the endpoint name (`/a/b` for
    /// `/api/proxy/{endpoint}/a/b`), applied before it is appended to the
    /// target's path: regular expression → replacement (`$1` names a
    /// group). When several match, the longest match wins (ties: the
    /// pattern that sorts first), because a config loader need not keep the
    /// order keys were written in. Without it, the path is appended
    /// unchanged.
    #[serde(default)]
    pub path_rewrite: BTreeMap<String, String>,
    /// `true` (default): `Host` is the target's; `false`: the caller's.
    #[serde(default = "default_true")]
    pub change_origin: bool,
    /// Headers set on every forwarded request, replacing the caller's. A
    /// value may name environment variables as `${NAME}` (`$${` is a
    /// literal `${`), read when the router is built.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Methods forwarded; others are refused with 405. Absent: all.
    #[serde(default)]
    pub allowed_methods: Option<Vec<String>>,
    /// Request and response headers let through besides the safe ones.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// `require` (default), `forward` or
    /// `dangerously-allow-unauthenticated`.
    #[serde(default)]
    pub credentials: Option<String>,
    /// Requests allowed through this endpoint over time, from all callers.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// Overrides `timeout_ms` for this endpoint.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl EndpointOptions {
    /// The options Backstage gives a bare target URL.
    pub fn for_target(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            path_rewrite: BTreeMap::new(),
            change_origin: true,
            headers: BTreeMap::new(),
            allowed_methods: None,
            allowed_headers: Vec::new(),
            credentials: None,
            rate_limit: None,
            timeout_ms: None,
        }
    }
}

/// `rateLimit`: `requests` per `per`, with bursts of up to `burst`
/// (default `requests`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests replenished per period.
    pub requests: u32,
    /// The period.
    pub per: RatePeriod,
    /// Requests allowed at once.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The period of a [`RateLimitConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RatePeriod {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
}

/// A proxy configuration that cannot be served. Each message names the
/// endpoint (as written) and the option at fault, never a header's value.
#[derive(Debug, thiserror::Error)]
pub enum ProxyConfigError {
    /// A global limit is out of range.
    #[error("ui_bridge.proxy.{key}: {message}")]
    Limit { key: &'static str, message: String },
    /// The endpoint's name cannot be a path prefix.
    #[error("proxy endpoint {endpoint:?}: invalid name: {message}")]
    Name { endpoint: String, message: String },
    /// `target` is not an http(s) URL.
    #[error("proxy endpoint {endpoint:?}: target {target:?} is not a valid URL: {message}")]
    Target {
        endpoint: String,
        target: String,
        message: String,
    },
    /// A `pathRewrite` pattern does not compile.
    #[error(
        "proxy endpoint {endpoint:?}: pathRewrite pattern {pattern:?} is not a valid regular expression: {source}"
    )]
    PathRewrite {
        endpoint: String,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    /// `credentials` is none of the three policies.
    #[error(
        "proxy endpoint {endpoint:?}: unknown credentials policy {policy:?} (expected require, forward or dangerously-allow-unauthenticated)"
    )]
    Credentials { endpoint: String, policy: String },
    /// A name in `headers` or `allowedHeaders` is not a header name.
    #[error("proxy endpoint {endpoint:?}: {key}: {header:?} is not a valid header name")]
    HeaderName {
        endpoint: String,
        key: &'static str,
        header: String,
    },
    /// A `headers` value is not a valid header value once substituted.
    #[error("proxy endpoint {endpoint:?}: headers.{header}: the value is not a valid header value")]
    HeaderValue { endpoint: String, header: String },
    /// A `headers` value names an environment variable that is not set.
    #[error(
        "proxy endpoint {endpoint:?}: headers.{header}: environment variable {variable} is not set"
    )]
    MissingEnv {
        endpoint: String,
        header: String,
        variable: String,
    },
    /// A `headers` value has a malformed `${...}`.
    #[error("proxy endpoint {endpoint:?}: headers.{header}: {message}")]
    Substitution {
        endpoint: String,
        header: String,
        message: String,
    },
    /// An `allowedMethods` entry is not a method.
    #[error("proxy endpoint {endpoint:?}: allowedMethods: {method:?} is not an HTTP method")]
    Method { endpoint: String, method: String },
    /// `rateLimit` or `timeoutMs` is out of range.
    #[error("proxy endpoint {endpoint:?}: {key}: {message}")]
    Invalid {
        endpoint: String,
        key: &'static str,
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("proxy endpoint {endpoint:?}: building the HTTP client: {message}")]
    Client { endpoint: String, message: String },
}

/// The proxy's routes, `/{endpoint}` and `/{endpoint}/{*path}`, to be
/// nested by the bridge at `/api/proxy`. Environment variables named in
/// `headers` are read now.
pub fn router(config: &ProxyConfig) -> Result<Router, ProxyConfigError> {
    // reqwest is built without a crypto provider; one process-wide
    // provider serves every client, and a second install is a no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = Arc::new(Proxy::from_config(config, &|name| {
        std::env::var(name).ok()
    })?);
    Ok(Router::new()
        .route("/{endpoint}", any(handle))
        .route("/{endpoint}/", any(handle))
        .route("/{endpoint}/{*path}", any(handle))
        .with_state(proxy))
}

/// Who may call an endpoint and what of their identity reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// A signed-in caller; nothing of the identity is forwarded.
    Require,
    /// A signed-in caller, whose token is forwarded as a bearer token.
    Forward,
    /// Anyone.
    AllowUnauthenticated,
}

impl Credentials {
    fn parse(policy: Option<&str>) -> Option<Self> {
        match policy {
            None | Some("require") => Some(Self::Require),
            Some("forward") => Some(Self::Forward),
            Some("dangerously-allow-unauthenticated") => Some(Self::AllowUnauthenticated),
            Some(_) => None,
        }
    }
}

/// The configured endpoints, ready to serve.
struct Proxy {
    /// Longest name first, so the first match is the longest.
    endpoints: Vec<Endpoint>,
    max_request_bytes: u64,
    max_response_bytes: u64,
}

/// One endpoint, validated.
struct Endpoint {
    /// Normalised: no leading or trailing `/`.
    name: String,
    /// `/` + name: what a request path starts with.
    prefix: String,
    target: Url,
    /// The target's path without a trailing `/`.
    base_path: String,
    rewrite: Vec<(Regex, String)>,
    change_origin: bool,
    /// Injected headers; values are marked sensitive.
    injected: Vec<(HeaderName, HeaderValue)>,
    allowed_methods: Option<Vec<Method>>,
    request_allow: HashSet<HeaderName>,
    response_allow: HashSet<HeaderName>,
    credentials: Credentials,
    limiter: Option<DefaultDirectRateLimiter>,
    timeout: Duration,
    client: reqwest::Client,
}

impl Proxy {
    fn from_config(
        config: &ProxyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ProxyConfigError> {
        for (key, value) in [
            ("timeout_ms", config.timeout_ms),
            ("max_request_bytes", config.max_request_bytes),
            ("max_response_bytes", config.max_response_bytes),
        ] {
            if value == 0 {
                return Err(ProxyConfigError::Limit {
                    key,
                    message: "must be greater than 0".into(),
                });
            }
        }
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(config.endpoints.len());
        for (written, endpoint) in &config.endpoints {
            let endpoint = Endpoint::build(written, endpoint, config, env)?;
            if endpoints.iter().any(|e| e.name == endpoint.name) {
                return Err(ProxyConfigError::Name {
                    endpoint: written.clone(),
                    message: format!("another endpoint is also named {:?}", endpoint.name),
                });
            }
            endpoints.push(endpoint);
        }
        endpoints.sort_by_key(|e| std::cmp::Reverse(e.prefix.len()));
        Ok(Self {
            endpoints,
            max_request_bytes: config.max_request_bytes,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// The endpoint serving `path` (relative to the proxy's mount point)
    /// and the rest of the path after its name.
    fn find<'p>(&self, path: &'p str) -> Option<(&Endpoint, &'p str)> {
        self.endpoints
            .iter()
            .find_map(|e| under(&e.prefix, path).map(|rest| (e, rest)))
    }

    async fn handle(&self, req: Request) -> Response {
        let original = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().clone(), |o| o.0.clone());
        let call = Call {
            method: req.method().clone(),
            url: original.to_string(),
        };
        // An absolute-form target (`GET http://host/... HTTP/1.1`) is what a
        // forward proxy receives; this one serves origin-form only. HTTP/2
        // always carries scheme and authority, so it is exempt.
        if req.version() < Version::HTTP_2
            && (original.scheme().is_some() || original.authority().is_some())
        {
            return call.refuse(
                StatusCode::BAD_REQUEST,
                "absolute-form request targets are not accepted by the proxy",
                None,
            );
        }
        if let Err(reason) = check_path(req.uri().path()) {
            return call.refuse(StatusCode::BAD_REQUEST, reason, None);
        }
        let path = req.uri().path().to_owned();
        let Some((endpoint, rest)) = self.find(&path) else {
            return call.refuse(
                StatusCode::NOT_FOUND,
                "no proxy endpoint is configured for this path",
                None,
            );
        };
        let span = tracing::debug_span!("proxy", endpoint = %endpoint.name, method = %call.method);
        let response = endpoint
            .forward(req, rest, self, &call)
            .instrument(span)
            .await
            .unwrap_or_else(|refused| refused);
        tracing::debug!(
            endpoint = %endpoint.name,
            method = %call.method,
            status = response.status().as_u16(),
            "proxied request"
        );
        response
    }
}

async fn handle(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    proxy.handle(req).await
}

/// The request being answered, for error bodies.
struct Call {
    method: Method,
    url: String,
}

impl Call {
    /// The bridge's own answer: Backstage's error body, with one extra
    /// header when given.
    fn refuse(
        &self,
        status: StatusCode,
        message: impl Into<String>,
        extra: Option<(HeaderName, HeaderValue)>,
    ) -> Response {
        let name = match status {
            StatusCode::UNAUTHORIZED => "AuthenticationError",
            _ => error_name(status),
        };
        let mut response = RestError {
            status,
            name,
            message: message.into(),
            method: self.method.to_string(),
            url: self.url.clone(),
        }
        .into_response();
        if let Some((name, value)) = extra {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl Endpoint {
    fn build(
        written: &str,
        config: &EndpointConfig,
        global: &ProxyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ProxyConfigError> {
        let endpoint = || written.to_owned();
        let short;
        let options = match config {
            EndpointConfig::Target(target) => {
                short = EndpointOptions::for_target(target.as_str());
                &short
            }
            EndpointConfig::Full(options) => options,
        };
        let name = normalise_name(written).map_err(|message| ProxyConfigError::Name {
            endpoint: endpoint(),
            message: message.into(),
        })?;
        let target = parse_target(&options.target).map_err(|message| ProxyConfigError::Target {
            endpoint: endpoint(),
            target: options.target.clone(),
            message,
        })?;
        let base_path = target.path().trim_end_matches('/').to_owned();

        let rewrite = options
            .path_rewrite
            .iter()
            .map(|(pattern, replacement)| {
                Regex::new(pattern)
                    .map(|re| (re, replacement.clone()))
                    .map_err(|source| ProxyConfigError::PathRewrite {
                        endpoint: endpoint(),
                        pattern: pattern.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let credentials = Credentials::parse(options.credentials.as_deref()).ok_or_else(|| {
            ProxyConfigError::Credentials {
                endpoint: endpoint(),
                policy: options.credentials.clone().unwrap_or_default(),
            }
        })?;

        let header_name = |key: &'static str, header: &str| {
            HeaderName::from_bytes(header.as_bytes()).map_err(|_| ProxyConfigError::HeaderName {
                endpoint: endpoint(),
                key,
                header: header.to_owned(),
            })
        };
        let mut injected = Vec::with_capacity(options.headers.len());
        for (header, template) in &options.headers {
            let name = header_name("headers", header)?;
            let value = substitute_env(template, env).map_err(|e| match e {
                SubstitutionError::Missing(variable) => ProxyConfigError::MissingEnv {
                    endpoint: endpoint(),
                    header: header.clone(),
                    variable,
                },
                SubstitutionError::Malformed(message) => ProxyConfigError::Substitution {
                    endpoint: endpoint(),
                    header: header.clone(),
                    message,
                },
            })?;
            let mut value =
                HeaderValue::from_str(&value).map_err(|_| ProxyConfigError::HeaderValue {
                    endpoint: endpoint(),
                    header: header.clone(),
                })?;
            value.set_sensitive(true);
            injected.push((name, value));
        }
        let allowed_headers = options
            .allowed_headers
            .iter()
            .map(|h| header_name("allowedHeaders", h))
            .collect::<Result<Vec<_>, _>>()?;

        let allowed_methods = options
            .allowed_methods
            .as_ref()
            .map(|methods| {
                methods
                    .iter()
                    .map(|m| {
                        Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                            ProxyConfigError::Method {
                                endpoint: endpoint(),
                                method: m.clone(),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;

        // Backstage's allow-list: safe headers, the injected ones, the
        // configured extras, and `authorization` only when forwarding.
        let mut request_allow: HashSet<HeaderName> = SAFE_FORWARD_HEADERS.into_iter().collect();
        request_allow.extend(injected.iter().map(|(name, _)| name.clone()));
        request_allow.extend(allowed_headers.iter().cloned());
        if credentials == Credentials::Forward {
            request_allow.insert(header::AUTHORIZATION);
        }
        let mut response_allow: HashSet<HeaderName> = SAFE_RESPONSE_HEADERS.into_iter().collect();
        response_allow.extend(allowed_headers);

        let limiter = options
            .rate_limit
            .as_ref()
            .map(rate_limiter)
            .transpose()
            .map_err(|message| ProxyConfigError::Invalid {
                endpoint: endpoint(),
                key: "rateLimit",
                message,
            })?;

        let timeout_ms = options.timeout_ms.unwrap_or(global.timeout_ms);
        if timeout_ms == 0 {
            return Err(ProxyConfigError::Invalid {
                endpoint: endpoint(),
                key: "timeoutMs",
                message: "must be greater than 0".into(),
            });
        }
        let timeout = Duration::from_millis(timeout_ms);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            // Between reads of a streamed body: a stalled target is cut
            // rather than holding the caller forever.
            .read_timeout(timeout)
            .build()
            .map_err(|e| ProxyConfigError::Client {
                endpoint: endpoint(),
                message: e.to_string(),
            })?;

        Ok(Self {
            prefix: format!("/{name}"),
            name,
            target,
            base_path,
            rewrite,
            change_origin: options.change_origin,
            injected,
            allowed_methods,
            request_allow,
            response_allow,
            credentials,
            limiter,
            timeout,
            client,
        })
    }

    /// Sends `req` to the target and streams its answer back; `Err` is the
    /// bridge's own refusal. `rest` is the path after the endpoint name,
    /// already checked by [`check_path`].
    async fn forward(
        &self,
        req: Request,
        rest: &str,
        limits: &Proxy,
        call: &Call,
    ) -> Result<Response, Response> {
        let (parts, body) = req.into_parts();
        let identity = parts.extensions.get::<Identity>();

        if self.credentials != Credentials::AllowUnauthenticated && identity.is_none() {
            return Err(call.refuse(
                StatusCode::UNAUTHORIZED,
                format!("proxy endpoint '{}' requires a signed-in caller", self.name),
                None,
            ));
        }
        if let Some(allowed) = &self.allowed_methods
            && !allowed.contains(&parts.method)
        {
            let allow = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(call.refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "proxy endpoint '{}' does not allow {} requests",
                    self.name, parts.method
                ),
                HeaderValue::from_str(&allow)
                    .ok()
                    .map(|v| (header::ALLOW, v)),
            ));
        }
        if let Some(limiter) = &self.limiter
            && let Err(not_until) = limiter.check()
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(call.refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!("proxy endpoint '{}' is over its rate limit", self.name),
                Some((header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))),
            ));
        }
        let max_request = limits.max_request_bytes;
        if declared_length(&parts.headers).is_some_and(|len| len > max_request) {
            return Err(call.refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than the proxy's limit of {max_request} bytes"),
                None,
            ));
        }

        let path = self
            .upstream_path(rest)
            .map_err(|reason| call.refuse(StatusCode::BAD_REQUEST, reason, None))?;
        let mut url = self.target.clone();
        url.set_path(&path);
        url.set_query(parts.uri.query());
        let headers = self
            .request_headers(&parts.headers, identity)
            .map_err(|reason| call.refuse(StatusCode::BAD_REQUEST, reason, None))?;

        let mut upstream = self
            .client
            .request(parts.method.clone(), url)
            .headers(headers);
        let too_large = Arc::new(AtomicBool::new(false));
        // A body known to be empty is not sent: a GET would otherwise go
        // out chunked, which some targets refuse.
        if body.size_hint().exact() != Some(0) {
            let flag = Arc::clone(&too_large);
            let stream = capped(body.into_data_stream(), max_request, move || {
                flag.store(true, Ordering::Relaxed);
            });
            upstream = upstream.body(reqwest::Body::wrap_stream(stream));
        }

        let answer = match tokio::time::timeout(self.timeout, upstream.send()).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) if too_large.load(Ordering::Relaxed) => {
                return Err(call.refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than the proxy's limit of {max_request} bytes"),
                    None,
                ));
            }
            Err(_) => return Err(self.timed_out(call)),
            Ok(Err(e)) if e.is_timeout() => return Err(self.timed_out(call)),
            Ok(Err(e)) => {
                // Without the URL: its query is the caller's.
                let error = error_chain(&e.without_url());
                tracing::warn!(endpoint = %self.name, %error, "proxy target unreachable");
                return Err(call.refuse(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "proxy endpoint '{}': the target could not be reached",
                        self.name
                    ),
                    None,
                ));
            }
        };

        let max_response = limits.max_response_bytes;
        if answer
            .content_length()
            .is_some_and(|len| len > max_response)
        {
            return Err(call.refuse(
                StatusCode::BAD_GATEWAY,
                format!(
                    "proxy endpoint '{}': the target's response is larger than the limit of {max_response} bytes",
                    self.name
                ),
                None,
            ));
        }
        let status = answer.status();
        let headers = filter_headers(answer.headers(), &self.response_allow);
        let name = self.name.clone();
        let body = capped(answer.bytes_stream(), max_response, move || {
            tracing::warn!(endpoint = %name, limit = max_response, "proxy response cut at the size limit");
        });
        let mut response = Response::new(Body::from_stream(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }

    fn timed_out(&self, call: &Call) -> Response {
        call.refuse(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "proxy endpoint '{}': the target did not answer within {} ms",
                self.name,
                self.timeout.as_millis()
            ),
            None,
        )
    }

    /// The target path for `rest`: the rewrite with the longest match
    /// applied, then appended to the target's base path.
    fn upstream_path(&self, rest: &str) -> Result<String, &'static str> {
        let rule = self
            .rewrite
            .iter()
            .filter_map(|(re, replacement)| Some((re.find(rest)?.len(), re, replacement)))
            .min_by_key(|(len, _, _)| std::cmp::Reverse(*len));
        let rewritten = match rule {
            Some((_, re, replacement)) => re.replace(rest, replacement.as_str()).into_owned(),
            None => rest.to_owned(),
        };
        let rewritten = if rewritten.is_empty() || rewritten.starts_with('/') {
            rewritten
        } else {
            format!("/{rewritten}")
        };
        // A rewrite must not produce what a caller may not send.
        if !rewritten.is_empty() && check_path(&rewritten).is_err() {
            return Err("the endpoint's pathRewrite produced an unsafe path");
        }
        let path = format!("{}{rewritten}", self.base_path);
        Ok(if path.is_empty() { "/".into() } else { path })
    }

    /// The headers sent to the target: the caller's that the endpoint lets
    /// through, the identity's token under `forward`, then the injected
    /// ones, which win.
    fn request_headers(
        &self,
        incoming: &HeaderMap,
        identity: Option<&Identity>,
    ) -> Result<HeaderMap, &'static str> {
        let mut out = filter_headers(incoming, &self.request_allow);
        if self.change_origin {
            // The client sets `Host` from the target URL.
            out.remove(header::HOST);
        }
        if self.credentials == Credentials::Forward
            && let Some(token) = identity.and_then(|i| i.token.as_deref())
        {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the caller's token cannot be sent in a header")?;
            value.set_sensitive(true);
            out.insert(header::AUTHORIZATION, value);
        }
        for (name, value) in &self.injected {
            out.insert(name.clone(), value.clone());
        }
        Ok(out)
    }
}

/// `headers` less those not in `allow`, hop-by-hop headers, and those the
/// `Connection` header names (RFC 9110 §7.6.1).
fn filter_headers(headers: &HeaderMap, allow: &HashSet<HeaderName>) -> HeaderMap {
    let named_by_connection: HashSet<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if allow.contains(name) && !is_hop_by_hop(name) && !named_by_connection.contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.as_str().starts_with("proxy-")
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `stream`, failing once more than `limit` bytes have passed; `on_exceed`
/// runs then, so the caller can tell the cut from other errors.
fn capped<S, E>(
    stream: S,
    limit: u64,
    on_exceed: impl Fn() + Send + 'static,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let mut seen: u64 = 0;
    stream.map(move |chunk| {
        let chunk = chunk.map_err(Into::into)?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > limit {
            on_exceed();
            return Err(format!("body is larger than the limit of {limit} bytes").into());
        }
        Ok(chunk)
    })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn parse_target(target: &str) -> Result<Url, String> {
    let url = Url::parse(target).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it must not have a query or fragment".into());
    }
    Ok(url)
}

fn rate_limiter(limit: &RateLimitConfig) -> Result<DefaultDirectRateLimiter, String> {
    let requests =
        NonZeroU32::new(limit.requests).ok_or("requests must be greater than 0".to_owned())?;
    let quota = match limit.per {
        RatePeriod::Second => Quota::per_second(requests),
        RatePeriod::Minute => Quota::per_minute(requests),
    };
    let quota = match limit.burst {
        None => quota,
        Some(burst) => quota
            .allow_burst(NonZeroU32::new(burst).ok_or("burst must be greater than 0".to_owned())?),
    };
    Ok(RateLimiter::direct(quota))
}

/// The rest of `path` after `prefix`, when `prefix` ends on a segment
/// boundary of it.
fn under<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The configured endpoints' names as requests use them (no leading or
/// trailing `/`).
pub fn endpoint_names(config: &ProxyConfig) -> Vec<String> {
    config
        .endpoints
        .keys()
        .map(|k| k.trim_matches('/').to_string())
        .collect()
}

/// Which of `names` a path below the proxy (`/{endpoint}/...`) is for: the
/// longest that prefixes it on a segment boundary, as the proxy routes.
pub fn endpoint_for<'a>(names: &'a [String], path: &str) -> Option<&'a str> {
    names
        .iter()
        .filter(|n| under(&format!("/{n}"), path).is_some())
        .max_by_key(|n| n.len())
        .map(String::as_str)
}

/// An endpoint name without its leading and trailing `/`, checked to be a
/// plain path prefix (it is compared with raw request paths).
fn normalise_name(written: &str) -> Result<String, &'static str> {
    let name = written.trim_matches('/');
    if name.is_empty() {
        return Err("it is empty");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
    {
        return Err("it may contain only letters, digits, '-', '.', '_', '~' and '/'");
    }
    if name.split('/').any(|s| matches!(s, "" | "." | "..")) {
        return Err("it has an empty, '.' or '..' segment");
    }
    Ok(name.to_owned())
}

/// Whether a raw (still percent-encoded) request path may be forwarded:
/// no segment may climb out of the base path, hide a separator, or carry a
/// control character, even after a second decoding by the target.
fn check_path(path: &str) -> Result<(), &'static str> {
    let Some(after_root) = path.strip_prefix('/') else {
        return Err("the path must start with '/'");
    };
    let segments: Vec<&str> = after_root.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        // `//` would read as a scheme-relative URL to some targets; a
        // trailing `/` is fine.
        if segment.is_empty() && i != last {
            return Err("empty path segments ('//') are not allowed");
        }
        if segment.contains('\\') {
            return Err("backslashes are not allowed in the path");
        }
        let once: Vec<u8> = percent_decode(segment.as_bytes()).collect();
        let twice: Vec<u8> = percent_decode(&once).collect();
        for decoded in [&once, &twice] {
            check_decoded_segment(decoded)?;
        }
    }
    Ok(())
}

fn check_decoded_segment(segment: &[u8]) -> Result<(), &'static str> {
    if segment.iter().any(|b| matches!(b, b'/' | b'\\')) {
        return Err("encoded slashes and backslashes are not allowed in the path");
    }
    if segment.iter().any(u8::is_ascii_control) {
        return Err("control characters are not allowed in the path");
    }
    // Servlet containers read `..;x` as `..`.
    let bare = segment.split(|&b| b == b';').next().unwrap_or_default();
    if bare == b"." || bare == b".." {
        return Err("'.' and '..' segments are not allowed in the path");
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum SubstitutionError {
    Missing(String),
    Malformed(String),
}

/// `template` with each `${NAME}` replaced by `lookup(NAME)`; `$${` is a
/// literal `${` (Backstage's config escape).
fn substitute_env(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SubstitutionError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let from_dollar = &rest[at..];
        if let Some(tail) = from_dollar.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = from_dollar.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| SubstitutionError::Malformed("'${' without a closing '}'".into()))?;
            let name = tail[..end].trim();
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SubstitutionError::Malformed(format!(
                    "{name:?} is not an environment variable name"
                )));
            }
            let value = lookup(name).ok_or_else(|| SubstitutionError::Missing(name.into()))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &from_dollar[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        let cases = [
            ("/ep", true),
            ("/ep/", true),
            ("/ep/a/b.json", true),
            ("/ep/a%20b/c", true),
            ("/ep/...", true),
            ("/ep/file%252etxt", true),
            ("/ep/../secret", false),
            ("/ep/..", false),
            ("/ep/./x", false),
            ("/ep/%2e%2e/secret", false),
            ("/ep/%2E%2e/secret", false),
            ("/ep/.%2E/secret", false),
            ("/ep/%252e%252e/secret", false),
            ("/ep/..;x/secret", false),
            ("/ep/a%2fb", false),
            ("/ep/a%2Fb", false),
            ("/ep/a%5cb", false),
            ("/ep/a\\b", false),
            ("/ep//evil.example/x", false),
            ("//evil.example/x", false),
            ("/ep/a%00b", false),
            ("/ep/a%0d%0aX: y", false),
            ("/ep/a%7f", false),
            ("ep/x", false),
        ];
        for (path, ok) in cases {
            assert_eq!(check_path(path).is_ok(), ok, "{path}");
        }
    }

    #[test]
    fn env_substitution() {
        let env = |name: &str| (name == "TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(
            substitute_env("Bearer ${TOKEN}", &env).unwrap(),
            "Bearer s3cret"
        );
        assert_eq!(substitute_env("${ TOKEN }-$x", &env).unwrap(), "s3cret-$x");
        assert_eq!(substitute_env("$${TOKEN}", &env).unwrap(), "${TOKEN}");
        assert_eq!(
            substitute_env("${NOPE}", &env),
            Err(SubstitutionError::Missing("NOPE".into()))
        );
        assert!(matches!(
            substitute_env("${TOKEN", &env),
            Err(SubstitutionError::Malformed(_))
        ));
        assert!(matches!(
            substitute_env("${1X}", &env),
            Err(SubstitutionError::Malformed(_))
        ));
    }

    #[test]
    fn endpoint_names_are_normalised() {
        assert_eq!(normalise_name("/simple").unwrap(), "simple");
        assert_eq!(normalise_name("simple").unwrap(), "simple");
        assert_eq!(normalise_name("/larger/v1/").unwrap(), "larger/v1");
        assert!(normalise_name("/").is_err());
        assert!(normalise_name("/a//b").is_err());
        assert!(normalise_name("/a/../b").is_err());
        assert!(normalise_name("/a b").is_err());
    }

    fn proxy(endpoints: &[(&str, &str)]) -> Proxy {
        let config = ProxyConfig {
            endpoints: endpoints
                .iter()
                .map(|(n, t)| (n.to_string(), EndpointConfig::Target(t.to_string())))
                .collect(),
            ..Default::default()
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        Proxy::from_config(&config, &|_| None).unwrap()
    }

    #[test]
    fn metrics_name_the_endpoint_the_proxy_routes_to() {
        let e = vec![
            "ci".to_string(),
            "larger/v1".to_string(),
            "larger".to_string(),
        ];
        assert_eq!(endpoint_for(&e, "/ci/api/x"), Some("ci"));
        assert_eq!(endpoint_for(&e, "/ci"), Some("ci"));
        assert_eq!(endpoint_for(&e, "/larger/v1/a"), Some("larger/v1"));
        assert_eq!(endpoint_for(&e, "/larger/v2"), Some("larger"));
        assert_eq!(endpoint_for(&e, "/cid/x"), None);
    }

    #[test]
    fn longest_name_on_a_segment_boundary_wins() {
        let p = proxy(&[("/larger", "http://h/one"), ("/larger/v1", "http://h/two")]);
        let name = |path| p.find(path).map(|(e, rest)| (e.name.as_str(), rest));
        assert_eq!(name("/larger/v1/x"), Some(("larger/v1", "/x")));
        assert_eq!(name("/larger/v1"), Some(("larger/v1", "")));
        assert_eq!(name("/larger/v10/x"), Some(("larger", "/v10/x")));
        assert_eq!(name("/largerx"), None);
    }

    #[test]
    fn upstream_path_appends_the_rest_to_the_base() {
        let p = proxy(&[("a", "http://h/base/"), ("b", "http://h")]);
        let (a, _) = p.find("/a").unwrap();
        assert_eq!(a.upstream_path("/x/y").unwrap(), "/base/x/y");
        assert_eq!(a.upstream_path("").unwrap(), "/base");
        assert_eq!(a.upstream_path("/").unwrap(), "/base/");
        let (b, _) = p.find("/b").unwrap();
        assert_eq!(b.upstream_path("").unwrap(), "/");
        assert_eq!(b.upstream_path("/x").unwrap(), "/x");
    }

    #[test]
    fn the_longest_rewrite_match_wins() {
        let config: ProxyConfig = serde_json::from_value(serde_json::json!({"endpoints": {"ep": {
            "target": "http://h/base",
            "pathRewrite": {"^/v1": "/old", "^/v1/items/(.*)$": "/items/$1", "x$": "y"},
        }}}))
        .unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let p = Proxy::from_config(&config, &|_| None).unwrap();
        let (ep, _) = p.find("/ep").unwrap();
        assert_eq!(ep.upstream_path("/v1/items/7").unwrap(), "/base/items/7");
        assert_eq!(ep.upstream_path("/v1/other").unwrap(), "/base/old/other");
        assert_eq!(ep.upstream_path("/ax").unwrap(), "/base/ay");
        assert_eq!(ep.upstream_path("/none").unwrap(), "/base/none");
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close, x-a"));
        h.insert("x-a", HeaderValue::from_static("1"));
        h.insert("x-b", HeaderValue::from_static("2"));
        h.insert("proxy-authorization", HeaderValue::from_static("3"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let allow: HashSet<HeaderName> = ["x-a", "x-b", "proxy-authorization", "transfer-encoding"]
            .into_iter()
            .map(HeaderName::from_static)
            .collect();
        let out = filter_headers(&h, &allow);
        assert_eq!(out.len(), 1);
        assert_eq!(out["x-b"], "2");
    }
}
