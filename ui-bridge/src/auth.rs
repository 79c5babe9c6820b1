//! Who is calling: the identity the bridge attaches to each request (an
//! [`Identity`] request extension), how it is passed on to the API, and the
//! checks on state-changing browser requests (CSRF).
//!
//! Sign-in, strongest first:
//! - `Authorization: Bearer <token>` with a token from `ui_bridge.auth.tokens`
//!   (token → user entity ref). A bearer token the bridge does not know is
//!   passed to the API as it is (a JWT from the identity provider), which
//!   decides.
//! - A trusted authenticating reverse proxy (oauth2-proxy style): its
//!   identity header (`x-forwarded-user` by default) is believed only on
//!   connections from `ui_bridge.auth.trusted_proxy.addresses`; from any
//!   other peer it is ignored.
//! - Guest sign-in (`POST /api/identity/sign-in {userEntityRef}`, when
//!   `guest_sign_in` is on, as in the demo): a cookie holding the ref and an
//!   HMAC-SHA256 of it under the session secret (`HttpOnly`,
//!   `SameSite=Strict`). Anyone may claim any name this way, so a guest is
//!   shown as that user but never acts as them: the API sees an anonymous
//!   caller.
//!
//! To the API the bridge sends its own credential (`ui_bridge.auth.api_token`,
//! a token the API lets act for users) and, for a verified identity, the
//! user's ref in `x-catalog-user`.
//!
//! CSRF: a state-changing request (not GET/HEAD/OPTIONS) that is not
//! authenticated by a bearer token is refused with 403 when its `Origin` is
//! neither this bridge nor an allowed CORS origin, when the browser marks it
//! `Sec-Fetch-Site: cross-site`, or when it carries ambient credentials (the
//! session cookie, or the trusted proxy's identity) without the
//! `X-Catalog-Request` header, which a page on another origin cannot send
//! without a CORS preflight the bridge refuses.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_telemetry::Secret;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::rest::{Req, RestError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "catalog_session";
/// Who an anonymous caller is shown as.
pub const GUEST: &str = "user:default/guest";
/// The header a browser's state-changing requests carry (see the module).
pub const CSRF_HEADER: &str = "x-catalog-request";
/// The header the API reads a delegated user from.
pub const API_USER_HEADER: &str = "x-catalog-user";

/// A caller the bridge recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's entity ref, e.g. `user:default/guest`.
    pub user_entity_ref: String,
    /// How the caller proved it: the bearer token it sent (forwarded by
    /// proxy endpoints with `credentials: forward`), if any.
    pub token: Option<String>,
    /// Proven (a configured token, the trusted proxy), not merely claimed
    /// (guest sign-in): only a proven identity acts as the user at the API.
    pub verified: bool,
    /// Signed in by ambient browser credentials (cookie, trusted proxy),
    /// which CSRF checks guard.
    pub ambient: bool,
}

/// `ui_bridge.auth` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Signs session cookies; share it between bridge replicas. Random at
    /// start-up when empty (sessions then end with the process).
    #[serde(default)]
    pub session_secret: Secret,
    /// Bearer tokens for API callers: token → user entity ref. The keys
    /// are the tokens themselves (`${VAR}` is not expanded in keys); prefer
    /// `bearer_tokens`, whose tokens may come from the environment or files.
    #[serde(default)]
    pub tokens: BTreeMap<Secret, String>,
    /// Bearer tokens for API callers, each naming its user.
    #[serde(default)]
    pub bearer_tokens: Vec<BearerToken>,
    /// Whether anyone may sign in as a guest under a name of their choice
    /// (display only: guests act as anonymous callers). On by default, for
    /// the demo; a deployment behind an identity proxy turns it off.
    #[serde(default = "default_true")]
    pub guest_sign_in: bool,
    /// The authenticating reverse proxy in front of the bridge.
    #[serde(default)]
    pub trusted_proxy: Option<TrustedProxyConfig>,
    /// The bridge's credential at the API (a token the API lets act for
    /// users); none when the API does not authenticate.
    #[serde(default)]
    pub api_token: Secret,
    /// Or a file holding it (a mounted secret).
    #[serde(default)]
    pub api_token_file: Option<PathBuf>,
}

