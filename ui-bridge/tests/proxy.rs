//! The proxy against real HTTP servers on loopback: a target that records
//! every request it receives, the proxy router nested at `/api/proxy` (with
//! a signed-in caller when a test wants one), and reqwest or hand-written
//! HTTP/1.1 as the browser. Every refusal is checked against the target's
//! record: nothing may have reached it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use catalog_ui_bridge::auth::Identity;
use catalog_ui_bridge::proxy::{self, ProxyConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the target received it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

type Record = Arc<Mutex<Vec<Seen>>>;

/// A target server. The last path segment picks the behaviour: `slow`,
/// `big`, `big-stream`, `redirect?to=URL`, `fail`, `cookie`; anything
/// else echoes the request body.
struct Upstream {
    addr: SocketAddr,
    seen: Record,
}

impl Upstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Record::default();
        let app = Router::new().fallback(target).with_state(Arc::clone(&seen));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn target(State(seen): State<Record>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    match parts.uri.path().rsplit('/').next().unwrap_or_default() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late".into_response()
        }
        "big" => vec![b'x'; 4096].into_response(),
        "big-stream" => Body::from_stream(futures::stream::iter(
            (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 1024]))),
        ))
        .into_response(),
        "redirect" => {
            let to = parts.uri.query().and_then(|q| q.strip_prefix("to="));
            (StatusCode::FOUND, [(header::LOCATION, to.unwrap_or("/"))]).into_response()
        }
        "fail" => (StatusCode::SERVICE_UNAVAILABLE, "upstream says no").into_response(),
        "cookie" => (
            [
                (header::SET_COOKIE, "session=upstream-secret"),
                (header::HeaderName::from_static("x-upstream-extra"), "1"),
            ],
            "ok",
        )
            .into_response(),
        _ => body.into_response(),
    }
}

/// Serves `config`'s proxy at `/api/proxy`, with `identity` as the caller
/// of every request when given.
async fn start_proxy(config: Value, identity: Option<Identity>) -> SocketAddr {
    let config: ProxyConfig = serde_json::from_value(config).unwrap();
    let mut app = Router::new().nest("/api/proxy", proxy::router(&config).unwrap());
    if let Some(identity) = identity {
        app = app.layer(Extension(identity));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn alice() -> Option<Identity> {
    Some(Identity {
        user_entity_ref: "user:default/alice".into(),
        token: Some("alice-token".into()),
        verified: true,
        ambient: false,
    })
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> reqwest::Response {
    client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap()
}

/// Sends `GET {target}` as written, which reqwest would normalise, and
/// returns the status and the whole response text.
async fn raw_get(addr: SocketAddr, target: &str, extra_headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn error_body(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn configured_headers_are_injected_with_environment_values() {
    const VAR: &str = "CATALOG_UI_BRIDGE_PROXY_TEST_INJECTED_KEY";
    // SAFETY: nextest runs each test in its own process, and this one sets
    // the variable before anything else in it runs or reads the environment.
    unsafe { std::env::set_var(VAR, "from-env") };
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"/ep": {
            "target": up.url("/base"),
            "headers": {"X-Api-Key": format!("key-${{{VAR}}}"), "Authorization": format!("Bearer ${{{VAR}}}")},
        }}}),
        alice(),
    )
    .await;
    let res = client()
        .get(format!("http://{addr}/api/proxy/ep/x"))
        .header("x-api-key", "caller-key")
        .header("authorization", "Bearer caller")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers.get_all("x-api-key").iter().count(), 1);
    assert_eq!(header(&seen[0], "x-api-key"), Some("key-from-env"));
    assert_eq!(seen[0].headers.get_all("authorization").iter().count(), 1);
    assert_eq!(header(&seen[0], "authorization"), Some("Bearer from-env"));
}

