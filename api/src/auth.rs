//! Who may call what: authentication of every call by a tower layer in
//! front of the services ([`AuthLayer`]), and the ownership rules the
//! services apply on top ([`require_owner`]).
//!
//! Credentials (`authorization: Bearer <token>`):
//! - static tokens from `api.auth.tokens` (read from secrets), each with a
//!   scope, optionally naming the user it acts as, and optionally allowed
//!   to act for the users a front end signed in (`delegate`, the UI
//!   bridge's token: it sends the user's ref in `x-catalog-user`);
//! - JWTs verified against `api.auth.jwt`'s JWKS (signature, issuer,
//!   audience, expiry and not-before with the configured clock skew); the
//!   user is the `sub` claim (or the configured one) and the scopes come
//!   from the `scope` claim plus `api.auth.user_scopes`.
//!
//! Scopes are levels: `catalog.read` < `catalog.write` < `catalog.admin`;
//! each includes the ones below it. Users also get the scopes their groups
//! are given in `api.auth.group_scopes` (direct membership, from the read
//! model).
//!
//! Rules, by method (see [`rule_for`]): every read needs `catalog.read`;
//! `Apply` and `RegisterLocation` need `catalog.write`; `Delete`,
//! `RefreshEntity` and `RefreshLocation` need `catalog.write` or ownership
//! (the caller is the owner, or a member of the owning group, of every
//! entity deleted, of the entity refreshed, of some entity of the location
//! refreshed); `UnregisterLocation` needs `catalog.admin` or ownership of
//! every entity of the location. Health is open to all.
//!
//! A call without credentials is anonymous: with `anonymous_read` it may
//! read, otherwise it fails with UNAUTHENTICATED. Credentials that are
//! present but wrong fail with UNAUTHENTICATED (never PERMISSION_DENIED,
//! and never naming the token); a known caller without the scope fails
//! with PERMISSION_DENIED naming the scope it lacks. With `enabled: false`
//! (the default, for local development) every call may do everything.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use catalog_model::EntityRef;
use catalog_telemetry::Secret;
use deadpool_postgres::Pool;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;
use tonic::Status;

/// The metadata key a delegating caller names its user in.
pub const USER_HEADER: &str = "x-catalog-user";

/// A scope, as a level: each includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum Scope {
    #[serde(rename = "catalog.read")]
    Read,
    #[serde(rename = "catalog.write")]
    Write,
    #[serde(rename = "catalog.admin")]
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "catalog.read",
            Scope::Write => "catalog.write",
            Scope::Admin => "catalog.admin",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "catalog.read" => Some(Scope::Read),
            "catalog.write" => Some(Scope::Write),
            "catalog.admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// `api.auth` in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether calls are authenticated at all. Off by default, for local
    /// development; a deployment turns it on.
    #[serde(default)]
    pub enabled: bool,
    /// Whether callers without credentials may read.
    #[serde(default)]
    pub anonymous_read: bool,
    /// Static bearer tokens.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// JWTs from an identity provider.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Scopes every identified user has (JWT users, users a delegating
    /// caller names). Default: `[catalog.read]`.
    #[serde(default = "default_user_scopes")]
    pub user_scopes: Vec<Scope>,
    /// Scopes the direct members of a group have: group ref → scopes.
    #[serde(default)]
    pub group_scopes: BTreeMap<String, Vec<Scope>>,
}

fn default_user_scopes() -> Vec<Scope> {
    vec![Scope::Read]
}

/// One static token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it, for logs and errors (the token itself is never shown).
    pub name: String,
    /// The token, inline (prefer `token_file`).
    #[serde(default)]
    pub token: Secret,
    /// A file holding the token (a mounted secret).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The user entity it acts as, for ownership rules.
    #[serde(default)]
    pub user: Option<String>,
    /// Whether it may act for the user named in `x-catalog-user` (a front
    /// end that signed the user in). That user then has the scopes of
    /// users, never more than this token's.
    #[serde(default)]
    pub delegate: bool,
}

