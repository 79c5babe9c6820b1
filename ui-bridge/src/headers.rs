//! Response headers that make the browser enforce what the bridge means:
//! a Content-Security-Policy that lets pages load code and data only from
//! the bridge (and the origins configured in `ui_bridge.csp_origins`), no
//! framing, no MIME sniffing, no referrer leaking to other origins; and
//! CORS for the origins in `ui_bridge.cors.allowed_origins` only.
//!
//! A proxied response is a third party's content served from the bridge's
//! origin: it gets a policy that runs nothing (`sandbox`,
//! `default-src 'none'`), so an HTML page from a target cannot script the
//! catalog.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The policy of proxied responses.
const PROXY_CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// The headers set on every response.
pub struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// `extra` are origins checked by the caller (`scheme://host[:port]`).
    pub fn new(extra: &[String]) -> Self {
        let extra = extra.join(" ");
        let with = |base: &str| {
            if extra.is_empty() {
                base.to_string()
            } else {
                format!("{base} {extra}")
            }
        };
        let csp = format!(
            "default-src 'self'; script-src {}; style-src {}; img-src {}; connect-src {}; \
             font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
             frame-ancestors 'none'",
            with("'self'"),
            with("'self'"),
            with("'self' data:"),
            with("'self'"),
        );
        Self {
            csp: HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        }
    }
}

/// Middleware: sets the headers on every response.
pub async fn set(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let proxied = request.uri().path().starts_with("/api/proxy/");
    let mut response = next.run(request).await;
    let out = response.headers_mut();
    if proxied {
        out.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PROXY_CSP),
        );
    } else {
        out.insert(header::CONTENT_SECURITY_POLICY, headers.csp.clone());
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    out.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    out.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// CORS for `origins` (checked by the caller): bearer-token calls from
/// those pages; no cookies (`credentials` stays off), so a listed origin
/// cannot act with a visitor's session either.
pub fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("traceparent"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_extra_origins() {
        let h = SecurityHeaders::new(&["https://cdn.example.com".into()]);
        let csp = h.csp.to_str().unwrap();
        assert!(
            csp.contains("script-src 'self' https://cdn.example.com;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let plain = SecurityHeaders::new(&[]);
        assert!(plain.csp.to_str().unwrap().contains("script-src 'self';"));
    }
}