#[tokio::test]
async fn cookie_authorization_and_forwarding_headers_are_not_forwarded_by_default() {
    let up = Upstream::start().await;
    let addr = start_proxy(json!({"endpoints": {"/ep": up.url("/base")}}), alice()).await;
    let res = client()
        .post(format!("http://{addr}/api/proxy/ep/x"))
        .header("cookie", "session=browser-secret")
        .header("authorization", "Bearer browser-secret")
        .header("x-forwarded-for", "10.0.0.1")
        .header("x-auth-request-user", "mallory")
        .header("accept", "application/json")
        .header("user-agent", "proxy-test")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "hello");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    for dropped in [
        "cookie",
        "authorization",
        "x-forwarded-for",
        "x-auth-request-user",
    ] {
        assert!(s.headers.get(dropped).is_none(), "{dropped} leaked");
    }
    assert_eq!(header(s, "accept"), Some("application/json"));
    assert_eq!(header(s, "user-agent"), Some("proxy-test"));
    assert_eq!(header(s, "content-type"), Some("text/plain"));
    assert_eq!(s.body, "hello");
    for (name, value) in &s.headers {
        let value = value.to_str().unwrap_or_default();
        assert!(
            !value.contains("secret") && !value.contains("alice-token"),
            "{name} leaked {value}"
        );
    }
}

#[tokio::test]
async fn forward_policy_sends_the_identity_token() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"ep": {"target": up.url("/"), "credentials": "forward"}}}),
        alice(),
    )
    .await;
    let res = client()
        .get(format!("http://{addr}/api/proxy/ep/x"))
        .header("authorization", "Bearer browser")
        .header("cookie", "session=browser-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        header(&seen[0], "authorization"),
        Some("Bearer alice-token")
    );
    assert!(seen[0].headers.get("cookie").is_none());
}

#[tokio::test]
async fn require_and_forward_policies_refuse_anonymous_callers_with_401() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {
            "req": up.url("/"),
            "fwd": {"target": up.url("/"), "credentials": "forward"},
        }}),
        None,
    )
    .await;
    for endpoint in ["req", "fwd"] {
        let res = get(addr, &format!("/api/proxy/{endpoint}/x?y=1")).await;
        assert_eq!(res.status(), 401, "{endpoint}");
        let body = error_body(res).await;
        assert_eq!(body["error"]["name"], "AuthenticationError");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(endpoint)
        );
        assert_eq!(body["request"]["method"], "GET");
        assert_eq!(
            body["request"]["url"],
            format!("/api/proxy/{endpoint}/x?y=1")
        );
        assert_eq!(body["response"]["statusCode"], 401);
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn dangerously_allow_unauthenticated_needs_no_identity() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"open": {"target": up.url("/"), "credentials": "dangerously-allow-unauthenticated"}}}),
        None,
    )
    .await;
    assert_eq!(get(addr, "/api/proxy/open/x").await.status(), 200);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn forbidden_method_is_405_and_nothing_reaches_the_target() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"ep": {"target": up.url("/"), "allowedMethods": ["GET"]}}}),
        alice(),
    )
    .await;
    let res = client()
        .delete(format!("http://{addr}/api/proxy/ep/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET");
    assert_eq!(error_body(res).await["response"]["statusCode"], 405);
    assert!(up.seen().is_empty());
    assert_eq!(get(addr, "/api/proxy/ep/x").await.status(), 200);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn allowed_headers_pass_both_ways_and_others_are_dropped() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {
            "plain": up.url("/"),
            "open": {"target": up.url("/"), "allowedHeaders": ["X-Allowed", "Set-Cookie", "X-Upstream-Extra"]},
        }}),
        alice(),
    )
    .await;
    let res = client()
        .get(format!("http://{addr}/api/proxy/open/cookie"))
        .header("x-allowed", "yes")
        .header("x-other", "no")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["set-cookie"], "session=upstream-secret");
    assert_eq!(res.headers()["x-upstream-extra"], "1");
    let res = client()
        .get(format!("http://{addr}/api/proxy/plain/cookie"))
        .header("x-allowed", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(res.headers().get("x-upstream-extra").is_none());
    assert_eq!(res.text().await.unwrap(), "ok");

    // A header the caller marks hop-by-hop is dropped even when allowed.
    let (status, _) = raw_get(
        addr,
        "/api/proxy/open/hop",
        "X-Allowed: hop\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nConnection: x-allowed\r\n",
    )
    .await;
    assert_eq!(status, 200);

    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(header(&seen[0], "x-allowed"), Some("yes"));
    assert!(seen[0].headers.get("x-other").is_none());
    assert!(seen[1].headers.get("x-allowed").is_none());
    for hop in ["x-allowed", "keep-alive", "te"] {
        assert!(seen[2].headers.get(hop).is_none(), "{hop} leaked");
    }
}

