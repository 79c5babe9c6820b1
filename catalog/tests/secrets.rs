//! Secrets never leave: the whole catalog (`catalog all`) runs with every
//! kind of secret configured (API tokens inline and from a file, JWTs, the
//! page-token and session secrets, the bridge's API token and its bearer
//! tokens, a proxy endpoint's injected credential, a NATS password),
//! answers calls that succeed and fail with each (the CLI's too), and then
//! its logs (at debug level), its metrics, its UI and every response body
//! and header are searched for each secret value and for the database
//! URL's credentials.

#[allow(dead_code)]
mod common;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use common::free_port;
use ring::signature::KeyPair;
use serde_json::json;
use tonic::transport::Channel;

const PAGE_SECRET: &str = "S3CRET-page-token-5b1f0c9e";
const BRIDGE_TOKEN: &str = "S3CRET-bridge-api-token-8d2a";
const WRITER_TOKEN: &str = "S3CRET-writer-file-token-77c4";
const SESSION_SECRET: &str = "S3CRET-session-secret-e41b";
const CAROL_TOKEN: &str = "S3CRET-carol-bearer-token-3f90";
const CI_TOKEN: &str = "S3CRET-ci-injected-header-a6d2";
const WRONG_TOKEN: &str = "S3CRET-wrong-token-never-valid-0c1d";
const NATS_PASSWORD: &str = "S3CRET-nats-password-52e7";

/// A directory `<parent>/<name>` holding one component named `name`.
fn component_dir(parent: &std::path::Path, name: &str) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\n\
             spec: {{type: service, lifecycle: production, owner: team-a}}\n"
        ),
    )
    .unwrap();
    dir
}

async fn record(what: &str, r: reqwest::Response) -> String {
    let status = r.status();
    let headers = format!("{:?}", r.headers());
    let body = r.text().await.unwrap_or_default();
    format!("== {what}: {status}\n{headers}\n{body}\n")
}

