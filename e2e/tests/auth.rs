//! Authentication and authorization, end to end: the API with static
//! tokens, JWTs from a JWKS served over HTTP, group scopes and ownership;
//! the bridge with a trusted identity proxy, bearer tokens, guest sessions,
//! CSRF protection, CORS and security headers. One rule per test block,
//! each checked allowed and refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_api::auth::{AuthConfig, JwtConfig, Scope, TokenConfig};
use catalog_e2e::{Pipeline, test_projector_config, wait_for};
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use catalog_proto::v1::location_service_client::LocationServiceClient;
use catalog_telemetry::Secret;
use catalog_ui_bridge::auth::TrustedProxyConfig;
use catalog_ui_bridge::{UiBridge, UiBridgeConfig};
use ring::signature::KeyPair;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

const READER: &str = "reader-token-0123456789abcdef";
const WRITER: &str = "writer-token-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";
const BRIDGE: &str = "bridge-token-0123456789abcdef";
const CAROL: &str = "carol-bridge-token-0123456789";
const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "catalog";
const WAIT: Duration = Duration::from_secs(30);

/// An Ed25519 signing key and its JWK.
struct Key {
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .unwrap()
        .as_ref()
        .to_vec();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    Key {
        pkcs8,
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWT signed by `key` under `kid` with `claims` over the defaults.
fn jwt(key: &Key, kid: &str, claims: Value) -> String {
    let mut body = json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now()});
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &body,
        &jsonwebtoken::EncodingKey::from_ed_der(&key.pkcs8),
    )
    .unwrap()
}