fn default_true() -> bool {
    true
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_secret: Secret::default(),
            tokens: BTreeMap::new(),
            bearer_tokens: Vec::new(),
            guest_sign_in: true,
            trusted_proxy: None,
            api_token: Secret::default(),
            api_token_file: None,
        }
    }
}

/// One of `ui_bridge.auth.bearer_tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerToken {
    /// The user entity ref the token signs in.
    pub user: String,
    /// The token (as `${VAR}`), or
    #[serde(default)]
    pub token: Secret,
    /// a file holding it (a mounted secret).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// `ui_bridge.auth.trusted_proxy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedProxyConfig {
    /// The proxy's addresses or networks (`10.0.0.0/8`, `127.0.0.1`); the
    /// identity header is believed only on connections from them.
    pub addresses: Vec<String>,
    /// The header naming the user: a user entity ref, a name, or an e-mail
    /// address (its local part is the name).
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// The namespace of users named without one.
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_user_header() -> String {
    "x-forwarded-user".into()
}
fn default_namespace() -> String {
    catalog_model::entity_ref::DEFAULT_NAMESPACE.into()
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("ui_bridge.auth: {0}")]
pub struct AuthConfigError(String);

struct TrustedProxy {
    networks: Vec<ipnet::IpNet>,
    header: header::HeaderName,
    namespace: String,
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(token.as_bytes()).into()
}

/// Recognises callers.
#[derive(Clone)]
pub struct Auth {
    key: Vec<u8>,
    /// SHA-256 of each token → its user (looked up by digest, so the time
    /// a lookup takes says nothing about the tokens).
    tokens: std::sync::Arc<std::collections::HashMap<[u8; 32], String>>,
    guest_sign_in: bool,
    proxy: Option<std::sync::Arc<TrustedProxy>>,
    api_token: Option<HeaderValue>,
    /// Origins besides the bridge's own that may send state-changing requests.
    allowed_origins: std::sync::Arc<Vec<String>>,
}

/// What the bridge sends the API for the current request (set by
/// [`attach`] for the request's task, read by [`ApiCredentialsLayer`]).
#[derive(Debug, Clone, Default)]
pub struct ApiCaller {
    /// `authorization` for the API.
    pub authorization: Option<HeaderValue>,
    /// `x-catalog-user` for the API.
    pub user: Option<HeaderValue>,
}

tokio::task_local! {
    static API_CALLER: ApiCaller;
}