/// JWT verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Where the identity provider publishes its keys (`https://…/jwks.json`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Or a file holding the key set.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (one of them, when the token lists several).
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// The claim naming the user: a user entity ref, or a name in
    /// `user_namespace`.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The namespace of users named without one.
    #[serde(default = "default_user_namespace")]
    pub user_namespace: String,
    /// The claim holding scopes (a space-separated string or a list).
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
    /// How often the key set is fetched again, in seconds (also at once,
    /// at most every 10 s, when a token names an unknown key).
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_refresh_secs: u64,
}

fn default_leeway_secs() -> u64 {
    60
}
fn default_user_claim() -> String {
    "sub".into()
}
fn default_user_namespace() -> String {
    catalog_model::entity_ref::DEFAULT_NAMESPACE.into()
}
fn default_scopes_claim() -> String {
    "scope".into()
}
fn default_jwks_refresh_secs() -> u64 {
    300
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("api.auth: {0}")]
pub struct AuthConfigError(String);

/// The caller of one call, as the services see it (a request extension).
#[derive(Debug, Clone)]
pub struct Access {
    /// Who: `token ci`, `user:default/alice (jwt)`,
    /// `user:default/alice (via token ui-bridge)`, `anonymous`.
    pub principal: String,
    /// The user entity it acts as, lower-case.
    pub user: Option<String>,
    /// Whether the method's scope is met; if not, the service checks
    /// ownership (the layer lets only such methods through unmet).
    pub granted: bool,
}

/// What a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone (health).
    Open,
    /// The scope.
    Scope(Scope),
    /// The scope, or ownership (checked by the service).
    ScopeOrOwner(Scope),
}

/// The rule of a gRPC method path.
pub fn rule_for(path: &str) -> Rule {
    if path.starts_with("/grpc.health.v1.Health/") {
        return Rule::Open;
    }
    match path {
        "/catalog.v1.IngestService/Apply" | "/catalog.v1.LocationService/RegisterLocation" => {
            Rule::Scope(Scope::Write)
        }
        "/catalog.v1.IngestService/Delete"
        | "/catalog.v1.LocationService/RefreshEntity"
        | "/catalog.v1.LocationService/RefreshLocation" => Rule::ScopeOrOwner(Scope::Write),
        "/catalog.v1.LocationService/UnregisterLocation" => Rule::ScopeOrOwner(Scope::Admin),
        _ => Rule::Scope(Scope::Read),
    }
}

struct TokenEntry {
    name: String,
    level: Scope,
    user: Option<String>,
    delegate: bool,
}

/// A caller once its credentials are checked.
struct Caller {
    principal: String,
    user: Option<String>,
    /// Granted outright.
    level: Option<Scope>,
    /// Never more than this (a delegating token's own level).
    cap: Scope,
}

