//! Who the bridge takes a caller to be, and whether it refuses a request as
//! cross-site: any header block (bearer tokens, identity-proxy headers,
//! session cookies, Origin, Sec-Fetch-Site), from the proxy's address or
//! another, with any method. Nothing panics; an identity header is believed
//! only from the proxy; a guest session is never a verified identity.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use catalog_ui_bridge::auth::{Auth, AuthConfig, TrustedProxyConfig};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

fn auth() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let config = AuthConfig {
            session_secret: "fuzz-session-secret".into(),
            tokens: [(
                "fuzz-token-0123456789abcdef".into(),
                "user:default/carol".to_string(),
            )]
            .into_iter()
            .collect(),
            trusted_proxy: Some(TrustedProxyConfig {
                addresses: vec!["127.0.0.0/8".into()],
                user_header: "x-forwarded-user".into(),
                namespace: "default".into(),
            }),
            ..AuthConfig::default()
        };
        match Auth::new(&config, &["https://portal.example".to_string()]) {
            Ok(a) => a,
            Err(e) => panic!("the fuzz target's configuration: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    let proxy = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let elsewhere = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let from_proxy = auth().identify(&headers, proxy);
    let from_elsewhere = auth().identify(&headers, elsewhere);
    if let Some(id) = &from_elsewhere {
        // Without the proxy, only a configured token verifies a caller.
        assert!(!id.verified || id.token.is_some(), "{id:?}");
    }
    for id in [&from_proxy, &from_elsewhere].into_iter().flatten() {
        if id.verified && id.token.is_none() {
            assert!(id.user_entity_ref.starts_with("user:"), "{id:?}");
        }
    }
    for method in [Method::GET, Method::POST, Method::DELETE, Method::PUT] {
        let refusal = auth().csrf(&method, &headers, from_proxy.as_ref());
        if method == Method::GET {
            assert!(refusal.is_none());
        }
    }
});
