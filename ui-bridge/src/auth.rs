//! Who is calling: the signed-in identity the bridge attaches to each
//! request (an [`Identity`] request extension), from its session cookie or
//! a configured bearer token. Requests without one are anonymous.
//!
//! Sessions: `POST /api/identity/sign-in {userEntityRef}` signs the browser
//! in as that user (guest sign-in: the demo has no identity provider) with a
//! cookie holding the ref and an HMAC-SHA256 of it under the bridge's
//! session secret (`HttpOnly`, `SameSite=Strict`). API callers may instead
//! send `Authorization: Bearer <token>` with a token from
//! `ui_bridge.auth.tokens`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::rest::{Req, RestError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "catalog_session";
/// Who an anonymous caller is shown as.
pub const GUEST: &str = "user:default/guest";

/// A caller the bridge recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's entity ref, e.g. `user:default/guest`.
    pub user_entity_ref: String,
    /// How the caller proved it: the bearer token it sent (forwarded by
    /// proxy endpoints with `credentials: forward`), if any.
    pub token: Option<String>,
}

/// `ui_bridge.auth` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Signs session cookies; share it between bridge replicas. Random at
    /// start-up when empty (sessions then end with the process).
    #[serde(default)]
    pub session_secret: String,
    /// Bearer tokens for API callers: token → user entity ref.
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
}

/// Recognises callers.
#[derive(Clone)]
pub struct Auth {
    key: Vec<u8>,
    tokens: BTreeMap<String, String>,
}

impl Auth {
    pub fn new(config: &AuthConfig) -> Self {
        let key = if config.session_secret.is_empty() {
            rand::random::<[u8; 32]>().to_vec()
        } else {
            config.session_secret.as_bytes().to_vec()
        };
        Self {
            key,
            tokens: config.tokens.clone(),
        }
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

    /// The identity a request carries, if any.
    pub fn identify(&self, headers: &HeaderMap) -> Option<Identity> {
        if let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            && let Some(user) = self.tokens.get(token.trim())
        {
            return Some(Identity {
                user_entity_ref: user.clone(),
                token: Some(token.trim().to_string()),
            });
        }
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
                    return Some(Identity {
                        user_entity_ref: user,
                        token: None,
                    });
                }
            }
        }
        None
    }
}

/// Middleware: attaches the caller's [`Identity`] to the request.
pub async fn attach(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    if let Some(identity) = auth.identify(request.headers()) {
        request.extensions_mut().insert(identity);
    }
    next.run(request).await
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
    let Json(body) = body.map_err(|e| req.bad_request(format!("invalid body: {e}")))?;
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
        let auth = Auth::new(&AuthConfig {
            session_secret: "s".into(),
            tokens: BTreeMap::from([("t0k".into(), "user:default/ci".into())]),
        });
        let mut headers = HeaderMap::new();
        let value = auth.session_value("user:default/alice");
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {SESSION_COOKIE}={value}")).unwrap(),
        );
        assert_eq!(
            auth.identify(&headers).unwrap().user_entity_ref,
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
        assert!(auth.identify(&headers).is_none());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0k"),
        );
        let id = auth.identify(&headers).unwrap();
        assert_eq!(id.user_entity_ref, "user:default/ci");
        assert_eq!(id.token.as_deref(), Some("t0k"));
    }
}