/// Checks credentials and scopes; shared by the layer and the services.
pub struct Authorizer {
    enabled: bool,
    anonymous_read: bool,
    tokens: HashMap<[u8; 32], TokenEntry>,
    jwt: Option<JwtVerifier>,
    user_level: Option<Scope>,
    group_levels: HashMap<String, Scope>,
    pool: Pool,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn user_ref(value: &str, namespace: &str, what: &str) -> Result<String, String> {
    EntityRef::parse_user(value, namespace)
        .map(|r| r.to_string())
        .map_err(|why| format!("{what} {value:?} is not a user: {why}"))
}

/// The refusal of `x-catalog-user` from a caller that may not delegate.
fn not_a_delegate() -> Status {
    Status::unauthenticated(format!(
        "{USER_HEADER} is accepted only with the credentials of a caller allowed to act for users"
    ))
}

impl Authorizer {
    /// Reads the configuration (and the token files); `pool` answers
    /// group membership and ownership.
    pub async fn new(config: &AuthConfig, pool: Pool) -> Result<Self, AuthConfigError> {
        let mut tokens = HashMap::new();
        for (i, t) in config.tokens.iter().enumerate() {
            let what = format!("tokens[{i}] ({})", t.name);
            if t.name.trim().is_empty() {
                return Err(AuthConfigError(format!("tokens[{i}]: name is empty")));
            }
            let secret = match (&t.token_file, t.token.is_empty()) {
                (Some(_), false) => {
                    return Err(AuthConfigError(format!(
                        "{what}: set token or token_file, not both"
                    )));
                }
                (Some(file), true) => {
                    Secret::from_file(file).map_err(|e| AuthConfigError(format!("{what}: {e}")))?
                }
                (None, false) => t.token.clone(),
                (None, true) => {
                    return Err(AuthConfigError(format!("{what}: no token or token_file")));
                }
            };
            if secret.expose().len() < 16 {
                return Err(AuthConfigError(format!(
                    "{what}: the token is shorter than 16 characters; use a long random one"
                )));
            }
            let Some(level) = t.scopes.iter().max().copied() else {
                return Err(AuthConfigError(format!("{what}: scopes is empty")));
            };
            let user = match &t.user {
                Some(u) => Some(
                    user_ref(u, catalog_model::entity_ref::DEFAULT_NAMESPACE, "user")
                        .map_err(|e| AuthConfigError(format!("{what}: {e}")))?,
                ),
                None => None,
            };
            let entry = TokenEntry {
                name: t.name.clone(),
                level,
                user,
                delegate: t.delegate,
            };
            if tokens.insert(digest(secret.expose()), entry).is_some() {
                return Err(AuthConfigError(format!(
                    "{what}: the same token is configured twice"
                )));
            }
        }
        let mut group_levels = HashMap::new();
        for (group, scopes) in &config.group_scopes {
            let parsed = EntityRef::parse_with_defaults(
                group,
                Some("group"),
                catalog_model::entity_ref::DEFAULT_NAMESPACE,
            )
            .map_err(|e| AuthConfigError(format!("group_scopes: {group:?}: {e}")))?;
            if parsed.kind() != "group" {
                return Err(AuthConfigError(format!(
                    "group_scopes: {group:?} is not a group"
                )));
            }
            if let Some(level) = scopes.iter().max() {
                group_levels.insert(parsed.to_string(), *level);
            }
        }
        let jwt = match &config.jwt {
            Some(j) => Some(JwtVerifier::new(j).await?),
            None => None,
        };
        if config.enabled && tokens.is_empty() && jwt.is_none() && !config.anonymous_read {
            return Err(AuthConfigError(
                "enabled with no tokens, no jwt and no anonymous_read: nobody could call the API"
                    .into(),
            ));
        }
        Ok(Self {
            enabled: config.enabled,
            anonymous_read: config.anonymous_read,
            tokens,
            jwt,
            user_level: config.user_scopes.iter().max().copied(),
            group_levels,
            pool,
        })
    }

    /// Whether calls are checked at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Who sent `headers`.
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Caller, Status> {
        let delegated = headers.get(USER_HEADER);
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            if delegated.is_some() {
                return Err(not_a_delegate());
            }
            if self.anonymous_read {
                return Ok(Caller {
                    principal: "anonymous".into(),
                    user: None,
                    level: Some(Scope::Read),
                    cap: Scope::Read,
                });
            }
            return Err(Status::unauthenticated(
                "this API needs credentials: send `authorization: Bearer <token>`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "the authorization header is not `Bearer <token>` (other schemes are not accepted)",
                )
            })?;
        if let Some(entry) = self.tokens.get(&digest(token)) {
            if let Some(user) = delegated {
                if !entry.delegate {
                    return Err(Status::permission_denied(format!(
                        "token {} may not act for other users ({USER_HEADER})",
                        entry.name
                    )));
                }
                let user = user
                    .to_str()
                    .map_err(|_| format!("{USER_HEADER} is not text"))
                    .and_then(|u| {
                        user_ref(u, catalog_model::entity_ref::DEFAULT_NAMESPACE, USER_HEADER)
                    })
                    .map_err(Status::invalid_argument)?;
                return Ok(Caller {
                    principal: format!("{user} (via token {})", entry.name),
                    user: Some(user),
                    level: self.user_level,
                    cap: entry.level,
                });
            }
            if entry.delegate {
                // A front end's own calls for an anonymous visitor.
                if !self.anonymous_read {
                    return Err(Status::unauthenticated(
                        "sign in: this catalog does not let anonymous visitors read",
                    ));
                }
                return Ok(Caller {
                    principal: format!("anonymous (via token {})", entry.name),
                    user: None,
                    level: self.anonymous_read.then_some(Scope::Read),
                    cap: entry.level,
                });
            }
            return Ok(Caller {
                principal: format!("token {}", entry.name),
                user: entry.user.clone(),
                level: Some(entry.level),
                cap: Scope::Admin,
            });
        }
        if delegated.is_some() {
            return Err(not_a_delegate());
        }
        let Some(jwt) = &self.jwt else {
            return Err(Status::unauthenticated("the bearer token is not valid"));
        };
        if token.split('.').count() != 3 {
            return Err(Status::unauthenticated(
                "the bearer token is not valid (neither a configured token nor a JWT)",
            ));
        }
        let verified = jwt.verify(token).await?;
        Ok(Caller {
            principal: format!("{} (jwt)", verified.user),
            user: Some(verified.user),
            level: verified.level.max(self.user_level),
            cap: Scope::Admin,
        })
    }