/// A local HTTP server for the identity provider's key set, and a page a
/// proxy endpoint serves.
async fn idp(jwks: Value) -> SocketAddr {
    let app = axum::Router::new()
        .route(
            "/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        )
        .route(
            "/page",
            axum::routing::get(|| async {
                axum::response::Html("<script>alert(document.cookie)</script>")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn token(name: &str, token: &str, scopes: &[Scope]) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        token: Secret::new(token),
        token_file: None,
        scopes: scopes.to_vec(),
        user: None,
        delegate: false,
    }
}

fn api_auth(idp: SocketAddr) -> AuthConfig {
    let mut bridge = token("ui-bridge", BRIDGE, &[Scope::Admin]);
    bridge.delegate = true;
    AuthConfig {
        enabled: true,
        anonymous_read: false,
        tokens: vec![
            token("reader", READER, &[Scope::Read]),
            token("writer", WRITER, &[Scope::Read, Scope::Write]),
            token("admin", ADMIN, &[Scope::Admin]),
            bridge,
        ],
        jwt: Some(JwtConfig {
            jwks_url: Some(format!("http://{idp}/jwks.json")),
            jwks_file: None,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_secs: 60,
            user_claim: "sub".into(),
            user_namespace: "default".into(),
            scopes_claim: "scope".into(),
            jwks_refresh_secs: 300,
        }),
        user_scopes: vec![Scope::Read],
        group_scopes: BTreeMap::from([("group:default/platform".into(), vec![Scope::Admin])]),
    }
}

/// Sends `authorization: Bearer <token>` (and `x-catalog-user`) on every call.
#[derive(Clone)]
struct Creds {
    bearer: Option<String>,
    user: Option<String>,
}

impl tonic::service::Interceptor for Creds {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(b) = &self.bearer {
            r.metadata_mut().insert("authorization", b.parse().unwrap());
        }
        if let Some(u) = &self.user {
            r.metadata_mut()
                .insert("x-catalog-user", u.parse().unwrap());
        }
        Ok(r)
    }
}

type Intercepted = tonic::service::interceptor::InterceptedService<Channel, Creds>;

struct Clients {
    catalog: CatalogServiceClient<Intercepted>,
    ingest: IngestServiceClient<Intercepted>,
    locations: LocationServiceClient<Intercepted>,
}

async fn clients(p: &Pipeline, bearer: Option<&str>, user: Option<&str>) -> Clients {
    let channel = Channel::from_shared(format!("http://{}", p.api_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let creds = Creds {
        bearer: bearer.map(|t| format!("Bearer {t}")),
        user: user.map(String::from),
    };
    Clients {
        catalog: CatalogServiceClient::with_interceptor(channel.clone(), creds.clone()),
        ingest: IngestServiceClient::with_interceptor(channel.clone(), creds.clone()),
        locations: LocationServiceClient::with_interceptor(channel, creds),
    }
}

async fn get(c: &mut Clients, entity_ref: &str) -> Result<pb::Entity, tonic::Status> {
    c.catalog
        .get_entity(pb::GetEntityRequest {
            entity_ref: entity_ref.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().entity.unwrap())
}

fn code(r: Result<impl Sized, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

fn err<T>(r: Result<T, tonic::Status>) -> tonic::Status {
    match r {
        Ok(_) => panic!("the call succeeded"),
        Err(s) => s,
    }
}

const PEOPLE: &str = "
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: [], members: [bob]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: pat}
spec: {memberOf: [platform]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-b}
spec: {type: service, lifecycle: production, owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-alice}
spec: {type: service, lifecycle: production, owner: user:alice}
";

fn descriptors(text: &str) -> Vec<pb::Descriptor> {
    text.split("\n---\n")
        .enumerate()
        .map(|(i, d)| pb::Descriptor {
            content: d.to_string(),
            name: format!("people#{i}"),
        })
        .collect()
}

async fn delete(c: &mut Clients, refs: &[&str]) -> Result<Vec<pb::ApplyResult>, tonic::Status> {
    c.ingest
        .delete(pb::DeleteRequest {
            source: "people".into(),
            entity_refs: refs.iter().map(|r| r.to_string()).collect(),
        })
        .await
        .map(|r| r.into_inner().results)
}

#[tokio::test]
async fn scopes_tokens_jwts_and_ownership_decide_every_call() {
    let signing = key("k1");
    let stranger = key("k1"); // same key id, another key: a forgery
    let other_kid = key("k2");
    let idp_addr = idp(json!({"keys": [signing.jwk.clone()]})).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: from-file}\n\
         spec: {type: service, lifecycle: production, owner: team-a}\n",
    )
    .unwrap();
    let p = Pipeline::start_full(
        test_projector_config(),
        |api| api.auth = api_auth(idp_addr),
        |_| {},
    )
    .await;

    // Health is open to all; everything else needs credentials.
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        Channel::from_shared(format!("http://{}", p.api_addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    assert!(
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .is_ok()
    );
    let mut anonymous = clients(&p, None, None).await;
    let s = err(get(&mut anonymous, "component:svc-a").await);
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    assert!(s.message().contains("Bearer"), "{}", s.message());
    let mut garbage = clients(&p, Some("not-a-real-token"), None).await;
    let s = err(get(&mut garbage, "component:svc-a").await);
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(!s.message().contains("not-a-real-token"), "{}", s.message());

    // The writer pushes the people and their services.
    let mut writer = clients(&p, Some(WRITER), None).await;
    let results = writer
        .ingest
        .apply(pb::ApplyRequest {
            source: "people".into(),
            descriptors: descriptors(PEOPLE),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(
        results
            .iter()
            .all(|r| r.outcome() == pb::apply_result::Outcome::Created),
        "{results:?}"
    );
    let ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    let worker = CancellationToken::new();
    let running = tokio::spawn(ingestor.run(worker.clone()));
    let mut admin = clients(&p, Some(ADMIN), None).await;
    for r in [
        "component:svc-a",
        "component:svc-b",
        "component:svc-alice",
        "component:from-file",
        "user:pat",
        "user:alice",
        "group:team-b",
    ] {
        let c = &admin.catalog;
        wait_for(r, WAIT, || {
            let mut c = c.clone();
            async move {
                c.get_entity(pb::GetEntityRequest {
                    entity_ref: r.into(),
                    ..Default::default()
                })
                .await
                .ok()
            }
        })
        .await;
    }

    // catalog.read reads and nothing more.
    let mut reader = clients(&p, Some(READER), None).await;
    assert_eq!(code(get(&mut reader, "component:svc-a").await), Code::Ok);
    let s = err(reader
        .ingest
        .apply(pb::ApplyRequest {
            source: "people".into(),
            descriptors: descriptors(PEOPLE),
            dry_run: true,
        })
        .await);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(
        s.message().contains("token reader") && s.message().contains("catalog.write"),
        "{}",
        s.message()
    );
    assert_eq!(
        code(
            reader
                .locations
                .register_location(pb::RegisterLocationRequest {
                    r#type: "file".into(),
                    target: dir.path().display().to_string(),
                    dry_run: true,
                })
                .await
        ),
        Code::PermissionDenied
    );
    assert_eq!(
        code(delete(&mut reader, &["component:svc-a"]).await),
        Code::PermissionDenied
    );
    // A token that may not delegate cannot name a user.
    let mut posing = clients(&p, Some(READER), Some("user:default/pat")).await;
    assert_eq!(
        code(get(&mut posing, "component:svc-a").await),
        Code::PermissionDenied
    );
    let mut posing = clients(&p, None, Some("user:default/pat")).await;
    assert_eq!(
        code(get(&mut posing, "component:svc-a").await),
        Code::Unauthenticated
    );

    // catalog.write registers locations but does not unregister them.
    let other = tempfile::tempdir().unwrap();
    let registered = writer
        .locations
        .register_location(pb::RegisterLocationRequest {
            r#type: "file".into(),
            target: other.path().display().to_string(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner()
        .location
        .unwrap();
    let unregister = pb::UnregisterLocationRequest {
        id: registered.id.clone(),
        location_key: String::new(),
    };
    let s = err(writer
        .locations
        .unregister_location(unregister.clone())
        .await);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(s.message().contains("catalog.admin"), "{}", s.message());
    // catalog.admin does.
    admin
        .locations
        .unregister_location(unregister)
        .await
        .unwrap();

    // JWTs: a user with the users' scope (read) and the ownership rules.
    let alice_jwt = jwt(&signing, "k1", json!({"sub": "alice"}));
    let mut alice = clients(&p, Some(&alice_jwt), None).await;
    assert_eq!(code(get(&mut alice, "component:svc-b").await), Code::Ok);
    assert_eq!(
        code(
            alice
                .ingest
                .apply(pb::ApplyRequest {
                    source: "people".into(),
                    descriptors: descriptors(PEOPLE),
                    dry_run: true,
                })
                .await
        ),
        Code::PermissionDenied
    );
    // Not hers: refused, naming what she does not own, and nothing changed.
    let s = err(delete(&mut alice, &["component:svc-a", "component:svc-b"]).await);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(
        s.message().contains("component:default/svc-b")
            && !s.message().contains("component:default/svc-a"),
        "{}",
        s.message()
    );
    assert_eq!(code(get(&mut admin, "component:svc-b").await), Code::Ok);
    // Her group's and her own: deleted.
    let results = delete(&mut alice, &["component:svc-a", "component:svc-alice"])
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.outcome() == pb::apply_result::Outcome::Deleted),
        "{results:?}"
    );
    // Refreshing: the owner may, others may not.
    let refresh = pb::RefreshEntityRequest {
        entity_ref: "component:from-file".into(),
        wait: false,
    };
    alice
        .locations
        .refresh_entity(refresh.clone())
        .await
        .unwrap();
    let bob_jwt = jwt(&signing, "k1", json!({"sub": "user:default/bob"}));
    let mut bob = clients(&p, Some(&bob_jwt), None).await;
    let s = err(bob.locations.refresh_entity(refresh).await);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(s.message().contains("user:default/bob"), "{}", s.message());
    // Bob is a member of team-b through the group's `members`.
    assert_eq!(code(delete(&mut bob, &["component:svc-b"]).await), Code::Ok);
    // A configured location: its owner passes the permission check (and
    // is then told it cannot be unregistered); others do not.
    let file_location = admin
        .locations
        .list_locations(pb::ListLocationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .locations
        .into_iter()
        .find(|l| !l.registered)
        .expect("the configured location");
    let unregister = pb::UnregisterLocationRequest {
        id: file_location.id.clone(),
        location_key: String::new(),
    };
    // Refreshing a location: an owner of one of its entities may.
    let refresh_location = pb::RefreshLocationRequest {
        id: file_location.id.clone(),
        wait: false,
    };
    alice
        .locations
        .refresh_location(refresh_location.clone())
        .await
        .unwrap();
    let s = err(bob
        .locations
        .refresh_location(refresh_location.clone())
        .await);
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert!(
        s.message().contains("does not own any entity"),
        "{}",
        s.message()
    );
    assert_eq!(
        code(reader.locations.refresh_location(refresh_location).await),
        Code::PermissionDenied
    );
    let s = err(alice
        .locations
        .unregister_location(unregister.clone())
        .await);
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    let s = err(bob.locations.unregister_location(unregister).await);
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    // Group scopes: pat is in platform, whose members are admins.
    let pat_jwt = jwt(&signing, "k1", json!({"sub": "pat"}));
    let mut pat = clients(&p, Some(&pat_jwt), None).await;
    assert_eq!(
        code(
            pat.ingest
                .apply(pb::ApplyRequest {
                    source: "people".into(),
                    descriptors: descriptors(PEOPLE),
                    dry_run: true,
                })
                .await
        ),
        Code::Ok
    );
    // A scope claim grants write.
    let ci_jwt = jwt(
        &signing,
        "k1",
        json!({"sub": "bob", "scope": "openid catalog.write"}),
    );
    let mut ci = clients(&p, Some(&ci_jwt), None).await;
    assert_eq!(
        code(
            ci.ingest
                .apply(pb::ApplyRequest {
                    source: "people".into(),
                    descriptors: descriptors(PEOPLE),
                    dry_run: true,
                })
                .await
        ),
        Code::Ok
    );

    // Invalid JWTs, each refused with what is wrong.
    let cases = [
        (
            jwt(&signing, "k1", json!({"sub": "alice", "exp": now() - 3600})),
            "expired",
        ),
        (
            jwt(&signing, "k1", json!({"sub": "alice", "aud": "other"})),
            "audience",
        ),
        (
            jwt(
                &signing,
                "k1",
                json!({"sub": "alice", "iss": "https://evil"}),
            ),
            "issuer",
        ),
        (
            jwt(&signing, "k1", json!({"sub": "alice", "nbf": now() + 3600})),
            "not valid yet",
        ),
        (
            jwt(&signing, "k1", json!({"sub": "alice", "exp": null})),
            "exp",
        ),
        (jwt(&stranger, "k1", json!({"sub": "alice"})), "signature"),
        (jwt(&other_kid, "k2", json!({"sub": "alice"})), "\"k2\""),
        (
            jwt(&signing, "k1", json!({"sub": "group:default/team-a"})),
            "not a user",
        ),
        (jwt(&signing, "k1", json!({"name": "alice"})), "sub"),
        (
            // alg none, unsigned.
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#),
                URL_SAFE_NO_PAD.encode(
                    json!({"sub": "pat", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600})
                        .to_string()
                )
            ),
            "not valid",
        ),
        (
            // HS256 keyed with the public key: the algorithm-confusion attack.
            {
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                header.kid = Some("k1".into());
                jsonwebtoken::encode(
                    &header,
                    &json!({"sub": "pat", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600}),
                    &jsonwebtoken::EncodingKey::from_secret(
                        signing.jwk["x"].as_str().unwrap().as_bytes(),
                    ),
                )
                .unwrap()
            },
            "does not match its key",
        ),
    ];
    for (token, why) in cases {
        let mut c = clients(&p, Some(&token), None).await;
        let s = err(get(&mut c, "component:svc-b").await);
        assert_eq!(s.code(), Code::Unauthenticated, "{why}: {s:?}");
        assert!(s.message().contains(why), "{why}: {}", s.message());
    }
    // Expired within the clock skew allowed: accepted.
    let skewed = jwt(&signing, "k1", json!({"sub": "alice", "exp": now() - 20}));
    let mut c = clients(&p, Some(&skewed), None).await;
    assert_eq!(code(get(&mut c, "group:team-a").await), Code::Ok);

    worker.cancel();
    running.await.unwrap().unwrap();
    p.stop().await;
}

#[tokio::test]
async fn anonymous_callers_read_only_when_allowed() {
    let p = Pipeline::start_full(
        test_projector_config(),
        |api| {
            api.auth = AuthConfig {
                enabled: true,
                anonymous_read: true,
                ..AuthConfig::default()
            }
        },
        |_| {},
    )
    .await;
    let mut anonymous = clients(&p, None, None).await;
    assert_eq!(
        code(get(&mut anonymous, "component:nothing").await),
        Code::NotFound
    );
    let s = err(anonymous
        .ingest
        .apply(pb::ApplyRequest {
            source: "people".into(),
            descriptors: descriptors(PEOPLE),
            dry_run: true,
        })
        .await);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(
        s.message().contains("anonymous has catalog.read"),
        "{}",
        s.message()
    );
    // A token nobody configured is still refused, not taken as anonymous.
    let mut wrong = clients(&p, Some("some-made-up-token-000000"), None).await;
    assert_eq!(
        code(get(&mut wrong, "component:nothing").await),
        Code::Unauthenticated
    );
    p.stop().await;
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `request`: the status and the body.
async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn the_bridge_passes_verified_identities_and_refuses_cross_site_requests() {
    let signing = key("k1");
    let idp_addr = idp(json!({"keys": [signing.jwk.clone()]})).await;
    let p = Pipeline::start_full(
        test_projector_config(),
        |api| api.auth = api_auth(idp_addr),
        |bridge| {
            bridge.auth.api_token = Secret::new(BRIDGE);
            bridge.auth.tokens = BTreeMap::from([(Secret::new(CAROL), "user:default/carol".into())]);
            bridge.auth.trusted_proxy = Some(TrustedProxyConfig {
                addresses: vec!["127.0.0.0/8".into()],
                user_header: "x-forwarded-user".into(),
                namespace: "default".into(),
            });
            bridge.cors.allowed_origins = vec!["https://portal.example".into()];
            bridge.proxy = serde_json::from_value(json!({
                "endpoints": {"idp": {"target": format!("http://{idp_addr}"), "credentials": "dangerously-allow-unauthenticated"}}
            }))
            .unwrap();
        },
    )
    .await;
    let mut writer = clients(&p, Some(WRITER), None).await;
    writer
        .ingest
        .apply(pb::ApplyRequest {
            source: "people".into(),
            descriptors: descriptors(PEOPLE),
            dry_run: false,
        })
        .await
        .unwrap();
    let base = p.rest_base();
    let client = http();
    let svc_b = format!("{base}/api/catalog/entities/by-name/component/default/svc-b");
    wait_for("svc-b through the bridge", WAIT, || {
        let (client, url) = (client.clone(), svc_b.clone());
        async move {
            let r = client
                .get(url)
                .header("x-forwarded-user", "alice@example.com")
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;

    // Anonymous: the API allows no anonymous reads.
    let (status, text) = send(client.get(&svc_b)).await;
    assert_eq!(status, 401, "{text}");
    // Through the trusted proxy, alice reads and is herself at the API:
    // she may not delete team-b's service.
    let (status, text) = send(
        client
            .get(&svc_b)
            .header("x-forwarded-user", "alice@example.com"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let uid = serde_json::from_str::<Value>(&text).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let delete_b = format!("{base}/api/catalog/entities/by-uid/{uid}");
    let (status, text) = send(
        client
            .delete(&delete_b)
            .header("x-forwarded-user", "alice")
            .header("x-catalog-request", "1"),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("user:default/alice") && text.contains("does not own"),
        "{text}"
    );
    // Without the CSRF header the bridge refuses before asking the API.
    let (status, text) = send(client.delete(&delete_b).header("x-forwarded-user", "bob")).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("x-catalog-request"), "{text}");
    // From a foreign origin, even with it.
    let (status, text) = send(
        client
            .delete(&delete_b)
            .header("x-forwarded-user", "bob")
            .header("x-catalog-request", "1")
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("evil.example"), "{text}");
    let (status, _) = send(
        client
            .delete(&delete_b)
            .header("x-forwarded-user", "bob")
            .header("x-catalog-request", "1")
            .header("sec-fetch-site", "cross-site"),
    )
    .await;
    assert_eq!(status, 403);
    // Bob, a member of team-b, deletes it.
    let (status, text) = send(
        client
            .delete(&delete_b)
            .header("x-forwarded-user", "bob")
            .header("x-catalog-request", "1")
            .header("origin", base.as_str()),
    )
    .await;
    assert_eq!(status, 204, "{text}");

    // A bridge token names its user; an unknown bearer token (a JWT) goes
    // to the API as it is.
    let (status, text) = send(
        client
            .get(format!("{base}/api/identity"))
            .bearer_auth(CAROL),
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("user:default/carol"), "{text}");
    let svc_a = format!("{base}/api/catalog/entities/by-name/component/default/svc-a");
    assert_eq!(
        client
            .get(&svc_a)
            .bearer_auth(CAROL)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let alice_jwt = jwt(&signing, "k1", json!({"sub": "alice"}));
    assert_eq!(
        client
            .get(&svc_a)
            .bearer_auth(&alice_jwt)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(&svc_a)
            .bearer_auth("made-up-token-000000000000")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // A guest who claims to be pat (an admin through platform) is shown
    // as pat but acts as an anonymous caller.
    let signed_in = client
        .post(format!("{base}/api/identity/sign-in"))
        .json(&json!({"userEntityRef": "user:default/pat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, text) = send(client.get(&svc_a).header("cookie", &cookie)).await;
    assert_eq!(status, 401, "{text}");
    let refresh = format!("{base}/api/catalog/refresh");
    let (status, text) = send(
        client
            .post(&refresh)
            .header("cookie", &cookie)
            .json(&json!({"entityRef": "component:default/svc-a"})),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("CSRF"), "{text}");

    // The identity header from a peer that is not the proxy is ignored.
    let mut untrusted = UiBridgeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        api_url: format!("http://{}", p.api_addr),
        plugins: Some(Vec::new()),
        ..UiBridgeConfig::default()
    };
    untrusted.auth.api_token = Secret::new(BRIDGE);
    untrusted.auth.trusted_proxy = Some(TrustedProxyConfig {
        addresses: vec!["10.9.9.9".into()],
        user_header: "x-forwarded-user".into(),
        namespace: "default".into(),
    });
    let other = UiBridge::new(untrusted).unwrap();
    let listener = other.bind().await.unwrap();
    let other_addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let serving = tokio::spawn(other.run(listener, stop.clone()));
    let (status, text) = send(
        client
            .get(format!(
                "http://{other_addr}/api/catalog/entities/by-name/component/default/svc-a"
            ))
            .header("x-forwarded-user", "alice"),
    )
    .await;
    assert_eq!(status, 401, "{text}");
    stop.cancel();
    serving.await.unwrap().unwrap();

    // CORS: the configured origin only, and never with cookies.
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{base}/api/catalog/entities"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let allowed = preflight("https://portal.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://portal.example"
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    // Security headers: a strict policy on the app, none at all for
    // content proxied from a third party.
    let page = client.get(format!("{base}/catalog")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for part in [
        "default-src 'self'",
        "script-src 'self';",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let proxied = client
        .get(format!("{base}/api/proxy/idp/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    let csp = proxied.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    p.stop().await;
}
