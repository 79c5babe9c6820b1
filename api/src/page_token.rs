//! Opaque, integrity-protected page tokens.
//!
//! A token is `base64url(json) "." base64url(hmac-sha256(json))`. The JSON
//! holds the keyset position and a fingerprint of the query it belongs to,
//! so a token cannot be forged, altered, or replayed against another query,
//! and an expiry time, after which it is refused (a client then starts again
//! from the first page).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Why a page token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    #[error("page_token is malformed")]
    Malformed,
    #[error("page_token was not issued by this catalog or was altered")]
    BadSignature,
    #[error("page_token belongs to a different query")]
    WrongQuery,
    #[error("page_token has expired; start again from the first page")]
    Expired,
}

/// How long a page token is accepted when the configuration says nothing.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    /// Fingerprint of the query.
    q: String,
    /// Last entity ref of the previous page.
    after: String,
    /// Expiry, in seconds since the Unix epoch (absent: expired).
    #[serde(default)]
    exp: i64,
}

/// Signs and verifies page tokens.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
    ttl: std::time::Duration,
}

/// A stable fingerprint of a query's canonical description.
pub fn fingerprint(query: &str) -> String {
    hex::encode(&Sha256::digest(query.as_bytes())[..12])
}

impl PageTokens {
    /// Uses `secret` as the key, or a random one when it is empty; tokens
    /// live for [`DEFAULT_TTL`].
    pub fn new(secret: &str) -> Self {
        Self::with_ttl(secret, DEFAULT_TTL)
    }

    /// As [`PageTokens::new`], with tokens accepted for `ttl`.
    pub fn with_ttl(secret: &str, ttl: std::time::Duration) -> Self {
        let key = if secret.is_empty() {
            uuid::Uuid::new_v4().as_bytes().repeat(2)
        } else {
            secret.as_bytes().to_vec()
        };
        Self { key, ttl }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(data);
        mac
    }

    /// A token for the page after `after` in the query with fingerprint `query`.
    pub fn encode(&self, query: &str, after: &str) -> String {
        self.encode_expiring(
            query,
            after,
            now() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
        )
    }

    fn encode_expiring(&self, query: &str, after: &str, exp: i64) -> String {
        let json = serde_json::to_vec(&Payload {
            v: 1,
            q: query.to_string(),
            after: after.to_string(),
            exp,
        })
        .unwrap_or_default();
        let sig = self.mac(&json).finalize().into_bytes();
        format!("{}.{}", B64.encode(&json), B64.encode(sig))
    }

    /// The `after` position of a token, if it is genuine and for this query.
    pub fn decode(&self, query: &str, token: &str) -> Result<String, PageTokenError> {
        let (body, sig) = token.split_once('.').ok_or(PageTokenError::Malformed)?;
        let json = B64.decode(body).map_err(|_| PageTokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| PageTokenError::Malformed)?;
        self.mac(&json)
            .verify_slice(&sig)
            .map_err(|_| PageTokenError::BadSignature)?;
        let payload: Payload =
            serde_json::from_slice(&json).map_err(|_| PageTokenError::Malformed)?;
        if payload.v != 1 {
            return Err(PageTokenError::Malformed);
        }
        if payload.q != query {
            return Err(PageTokenError::WrongQuery);
        }
        if payload.exp <= now() {
            return Err(PageTokenError::Expired);
        }
        Ok(payload.after)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let t = PageTokens::new("secret");
        let tok = t.encode("q1", "component:default/a");
        assert_eq!(t.decode("q1", &tok).unwrap(), "component:default/a");
        assert_eq!(t.decode("q2", &tok), Err(PageTokenError::WrongQuery));
        assert_eq!(
            PageTokens::new("other").decode("q1", &tok),
            Err(PageTokenError::BadSignature)
        );
        let (body, sig) = tok.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode(br#"{"v":1,"q":"q1","after":"z"}"#));
        assert_eq!(t.decode("q1", &forged), Err(PageTokenError::BadSignature));
        assert_eq!(t.decode("q1", body), Err(PageTokenError::Malformed));
        assert_eq!(t.decode("q1", "!!.!!"), Err(PageTokenError::Malformed));
        let old = t.encode_expiring("q1", "component:default/a", now() - 1);
        assert_eq!(t.decode("q1", &old), Err(PageTokenError::Expired));
    }
}