    /// The level `caller` has, with its groups' scopes when its own fall
    /// short of `needed` (so most calls ask the database nothing).
    async fn level(&self, caller: &Caller, needed: Scope) -> Result<Option<Scope>, Status> {
        let mut level = caller.level;
        if let Some(user) = &caller.user
            && !self.group_levels.is_empty()
            && level < Some(needed)
            && caller.cap >= needed
        {
            for group in self.groups_of(user).await? {
                level = level.max(self.group_levels.get(&group).copied());
            }
        }
        Ok(level.min(Some(caller.cap)))
    }

    async fn groups_of(&self, user: &str) -> Result<Vec<String>, Status> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT target_ref FROM relations WHERE source_ref = $1 AND type = 'memberOf' \
                 UNION SELECT source_ref FROM relations WHERE target_ref = $1 AND inverse_type = 'memberOf'",
                &[&user],
            )
            .await
            .map_err(unavailable)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Decides a call to `path` with `headers`.
    pub async fn authorize(&self, path: &str, headers: &http::HeaderMap) -> Result<Access, Status> {
        let rule = rule_for(path);
        if !self.enabled || rule == Rule::Open {
            return Ok(Access {
                principal: "anonymous".into(),
                user: None,
                granted: true,
            });
        }
        let caller = self.authenticate(headers).await?;
        let (needed, owner_ok) = match rule {
            Rule::Open => unreachable!("answered above"),
            Rule::Scope(s) => (s, false),
            Rule::ScopeOrOwner(s) => (s, true),
        };
        let level = self.level(&caller, needed).await?;
        let granted = level >= Some(needed);
        let may_own = owner_ok && caller.user.is_some() && level >= Some(Scope::Read);
        if !granted && !may_own {
            tracing::info!(principal = %caller.principal, method = path, needed = needed.name(), "permission denied");
            let has = level.map_or("no scope".to_string(), |l| l.name().to_string());
            let or_owner = if owner_ok {
                ", or to own the entities concerned"
            } else {
                ""
            };
            return Err(Status::permission_denied(format!(
                "{} has {has}; {path} needs {}{or_owner}",
                caller.principal,
                needed.name()
            )));
        }
        Ok(Access {
            principal: caller.principal,
            user: caller.user,
            granted,
        })
    }

    /// The refs among `refs` (canonical) that exist and that `user` neither
    /// owns nor is a direct member of an owning group of.
    async fn not_owned(&self, user: &str, refs: &[String]) -> Result<Vec<String>, Status> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT e.entity_ref FROM entities e WHERE e.entity_ref = ANY($1) AND NOT EXISTS ( \
                   SELECT 1 FROM relations o WHERE o.source_ref = e.entity_ref AND o.type = 'ownedBy' \
                   AND (o.target_ref = $2 \
                        OR EXISTS (SELECT 1 FROM relations m WHERE m.source_ref = $2 \
                                   AND m.type = 'memberOf' AND m.target_ref = o.target_ref) \
                        OR EXISTS (SELECT 1 FROM relations m WHERE m.source_ref = o.target_ref \
                                   AND m.type = 'hasMember' AND m.target_ref = $2))) \
                 ORDER BY 1",
                &[&refs, &user],
            )
            .await
            .map_err(unavailable)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The entities read from the location `key`.
    async fn entities_of_location(&self, key: &str) -> Result<Vec<String>, Status> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT entity_ref FROM entities WHERE \
                 entity #>> '{metadata,annotations,backstage.io/managed-by-origin-location}' = $1",
                &[&key],
            )
            .await
            .map_err(unavailable)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("checking permissions: the read model: {e}"))
}