#[tokio::test]
async fn traversal_and_smuggled_separators_are_400_and_nothing_reaches_the_target() {
    let up = Upstream::start().await;
    let addr = start_proxy(json!({"endpoints": {"ep": up.url("/base")}}), alice()).await;
    for path in [
        "/api/proxy/ep/../secret",
        "/api/proxy/ep/..",
        "/api/proxy/ep/./secret",
        "/api/proxy/ep/%2e%2e/secret",
        "/api/proxy/ep/%2E%2e/secret",
        "/api/proxy/ep/.%2e/secret",
        "/api/proxy/ep/%252e%252e/secret",
        "/api/proxy/ep/..;/secret",
        "/api/proxy/ep/a%2fb",
        "/api/proxy/ep/a%2F..%2Fb",
        "/api/proxy/ep/a%5cb",
        "/api/proxy/ep/a\\b",
        "/api/proxy/ep//evil.example/x",
        "/api/proxy/ep/a%00b",
        "/api/proxy/ep/a%0d%0aX-Injected:%201",
    ] {
        let (status, text) = raw_get(addr, path, "").await;
        assert_eq!(status, 400, "{path}: {text}");
        // The proxy's own refusal, not the HTTP parser's.
        assert!(text.contains("\"InputError\""), "{path}: {text}");
    }
    assert!(up.seen().is_empty(), "{:?}", up.seen());
    // The same request with a plain path does go through.
    let (status, _) = raw_get(addr, "/api/proxy/ep/fine?q=%2e%2e", "").await;
    assert_eq!(status, 200);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/base/fine?q=%2e%2e");
}

#[tokio::test]
async fn absolute_form_request_is_400() {
    let up = Upstream::start().await;
    let addr = start_proxy(json!({"endpoints": {"ep": up.url("/")}}), alice()).await;
    let (status, text) = raw_get(addr, "http://evil.example/api/proxy/ep/x", "").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("absolute-form"), "{text}");
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn redirect_to_another_host_is_returned_not_followed() {
    let up = Upstream::start().await;
    let other = Upstream::start().await;
    let addr = start_proxy(json!({"endpoints": {"ep": up.url("/")}}), alice()).await;
    let location = other.url("/stolen");
    let res = get(addr, &format!("/api/proxy/ep/redirect?to={location}")).await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], location.as_str());
    assert_eq!(up.seen().len(), 1);
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn slow_target_is_504() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"ep": {"target": up.url("/"), "timeoutMs": 300}}}),
        alice(),
    )
    .await;
    let started = Instant::now();
    let res = get(addr, "/api/proxy/ep/slow").await;
    assert_eq!(res.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(4));
    let body = error_body(res).await;
    assert_eq!(body["error"]["name"], "TimeoutError");
}

#[tokio::test]
async fn oversized_response_is_502_or_cut() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"max_response_bytes": 1024, "endpoints": {"ep": up.url("/")}}),
        alice(),
    )
    .await;
    let res = get(addr, "/api/proxy/ep/big").await;
    assert_eq!(res.status(), 502);
    assert!(
        error_body(res).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than the limit")
    );
    // Without a Content-Length the limit is only known mid-stream: the
    // body is cut, which the caller sees as a broken response.
    let res = get(addr, "/api/proxy/ep/big-stream").await;
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.is_err());
}