impl Auth {
    pub fn new(config: &AuthConfig, allowed_origins: &[String]) -> Result<Self, AuthConfigError> {
        let key = if config.session_secret.is_empty() {
            rand::random::<[u8; 32]>().to_vec()
        } else {
            config.session_secret.expose().as_bytes().to_vec()
        };
        let mut tokens = config.tokens.clone();
        for (i, t) in config.bearer_tokens.iter().enumerate() {
            let token = match (&t.token_file, t.token.is_empty()) {
                (Some(file), true) => Secret::from_file(file)
                    .map_err(|e| AuthConfigError(format!("bearer_tokens[{i}]: {e}")))?,
                (None, false) => t.token.clone(),
                _ => {
                    return Err(AuthConfigError(format!(
                        "bearer_tokens[{i}] ({}): set one of token and token_file",
                        t.user
                    )));
                }
            };
            if tokens.insert(token, t.user.clone()).is_some() {
                return Err(AuthConfigError(format!(
                    "bearer_tokens[{i}] ({}): the same token is configured twice",
                    t.user
                )));
            }
        }
        for (token, user) in &tokens {
            if token.expose().len() < 16 {
                return Err(AuthConfigError(format!(
                    "tokens: the token of {user} is shorter than 16 characters; use a long random one"
                )));
            }
            let parsed: catalog_model::EntityRef = user
                .parse()
                .map_err(|e| AuthConfigError(format!("tokens: {user:?}: {e}")))?;
            if parsed.kind() != "user" {
                return Err(AuthConfigError(format!(
                    "tokens: {user:?} is not a user entity ref"
                )));
            }
        }
        let proxy = match &config.trusted_proxy {
            Some(p) => {
                if p.addresses.is_empty() {
                    return Err(AuthConfigError(
                        "trusted_proxy.addresses is empty: no proxy would be believed".into(),
                    ));
                }
                let networks = p
                    .addresses
                    .iter()
                    .map(|a| {
                        a.parse::<ipnet::IpNet>()
                            .or_else(|_| a.parse::<IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| {
                                AuthConfigError(format!(
                                    "trusted_proxy.addresses: {a:?} is not an address or network"
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let header =
                    header::HeaderName::from_bytes(p.user_header.as_bytes()).map_err(|_| {
                        AuthConfigError(format!(
                            "trusted_proxy.user_header {:?} is not a header name",
                            p.user_header
                        ))
                    })?;
                Some(std::sync::Arc::new(TrustedProxy {
                    networks,
                    header,
                    namespace: p.namespace.clone(),
                }))
            }
            None => None,
        };
        let api_token = match (&config.api_token_file, config.api_token.is_empty()) {
            (Some(_), false) => {
                return Err(AuthConfigError(
                    "set api_token or api_token_file, not both".into(),
                ));
            }
            (Some(file), true) => Some(Secret::from_file(file).map_err(AuthConfigError)?),
            (None, false) => Some(config.api_token.clone()),
            (None, true) => None,
        };
        let api_token = match api_token {
            Some(t) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose()))
                    .map_err(|_| AuthConfigError("api_token cannot be sent in a header".into()))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let tokens = tokens
            .iter()
            .map(|(t, u)| (digest(t.expose()), u.clone()))
            .collect();
        Ok(Self {
            key,
            tokens: std::sync::Arc::new(tokens),
            guest_sign_in: config.guest_sign_in,
            proxy,
            api_token,
            allowed_origins: std::sync::Arc::new(allowed_origins.to_vec()),
        })
    }

    fn mac(&self, text: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(text.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The cookie value for a signed-in user.
    fn session_value(&self, user_entity_ref: &str) -> String {
        let encoded = URL_SAFE_NO_PAD.encode(user_entity_ref);
        format!("{encoded}.{}", self.mac(&encoded))
    }

    fn bearer(headers: &HeaderMap) -> Option<&str> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The user the trusted proxy names, when `peer` is the proxy.
    fn proxy_user(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<String> {
        let proxy = self.proxy.as_ref()?;
        let value = headers.get(&proxy.header)?;
        if !peer.is_some_and(|p| proxy.networks.iter().any(|n| n.contains(&p))) {
            tracing::debug!(peer = ?peer, "identity header from an untrusted peer ignored");
            return None;
        }
        let value = value.to_str().ok()?.trim();
        // An e-mail address names the user by its local part.
        let name = if value.contains(':') {
            value
        } else {
            value.split('@').next().unwrap_or(value)
        };
        catalog_model::EntityRef::parse_user(name, &proxy.namespace)
            .ok()
            .map(|r| r.to_string())
    }

    /// The guest session a request's cookie holds, if any.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        let cookies = headers.get_all(header::COOKIE);
        for value in cookies.iter().filter_map(|v| v.to_str().ok()) {
            for pair in value.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if name != SESSION_COOKIE {
                    continue;
                }
                let Some((encoded, mac)) = value.split_once('.') else {
                    continue;
                };
                // Constant-time comparison through the MAC type.
                let mut check = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
                check.update(encoded.as_bytes());
                let Ok(given) = URL_SAFE_NO_PAD.decode(mac) else {
                    continue;
                };
                if check.verify_slice(&given).is_err() {
                    continue;
                }
                if let Some(user) = URL_SAFE_NO_PAD
                    .decode(encoded)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                {
                    return Some(user);
                }
            }
        }
        None
    }

    /// The identity a request carries, if any; `peer` is the address the
    /// connection comes from.
    pub fn identify(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<Identity> {
        if let Some(token) = Self::bearer(headers)
            && let Some(user) = self.tokens.get(&digest(token))
        {
            return Some(Identity {
                user_entity_ref: user.clone(),
                token: Some(token.to_string()),
                verified: true,
                ambient: false,
            });
        }
        if let Some(user) = self.proxy_user(headers, peer) {
            return Some(Identity {
                user_entity_ref: user,
                token: None,
                verified: true,
                ambient: true,
            });
        }
        if self.guest_sign_in
            && let Some(user) = self.session(headers)
        {
            return Some(Identity {
                user_entity_ref: user,
                token: None,
                verified: false,
                ambient: true,
            });
        }
        None
    }

    /// What the API is sent for this request.
    fn api_caller(&self, headers: &HeaderMap, identity: Option<&Identity>) -> ApiCaller {
        match identity {
            Some(i) if i.verified => ApiCaller {
                authorization: self.api_token.clone(),
                user: HeaderValue::from_str(&i.user_entity_ref).ok(),
            },
            // A bearer token the bridge does not know: the API decides.
            None if Self::bearer(headers).is_some() => ApiCaller {
                authorization: headers.get(header::AUTHORIZATION).cloned().map(|mut v| {
                    v.set_sensitive(true);
                    v
                }),
                user: None,
            },
            _ => ApiCaller {
                authorization: self.api_token.clone(),
                user: None,
            },
        }
    }

    /// The CSRF refusal for a request with `method` and `headers`, if it
    /// is one (see the module).
    pub fn csrf(
        &self,
        method: &Method,
        headers: &HeaderMap,
        identity: Option<&Identity>,
    ) -> Option<String> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        if Self::bearer(headers).is_some() {
            return None;
        }
        let allowed = |origin: &str| self.allowed_origins.iter().any(|o| o == origin);
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let same = origin
                .split_once("://")
                .is_some_and(|(_, rest)| !host.is_empty() && rest.eq_ignore_ascii_case(host));
            if !same && !allowed(origin) {
                return Some(format!(
                    "cross-origin {method} from {origin:?} refused: that origin is not allowed (ui_bridge.cors.allowed_origins)"
                ));
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
            && !headers
                .get(header::ORIGIN)
                .and_then(|o| o.to_str().ok())
                .is_some_and(allowed)
        {
            return Some(format!(
                "cross-site {method} refused (Sec-Fetch-Site: cross-site)"
            ));
        }
        let ambient = identity.is_some_and(|i| i.ambient)
            || headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains(SESSION_COOKIE));
        if ambient && !headers.contains_key(CSRF_HEADER) {
            return Some(format!(
                "a {method} from a signed-in browser must carry the {CSRF_HEADER} header (CSRF protection)"
            ));
        }
        None
    }
}

/// Middleware: attaches the caller's [`Identity`] to the request, refuses
/// cross-site state changes, and sets what the API is sent for the rest of
/// the request.
pub async fn attach(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let identity = auth.identify(request.headers(), peer);
    if let Some(refusal) = auth.csrf(request.method(), request.headers(), identity.as_ref()) {
        tracing::info!(path = %request.uri().path(), %refusal, "request refused");
        return crate::rest::RestError {
            status: StatusCode::FORBIDDEN,
            name: crate::rest::error_name(StatusCode::FORBIDDEN),
            message: refusal,
            method: request.method().to_string(),
            url: request.uri().to_string(),
        }
        .into_response();
    }
    let caller = auth.api_caller(request.headers(), identity.as_ref());
    if let Some(identity) = identity {
        request.extensions_mut().insert(identity);
    }
    API_CALLER.scope(caller, next.run(request)).await
}

/// Adds the current request's [`ApiCaller`] to every call to the API.
#[derive(Clone, Copy, Default)]
pub struct ApiCredentialsLayer;

impl<S> tower::Layer<S> for ApiCredentialsLayer {
    type Service = ApiCredentials<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ApiCredentials { inner }
    }
}

/// See [`ApiCredentialsLayer`].
#[derive(Clone)]
pub struct ApiCredentials<S> {
    inner: S,
}

impl<S, B> tower::Service<axum::http::Request<B>> for ApiCredentials<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        let _ = API_CALLER.try_with(|caller| {
            let headers = request.headers_mut();
            if let Some(a) = &caller.authorization {
                headers.insert(header::AUTHORIZATION, a.clone());
            }
            if let Some(u) = &caller.user {
                headers.insert(API_USER_HEADER, u.clone());
            }
        });
        self.inner.call(request)
    }
}

fn identity_json(identity: Option<&Identity>) -> serde_json::Value {
    let user = identity.map_or(GUEST, |i| i.user_entity_ref.as_str());
    let display = user.rsplit_once('/').map_or(user, |(_, name)| name);
    json!({"signedIn": identity.is_some(), "userEntityRef": user, "displayName": display})
}

/// `GET /api/identity`.
pub async fn whoami(identity: Option<axum::Extension<Identity>>) -> Json<serde_json::Value> {
    Json(identity_json(identity.as_ref().map(|i| &i.0)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    user_entity_ref: String,
}

/// `POST /api/identity/sign-in {userEntityRef}`.
pub async fn sign_in(
    State(auth): State<Auth>,
    req: Req,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, RestError> {
    if !auth.guest_sign_in {
        return Err(req.error(
            StatusCode::FORBIDDEN,
            "guest sign-in is disabled (ui_bridge.auth.guest_sign_in); sign in through the identity proxy or send a bearer token",
        ));
    }
    let Json(body) = body.map_err(|e| req.invalid_body(&e))?;
    let user: catalog_model::EntityRef = body
        .user_entity_ref
        .parse()
        .map_err(|e| req.bad_request(format!("userEntityRef {:?}: {e}", body.user_entity_ref)))?;
    if user.kind() != "user" {
        return Err(req.bad_request(format!(
            "userEntityRef {user}: must be a user entity (user:<namespace>/<name>)"
        )));
    }
    let identity = Identity {
        user_entity_ref: user.to_string(),
        token: None,
        verified: false,
        ambient: true,
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000",
        auth.session_value(&identity.user_entity_ref)
    );
    let mut response = Json(identity_json(Some(&identity))).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /api/identity/sign-out`.
pub async fn sign_out() -> Response {
    let mut response = (StatusCode::OK, Json(identity_json(None))).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("catalog_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_tokens_name_users() {
        let auth = Auth::new(
            &AuthConfig {
                session_secret: "s".into(),
                tokens: BTreeMap::from([(
                    Secret::new("t0k-long-enough-for-tests"),
                    "user:default/ci".into(),
                )]),
                ..AuthConfig::default()
            },
            &[],
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        let value = auth.session_value("user:default/alice");
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {SESSION_COOKIE}={value}")).unwrap(),
        );
        assert_eq!(
            auth.identify(&headers, None).unwrap().user_entity_ref,
            "user:default/alice"
        );
        // A forged user with the old MAC is nobody.
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("user:default/admin"),
            value.split_once('.').unwrap().1
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={forged}")).unwrap(),
        );
        assert!(auth.identify(&headers, None).is_none());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0k-long-enough-for-tests"),
        );
        let id = auth.identify(&headers, None).unwrap();
        assert_eq!(id.user_entity_ref, "user:default/ci");
        assert_eq!(id.token.as_deref(), Some("t0k-long-enough-for-tests"));
        assert!(id.verified);
    }
}