/// What an ownership rule is about.
pub enum Owned<'a> {
    /// Every one of these entities (refs as the caller wrote them).
    All(&'a [String]),
    /// Some entity of the location with this key.
    AnyOfLocation(&'a str),
    /// Every entity of the location with this key (and it has some).
    AllOfLocation(&'a str),
}

/// Lets a call through whose scope was met, or whose caller owns `what`;
/// otherwise PERMISSION_DENIED naming the entities it does not own. A call
/// that did not pass the layer is refused (fail closed) when `authorizer`
/// checks calls.
pub async fn require_owner<T>(
    request: &tonic::Request<T>,
    authorizer: &Authorizer,
    what: Owned<'_>,
) -> Result<(), Status> {
    if !authorizer.enabled {
        return Ok(());
    }
    let Some(access) = request.extensions().get::<Access>() else {
        return Err(Status::permission_denied("the call was not authenticated"));
    };
    if access.granted {
        return Ok(());
    }
    let Some(user) = &access.user else {
        return Err(Status::permission_denied(format!(
            "{} may not do this",
            access.principal
        )));
    };
    let denied = |detail: String| {
        tracing::info!(principal = %access.principal, %detail, "permission denied (ownership)");
        Err(Status::permission_denied(format!(
            "{} {detail}; members of an entity's owning group may refresh or delete it",
            access.principal
        )))
    };
    match what {
        Owned::All(refs) => {
            let canonical: Vec<String> = refs
                .iter()
                .filter_map(|r| r.parse::<EntityRef>().ok().map(|r| r.to_string()))
                .collect();
            let not = authorizer.not_owned(user, &canonical).await?;
            if not.is_empty() {
                return Ok(());
            }
            denied(format!("does not own {}", not.join(", ")))
        }
        Owned::AnyOfLocation(key) | Owned::AllOfLocation(key) => {
            let all = matches!(what, Owned::AllOfLocation(_));
            let entities = authorizer.entities_of_location(key).await?;
            if entities.is_empty() {
                return denied(format!("does not own any entity of location {key}"));
            }
            let not = authorizer.not_owned(user, &entities).await?;
            let ok = if all {
                not.is_empty()
            } else {
                not.len() < entities.len()
            };
            if ok {
                Ok(())
            } else if all {
                let shown: Vec<&str> = not.iter().take(5).map(String::as_str).collect();
                let more = if not.len() > 5 { ", …" } else { "" };
                denied(format!(
                    "does not own every entity of location {key} (not {}{more})",
                    shown.join(", ")
                ))
            } else {
                denied(format!("does not own any entity of location {key}"))
            }
        }
    }
}

/// A verified JWT's caller.
struct Verified {
    user: String,
    level: Option<Scope>,
}

enum JwksSource {
    Url(String, reqwest::Client),
    File(PathBuf),
}

struct JwtVerifier {
    config: JwtConfig,
    source: JwksSource,
    keys: RwLock<KeyCache>,
}

struct KeyCache {
    set: JwkSet,
    fetched: Option<Instant>,
    error: Option<String>,
}

/// How soon an unknown key id may fetch the key set again.
const REFETCH_UNKNOWN_KID: Duration = Duration::from_secs(10);

impl JwtVerifier {
    async fn new(config: &JwtConfig) -> Result<Self, AuthConfigError> {
        let source = match (&config.jwks_url, &config.jwks_file) {
            (Some(url), None) => {
                let parsed = url::Url::parse(url)
                    .map_err(|e| AuthConfigError(format!("jwt.jwks_url {url:?}: {e}")))?;
                if !matches!(parsed.scheme(), "https" | "http") {
                    return Err(AuthConfigError(format!(
                        "jwt.jwks_url {url:?}: must be an http(s) URL"
                    )));
                }
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| AuthConfigError(format!("jwt: HTTP client: {e}")))?;
                JwksSource::Url(url.clone(), client)
            }
            (None, Some(file)) => JwksSource::File(file.clone()),
            _ => {
                return Err(AuthConfigError(
                    "jwt: set exactly one of jwks_url and jwks_file".into(),
                ));
            }
        };
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err(AuthConfigError(
                "jwt: issuer and audience must be set".into(),
            ));
        }
        let verifier = Self {
            config: config.clone(),
            source,
            keys: RwLock::new(KeyCache {
                set: JwkSet { keys: Vec::new() },
                fetched: None,
                error: None,
            }),
        };
        match verifier.fetch().await {
            Ok(set) => {
                tracing::info!(keys = set.keys.len(), "JWKS loaded");
                let mut cache = verifier.keys.write().await;
                cache.set = set;
                cache.fetched = Some(Instant::now());
            }
            // An identity provider down at start must not keep the API
            // down: tokens are refused until the keys are fetched.
            Err(e) => {
                if matches!(verifier.source, JwksSource::File(_)) {
                    return Err(AuthConfigError(format!("jwt: {e}")));
                }
                tracing::warn!(error = %e, "JWKS not loaded; JWTs are refused until it is");
                verifier.keys.write().await.error = Some(e);
            }
        }
        Ok(verifier)
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let text = match &self.source {
            JwksSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("reading JWKS file {}: {e}", path.display()))?,
            JwksSource::Url(url, client) => {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("fetching JWKS from {url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!(
                        "fetching JWKS from {url}: HTTP {}",
                        response.status()
                    ));
                }
                response
                    .text()
                    .await
                    .map_err(|e| format!("fetching JWKS from {url}: {e}"))?
            }
        };
        serde_json::from_str(&text).map_err(|e| format!("the JWKS is not a JSON Web Key Set: {e}"))
    }

    /// The key with `kid`, fetching the set again when it is stale, or
    /// when the key is unknown and the set was not fetched just now.
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, Status> {
        let find = |set: &JwkSet| -> Option<Jwk> {
            match kid {
                Some(kid) => set.find(kid).cloned(),
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        };
        let refresh = Duration::from_secs(self.config.jwks_refresh_secs.max(10));
        {
            let cache = self.keys.read().await;
            let fresh = cache.fetched.is_some_and(|t| t.elapsed() < refresh);
            if fresh && let Some(k) = find(&cache.set) {
                return Ok(k);
            }
            let recent = cache
                .fetched
                .is_some_and(|t| t.elapsed() < REFETCH_UNKNOWN_KID);
            if recent {
                return Err(unknown_key(kid));
            }
        }
        let mut cache = self.keys.write().await;
        // Another call may have fetched it meanwhile.
        if cache
            .fetched
            .is_some_and(|t| t.elapsed() < REFETCH_UNKNOWN_KID)
        {
            return find(&cache.set).ok_or_else(|| unknown_key(kid));
        }
        match self.fetch().await {
            Ok(set) => {
                cache.set = set;
                cache.fetched = Some(Instant::now());
                cache.error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed");
                cache.error = Some(e.clone());
                // Stale keys still verify; only a missing key fails.
                if let Some(k) = find(&cache.set) {
                    return Ok(k);
                }
                return Err(Status::unavailable(format!(
                    "cannot verify the JWT: the identity provider's keys are unavailable ({e})"
                )));
            }
        }
        find(&cache.set).ok_or_else(|| unknown_key(kid))
    }

    async fn verify(&self, token: &str) -> Result<Verified, Status> {
        let invalid = |why: String| Status::unauthenticated(format!("the JWT is not valid: {why}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("header: {e}")))?;
        let jwk = self.key(header.kid.as_deref()).await?;
        if !key_allows(&jwk, header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} does not match its key",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("its key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            invalid(match e.kind() {
                K::ExpiredSignature => "it has expired".into(),
                K::ImmatureSignature => "it is not valid yet (nbf)".into(),
                K::InvalidIssuer => format!("its issuer is not {}", self.config.issuer),
                K::InvalidAudience => format!("its audience is not {}", self.config.audience),
                K::InvalidSignature => "its signature does not verify".into(),
                K::MissingRequiredClaim(c) => format!("it has no {c} claim"),
                _ => e.to_string(),
            })
        })?;
        let claims = data.claims;
        let user = claims
            .get(&self.config.user_claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| invalid(format!("it has no {} claim", self.config.user_claim)))?;
        let user = user_ref(user, &self.config.user_namespace, &self.config.user_claim)
            .map_err(invalid)?;
        let scopes: Vec<&str> = match claims.get(&self.config.scopes_claim) {
            Some(serde_json::Value::String(s)) => s.split_whitespace().collect(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        let level = scopes.into_iter().filter_map(Scope::parse).max();
        Ok(Verified { user, level })
    }
}

fn unknown_key(kid: Option<&str>) -> Status {
    match kid {
        Some(kid) => Status::unauthenticated(format!(
            "the JWT is not valid: it is signed with key {kid:?}, which the identity provider does not publish"
        )),
        None => Status::unauthenticated(
            "the JWT is not valid: it names no key (kid) and the key set has more than one",
        ),
    }
}

/// Whether `alg` is one `jwk` may verify: asymmetric only, of the key's
/// family, and the key's own `alg` when it names one.
fn key_allows(jwk: &Jwk, alg: Algorithm) -> bool {
    use Algorithm::*;
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, ES256 | ES384),
        AlgorithmParameters::OctetKeyPair(_) => alg == EdDSA,
        // Shared-secret keys would let anyone holding the JWKS sign.
        AlgorithmParameters::OctetKey(_) => false,
    };
    let named = jwk
        .common
        .key_algorithm
        .and_then(|a| format!("{a:?}").parse::<Algorithm>().ok())
        .is_none_or(|a| a == alg);
    family && named
}