#[tokio::test]
async fn unreachable_target_is_502_naming_only_the_endpoint() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = start_proxy(
        json!({"endpoints": {"down": format!("http://127.0.0.1:{port}/")}}),
        alice(),
    )
    .await;
    let res = get(addr, "/api/proxy/down/x").await;
    assert_eq!(res.status(), 502);
    let message = error_body(res).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("'down'"), "{message}");
    assert!(!message.contains(&port.to_string()), "{message}");
}

#[tokio::test]
async fn target_errors_pass_through_with_status_and_body() {
    let up = Upstream::start().await;
    let addr = start_proxy(json!({"endpoints": {"ep": up.url("/")}}), alice()).await;
    let res = get(addr, "/api/proxy/ep/fail").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.text().await.unwrap(), "upstream says no");
}

#[tokio::test]
async fn requests_over_the_rate_limit_are_429() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"ep": {"target": up.url("/"), "rateLimit": {"requests": 2, "per": "minute"}}}}),
        alice(),
    )
    .await;
    assert_eq!(get(addr, "/api/proxy/ep/1").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/ep/2").await.status(), 200);
    let res = get(addr, "/api/proxy/ep/3").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(error_body(res).await["response"]["statusCode"], 429);
    assert_eq!(up.seen().len(), 2);
}

fn chunks(count: usize, size: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| (0..size).map(|j| ((i * 31 + j) % 251) as u8).collect())
        .collect()
}

fn streamed(chunks: Vec<Vec<u8>>) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ))
}

#[tokio::test]
async fn streamed_request_body_arrives_intact() {
    let up = Upstream::start().await;
    let addr = start_proxy(json!({"endpoints": {"ep": up.url("/")}}), alice()).await;
    let parts = chunks(64, 1000);
    let whole: Vec<u8> = parts.concat();
    let res = client()
        .put(format!("http://{addr}/api/proxy/ep/upload"))
        .header("content-type", "application/octet-stream")
        .body(streamed(parts))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap(), whole);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::PUT);
    assert_eq!(seen[0].body, whole);
}

#[tokio::test]
async fn request_body_over_the_limit_is_413() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"max_request_bytes": 1024, "endpoints": {"ep": up.url("/")}}),
        alice(),
    )
    .await;
    let res = client()
        .post(format!("http://{addr}/api/proxy/ep/declared"))
        .body(vec![b'a'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(up.seen().is_empty());
    // Streamed, the size is only known once the limit is passed.
    let res = client()
        .post(format!("http://{addr}/api/proxy/ep/streamed"))
        .body(streamed(chunks(4, 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn path_rewrite_is_applied_to_the_path_after_the_endpoint() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {
            "ep": {"target": up.url("/base"), "pathRewrite": {"^/old/(.*)$": "/new/$1"}},
            "plain": up.url("/base/"),
        }}),
        alice(),
    )
    .await;
    assert_eq!(
        get(addr, "/api/proxy/ep/old/x?q=a%20b&r=1").await.status(),
        200
    );
    assert_eq!(get(addr, "/api/proxy/ep/other").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/plain/a/b?x=1").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/plain").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/plain/").await.status(), 200);
    let uris: Vec<String> = up.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(
        uris,
        [
            "/base/new/x?q=a%20b&r=1",
            "/base/other",
            "/base/a/b?x=1",
            "/base",
            "/base/"
        ]
    );
}

#[tokio::test]
async fn endpoint_names_with_slashes_match_the_longest_prefix() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {"/larger": up.url("/one"), "larger/v1": up.url("/two")}}),
        alice(),
    )
    .await;
    assert_eq!(get(addr, "/api/proxy/larger/v1/x").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/larger/v10/x").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/larger").await.status(), 200);
    let res = get(addr, "/api/proxy/nope/x").await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_body(res).await["error"]["name"], "NotFoundError");
    let uris: Vec<String> = up.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(uris, ["/two/x", "/one/v10/x", "/one"]);
}