fn with_bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn no_secret_reaches_logs_metrics_errors_or_the_ui() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = catalog_test_support::TestEnv::new().await;
    let dir = tempfile::tempdir().unwrap();

    // The identity provider's key; the JWTs are secrets too.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}]});
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
        .unwrap()
    };
    let good_jwt = sign(
        json!({"sub": "alice", "iss": "https://idp.test", "aud": "catalog", "exp": now + 600}),
    );
    let expired_jwt = sign(
        json!({"sub": "alice", "iss": "https://idp.test", "aud": "catalog", "exp": now - 3600}),
    );
    std::fs::write(dir.path().join("writer-token"), format!("{WRITER_TOKEN}\n")).unwrap();

    // A third party behind the proxy, which answers without echoing.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/builds",
            axum::routing::get(|| async { axum::Json(json!({"builds": []})) }),
        );
        axum::serve(target, app).await
    });

    let descriptors = component_dir(dir.path(), "quiet");
    let (api_port, ui_port, metrics_port) = (free_port(), free_port(), free_port());
    let config = json!({
        "api": {
            "page_token_secret": "${T_PAGE_SECRET}",
            "auth": {
                "enabled": true,
                "tokens": [
                    {"name": "ui-bridge", "token": "${T_BRIDGE_TOKEN}", "scopes": ["catalog.admin"], "delegate": true},
                    {"name": "writer", "token_file": dir.path().join("writer-token"), "scopes": ["catalog.write"]}
                ],
                "jwt": {"jwks_file": dir.path().join("jwks.json"), "issuer": "https://idp.test", "audience": "catalog"}
            }
        },
        "ui_bridge": {
            "auth": {
                "session_secret": "${T_SESSION_SECRET}",
                "api_token": "${T_BRIDGE_TOKEN}",
                "bearer_tokens": [{"user": "user:default/carol", "token": "${T_CAROL_TOKEN}"}]
            },
            "proxy": {"endpoints": {"/ci": {
                "target": format!("http://{target_addr}"),
                "headers": {"Authorization": "Bearer ${T_CI_TOKEN}"},
                "credentials": "dangerously-allow-unauthenticated"
            }}}
        }
    });
    let config_file = dir.path().join("catalog.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let log_file = dir.path().join("catalog.log");
    let log = std::fs::File::create(&log_file).unwrap();
    let mut child = common::catalog_all(
        &env,
        &format!("{:?}", descriptors.display().to_string()),
        api_port,
        ui_port,
    )
    .arg("--config")
    .arg(&config_file)
    .env(
        "CATALOG_METRICS__LISTEN",
        format!("127.0.0.1:{metrics_port}"),
    )
    .env("RUST_LOG", "debug")
    .env("T_PAGE_SECRET", PAGE_SECRET)
    .env("T_BRIDGE_TOKEN", BRIDGE_TOKEN)
    .env("T_SESSION_SECRET", SESSION_SECRET)
    .env("T_CAROL_TOKEN", CAROL_TOKEN)
    .env("T_CI_TOKEN", CI_TOKEN)
    // The test server has no NATS accounts and ignores these; the catalog
    // holds and sends them all the same.
    .env("CATALOG_NATS__USER", "secrets-test")
    .env("CATALOG_NATS__PASSWORD", NATS_PASSWORD)
    .stdout(log.try_clone().unwrap())
    .stderr(log)
    .stdin(Stdio::null())
    .spawn()
    .unwrap();

    // Everything the catalog says to anyone, gathered here.
    let mut seen = String::new();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{ui_port}");
    let quiet = format!("{base}/api/catalog/entities/by-name/component/default/quiet");
    catalog_e2e::wait_for(
        "the component through REST",
        Duration::from_secs(60),
        || {
            let (http, quiet) = (http.clone(), quiet.clone());
            async move {
                let r = http.get(quiet).bearer_auth(CAROL_TOKEN).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        },
    )
    .await;
    for (what, request) in [
        ("carol", http.get(&quiet).bearer_auth(CAROL_TOKEN)),
        ("wrong token", http.get(&quiet).bearer_auth(WRONG_TOKEN)),
        ("jwt", http.get(&quiet).bearer_auth(&good_jwt)),
        ("expired jwt", http.get(&quiet).bearer_auth(&expired_jwt)),
        ("anonymous", http.get(&quiet)),
        ("proxy", http.get(format!("{base}/api/proxy/ci/builds"))),
        ("ui", http.get(format!("{base}/catalog"))),
        (
            "identity",
            http.get(format!("{base}/api/identity"))
                .bearer_auth(CAROL_TOKEN),
        ),
        (
            "sign-in",
            http.post(format!("{base}/api/identity/sign-in"))
                .json(&json!({"userEntityRef": "user:default/guest"})),
        ),
        (
            "cross-site",
            http.post(format!("{base}/api/catalog/refresh"))
                .header("cookie", "catalog_session=x.y")
                .json(&json!({"entityRef": "component:default/quiet"})),
        ),
        (
            "page",
            http.get(format!("{base}/api/catalog/entities?limit=1"))
                .bearer_auth(CAROL_TOKEN),
        ),
    ] {
        let r = request.send().await.unwrap();
        seen.push_str(&record(what, r).await);
    }

    let channel = Channel::from_shared(format!("http://127.0.0.1:{api_port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let mut ingest = IngestServiceClient::new(channel);
    let get = || pb::GetEntityRequest {
        entity_ref: "component:quiet".into(),
        ..Default::default()
    };
    for token in [
        WRONG_TOKEN,
        &expired_jwt,
        &good_jwt,
        WRITER_TOKEN,
        BRIDGE_TOKEN,
    ] {
        let r = catalog.get_entity(with_bearer(get(), token)).await;
        seen.push_str(&format!("== grpc get: {r:?}\n"));
        let r = ingest
            .apply(with_bearer(
                pb::ApplyRequest {
                    source: "quiet".into(),
                    descriptors: vec![pb::Descriptor {
                        content: "kind: Component\nmetadata: {name: x}".into(),
                        name: String::new(),
                    }],
                    dry_run: true,
                },
                token,
            ))
            .await;
        seen.push_str(&format!("== grpc apply: {r:?}\n"));
    }
    let r = catalog
        .list_entities(with_bearer(
            pb::ListEntitiesRequest {
                page_size: 1,
                ..Default::default()
            },
            WRITER_TOKEN,
        ))
        .await;
    seen.push_str(&format!("== grpc list: {r:?}\n"));
    // The CLI pushes with a token from its environment, and is refused without.
    let pushed = component_dir(dir.path(), "pushed");
    for token in [None, Some(WRITER_TOKEN)] {
        let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"));
        cli.args(["apply", "--dry-run", "--source", "quiet-cli", "-f"])
            .arg(&pushed)
            .env("CATALOG_API_URL", format!("http://127.0.0.1:{api_port}"))
            .env_remove("CATALOG_API_TOKEN");
        if let Some(t) = token {
            cli.env("CATALOG_API_TOKEN", t);
        }
        let out = cli.output().await.unwrap();
        let text = format!(
            "== cli apply (token: {}): {}\n{}\n{}\n",
            token.is_some(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), token.is_some(), "{text}");
        if token.is_none() {
            assert!(text.contains("Unauthenticated"), "{text}");
        }
        seen.push_str(&text);
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    seen.push_str(&metrics);

    child.kill().await.unwrap();
    let _ = child.wait().await;
    let logs = std::fs::read_to_string(&log_file).unwrap();
    // The run did what it should: otherwise finding nothing proves nothing.
    assert!(seen.contains("== carol: 200 OK"), "{seen}");
    assert!(seen.contains("== wrong token: 401"), "{seen}");
    assert!(seen.contains("== jwt: 200 OK"), "{seen}");
    assert!(seen.contains("== proxy: 200 OK"), "{seen}");
    assert!(seen.contains("== cross-site: 403"), "{seen}");
    assert!(seen.contains("catalog_api_requests_total"), "{seen}");
    assert!(logs.contains("DEBUG"), "the log is not at debug level");
    for secret in [
        PAGE_SECRET,
        BRIDGE_TOKEN,
        WRITER_TOKEN,
        SESSION_SECRET,
        CAROL_TOKEN,
        CI_TOKEN,
        WRONG_TOKEN,
        NATS_PASSWORD,
        &good_jwt,
        &expired_jwt,
    ] {
        for (what, text) in [("the logs", &logs), ("the responses and metrics", &seen)] {
            if let Some(at) = text.find(secret) {
                let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
                let line = text[from..].lines().next().unwrap_or("");
                panic!("a secret appears in {what}: {line}");
            }
        }
    }
    // The database URL's credentials (`user:password@`) are nowhere either.
    let userinfo = env
        .pg_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(userinfo, _)| format!("{userinfo}@"));
    if let Some(userinfo) = userinfo.filter(|u| u.contains(':')) {
        assert!(
            !logs.contains(&userinfo),
            "the database password is in the logs"
        );
        assert!(
            !seen.contains(&userinfo),
            "the database password is in a response"
        );
    }
    // The secrets' own prefix (every one starts with it) is nowhere either.
    assert!(!logs.contains("S3CRET"), "a secret's prefix is in the logs");
}