/// The tower layer: authenticates every call and inserts its [`Access`].
#[derive(Clone)]
pub struct AuthLayer {
    authorizer: Arc<Authorizer>,
}

impl AuthLayer {
    pub fn new(authorizer: Arc<Authorizer>) -> Self {
        Self { authorizer }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authorizer: Arc::clone(&self.authorizer),
        }
    }
}

/// The service the layer wraps around the server's routes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    authorizer: Arc<Authorizer>,
}

impl<S, ReqB, ResB> tower::Service<http::Request<ReqB>> for AuthService<S>
where
    S: tower::Service<http::Request<ReqB>, Response = http::Response<ResB>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Default + Send + 'static,
{
    type Response = http::Response<ResB>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqB>) -> Self::Future {
        // The clone that was made ready is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authorizer = Arc::clone(&self.authorizer);
        Box::pin(async move {
            match authorizer
                .authorize(request.uri().path(), request.headers())
                .await
            {
                Ok(access) => {
                    request.extensions_mut().insert(access);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_method() {
        assert_eq!(rule_for("/grpc.health.v1.Health/Check"), Rule::Open);
        assert_eq!(
            rule_for("/catalog.v1.CatalogService/GetEntity"),
            Rule::Scope(Scope::Read)
        );
        assert_eq!(
            rule_for("/catalog.v1.IngestService/Apply"),
            Rule::Scope(Scope::Write)
        );
        assert_eq!(
            rule_for("/catalog.v1.IngestService/Delete"),
            Rule::ScopeOrOwner(Scope::Write)
        );
        assert_eq!(
            rule_for("/catalog.v1.LocationService/UnregisterLocation"),
            Rule::ScopeOrOwner(Scope::Admin)
        );
        assert_eq!(rule_for("/anything/Else"), Rule::Scope(Scope::Read));
    }

    #[test]
    fn user_refs() {
        assert_eq!(
            user_ref("alice", "default", "sub").unwrap(),
            "user:default/alice"
        );
        assert_eq!(
            user_ref("User:Ops/Bob", "default", "sub").unwrap(),
            "user:ops/bob"
        );
        assert!(user_ref("group:default/x", "default", "sub").is_err());
        assert!(user_ref("a b", "default", "sub").is_err());
        assert!(user_ref("", "default", "sub").is_err());
    }

    #[test]
    fn scope_levels() {
        assert!(Scope::Admin > Scope::Write && Scope::Write > Scope::Read);
        assert_eq!(Scope::parse("catalog.write"), Some(Scope::Write));
        assert_eq!(Scope::parse("catalog.root"), None);
    }
}