#[tokio::test]
async fn change_origin_decides_the_host_header() {
    let up = Upstream::start().await;
    let addr = start_proxy(
        json!({"endpoints": {
            "changed": up.url("/"),
            "kept": {"target": up.url("/"), "changeOrigin": false},
        }}),
        alice(),
    )
    .await;
    assert_eq!(get(addr, "/api/proxy/changed/x").await.status(), 200);
    assert_eq!(get(addr, "/api/proxy/kept/x").await.status(), 200);
    let seen = up.seen();
    assert_eq!(header(&seen[0], "host"), Some(up.addr.to_string().as_str()));
    assert_eq!(header(&seen[1], "host"), Some(addr.to_string().as_str()));
}

fn config_error(config: Value) -> String {
    let config: ProxyConfig = serde_json::from_value(config).unwrap();
    match proxy::router(&config) {
        Ok(_) => panic!("config accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_errors_name_the_endpoint_and_the_problem() {
    let message = config_error(json!({"endpoints": {"/bad-url": "not a url"}}));
    assert!(message.contains("\"/bad-url\""), "{message}");
    assert!(message.contains("not a valid URL"), "{message}");

    let message = config_error(
        json!({"endpoints": {"/policy": {"target": "http://h/", "credentials": "sometimes"}}}),
    );
    assert!(message.contains("\"/policy\""), "{message}");
    assert!(
        message.contains("unknown credentials policy \"sometimes\""),
        "{message}"
    );

    let message = config_error(json!({"endpoints": {"/env": {
        "target": "http://h/",
        "headers": {"X-Key": "${CATALOG_UI_BRIDGE_PROXY_TEST_NEVER_SET}"},
    }}}));
    assert!(message.contains("\"/env\""), "{message}");
    assert!(message.contains("X-Key"), "{message}");
    assert!(
        message.contains("CATALOG_UI_BRIDGE_PROXY_TEST_NEVER_SET is not set"),
        "{message}"
    );

    let message = config_error(
        json!({"endpoints": {"/re": {"target": "http://h/", "pathRewrite": {"(": "/"}}}}),
    );
    assert!(message.contains("\"/re\""), "{message}");
    assert!(message.contains("pathRewrite pattern \"(\""), "{message}");

    let message = config_error(
        json!({"endpoints": {"/value": {"target": "http://h/", "headers": {"X-Key": "secret\nvalue"}}}}),
    );
    assert!(message.contains("X-Key"), "{message}");
    assert!(!message.contains("secret"), "{message}");

    let unknown = serde_json::from_value::<ProxyConfig>(
        json!({"endpoints": {"/x": {"target": "http://h/", "bogus": true}}}),
    )
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("bogus"), "{unknown}");
}

/// The example from the bridge's documentation, as the catalog's loader
/// reads it (YAML into a JSON value, then the typed config).
#[test]
fn yaml_config_in_backstage_shape_is_accepted() {
    // SAFETY: nextest runs each test in its own process; set before any
    // other code here reads the environment.
    unsafe { std::env::set_var("CATALOG_UI_BRIDGE_PROXY_TEST_YAML_TOKEN", "t") };
    let yaml = r#"
timeout_ms: 10000
max_request_bytes: 1048576
endpoints:
  /simple: http://127.0.0.1:8080
  '/larger/v1':
    target: https://example.com/svc.v1
    changeOrigin: true
    pathRewrite:
      '^/old/(.*)$': '/new/$1'
    headers:
      Authorization: Bearer ${CATALOG_UI_BRIDGE_PROXY_TEST_YAML_TOKEN}
    allowedMethods: [GET, POST]
    allowedHeaders: [X-Request-Id]
    credentials: forward
    rateLimit: {requests: 10, per: second, burst: 20}
    timeoutMs: 5000
"#;
    let value: Value = serde_saphyr::from_str(yaml).unwrap();
    let config: ProxyConfig = serde_json::from_value(value).unwrap();
    assert_eq!(config.endpoints.len(), 2);
    assert_eq!(config.max_response_bytes, 50 << 20);
    assert!(proxy::router(&config).is_ok());
}
