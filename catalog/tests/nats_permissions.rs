//! `deploy/nats/nats-server.conf` on a nats-server of the test's own: the
//! components run as separate processes, each under its own user with
//! `nats.manage_streams: false`, and work end to end without a single
//! permission violation; what a user is not granted is refused, and the
//! stream is unchanged by the attempt.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use catalog_eventlog::{EventLog, EventLogConfig, EventLogError};
use catalog_faults::servers::{NatsServer, free_port};
use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use catalog_proto::v1::location_service_client::LocationServiceClient;

/// The configuration under test, as shipped.
const CONFIG: &str = include_str!("../../deploy/nats/nats-server.conf");
/// Every user of the shipped file, plus `other`: a user added without
/// permissions of its own.
const USERS: [&str; 6] = [
    "admin",
    "ingest",
    "projector",
    "api",
    "producer-payments",
    "other",
];
const WAIT: Duration = Duration::from_secs(60);
/// How long a refused JetStream request or publish waits for its answer:
/// the server drops it, so none comes.
const REFUSED_WAIT: Duration = Duration::from_millis(750);

const FIXTURE: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-perm}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: perm-system}
spec: {owner: team-perm}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: fixture-service}
spec: {type: service, lifecycle: production, owner: team-perm, system: perm-system}
";

fn password(user: &str) -> String {
    format!("{user}-pw-{}", std::process::id())
}

/// The environment variable the file reads `user`'s password from.
fn password_var(user: &str) -> String {
    let role = user.split('-').next().unwrap_or(user).to_uppercase();
    format!("CATALOG_NATS_{role}_PASSWORD")
}

/// The shipped file with its store under `dir` and a user `other` that has
/// no permissions of its own (so the file's defaults apply to it).
fn server_config(dir: &Path) -> String {
    let store = format!("store_dir: \"{}\"", dir.join("nats").display());
    let config = CONFIG.replacen("store_dir: \"/var/lib/nats\"", &store, 1);
    assert_ne!(config, CONFIG, "the shipped file names its store_dir");
    let with_other = config.replacen(
        "  users = [\n",
        "  users = [\n    { user: other, password: $CATALOG_NATS_OTHER_PASSWORD }\n",
        1,
    );
    assert_ne!(with_other, config, "the shipped file lists `users = [`");
    with_other
}

async fn start_server(dir: &Path) -> NatsServer {
    let path = dir.join("nats-server.conf");
    std::fs::write(&path, server_config(dir)).unwrap();
    let env = USERS
        .iter()
        .map(|u| (password_var(u), password(u)))
        .collect();
    NatsServer::start_with_config(dir, Some(&path), env)
        .await
        .unwrap()
}

/// `catalog <command>` as `user`, binding to existing streams only, its
/// output in `<dir>/<command>.log`.
fn catalog(
    dir: &Path,
    nats: &NatsServer,
    command: &str,
    user: &str,
    pg_url: &str,
) -> tokio::process::Command {
    let log = std::fs::File::create(dir.join(format!("{command}.log"))).unwrap();
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"));
    c.arg(command)
        .env_remove("CATALOG_CONFIG")
        .env("CATALOG_NATS__URL", nats.url())
        .env("CATALOG_NATS__USER", user)
        .env("CATALOG_NATS__PASSWORD", password(user))
        .env("CATALOG_NATS__MANAGE_STREAMS", "false")
        .env("CATALOG_POSTGRES__URL", pg_url)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true);
    c
}

/// The last lines of every component's log, for failure messages.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["init-streams", "ingest", "projector", "api", "nats-server"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        out.push_str(&format!("--- {name}\n{}\n", tail.join("\n")));
    }
    out
}

/// Polls `check` until it returns `Some`; on timeout fails with the logs.
async fn wait_until<T, F, Fut>(dir: &Path, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            logs(dir)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A plain connection as `user`, keeping the errors the server reports to
/// it (permission violations arrive that way, not as replies).
struct Conn {
    js: jetstream::Context,
    client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
    user: &'static str,
}

impl Conn {
    async fn open(nats: &NatsServer, user: &'static str) -> Self {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = errors.clone();
        let mut options =
            async_nats::ConnectOptions::with_user_and_password(user.into(), password(user));
        if user == "producer-payments" {
            // The inbox prefix the file grants this producer.
            options = options.custom_inbox_prefix("_INBOX_payments");
        }
        let client = options
            .event_callback(move |event| {
                let seen = seen.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        seen.lock().unwrap().push(e.to_string());
                    }
                }
            })
            .connect(nats.url())
            .await
            .unwrap_or_else(|e| panic!("connecting as {user}: {e}"));
        let js = jetstream::ContextBuilder::new()
            .timeout(REFUSED_WAIT)
            .build(client.clone());
        Self {
            js,
            client,
            errors,
            user,
        }
    }

    /// Waits for the server's report that publishing to `subject` was refused.
    async fn assert_violation(&self, subject: &str) {
        self.assert_reported(&format!(
            "Permissions Violation for Publish to \"{subject}\""
        ))
        .await;
    }

    /// Waits for the server to report an error containing `wanted`.
    async fn assert_reported(&self, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self
                .errors
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains(wanted))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: the server did not report {wanted:?}; errors: {:?}",
                self.user,
                self.errors.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A JetStream publish to `subject` gets no acknowledgement and is
    /// reported as a violation.
    async fn assert_publish_refused(&self, subject: &str) {
        let outcome = match self.js.publish(subject.to_string(), "forged".into()).await {
            Ok(ack) => ack.await.map(|a| a.sequence).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        assert!(
            outcome.is_err(),
            "{} could publish to {subject}: {outcome:?}",
            self.user
        );
        self.assert_violation(subject).await;
    }

    /// A core publish to `subject` (no stream involved) is reported as a violation.
    async fn assert_core_publish_refused(&self, subject: &str) {
        self.client
            .publish(subject.to_string(), "forged".into())
            .await
            .unwrap();
        self.client.flush().await.unwrap();
        self.assert_violation(subject).await;
    }
}

/// The event stream's message count and last sequence, read as `admin`.
async fn stream_state(admin: &Conn) -> (u64, u64) {
    let mut stream = admin.js.get_stream("CATALOG").await.unwrap();
    let info = stream.info().await.unwrap();
    (info.state.messages, info.state.last_sequence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_work_under_their_own_nats_users_and_nobody_else_writes_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let nats = start_server(dir).await;
    let env = catalog_test_support::TestEnv::new().await;
    let fixture = dir.join("fixture");
    std::fs::create_dir_all(&fixture).unwrap();
    std::fs::write(fixture.join("catalog-info.yaml"), FIXTURE).unwrap();
    let location = fixture.join("catalog-info.yaml");

    // Bound to a stream nobody created, a component stops and says who
    // creates it.
    let out = catalog(dir, &nats, "ingest", "ingest", &env.pg_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("JetStream stream CATALOG: does not exist")
            && stderr.contains("catalog init-streams"),
        "{stderr}"
    );

    // `admin` creates the streams.
    let status = catalog(dir, &nats, "init-streams", "admin", &env.pg_url)
        .status()
        .await
        .unwrap();
    let init_log = std::fs::read_to_string(dir.join("init-streams.log")).unwrap();
    assert!(status.success(), "{init_log}");
    assert!(
        init_log.contains(
            "JetStream streams are up to date: CATALOG, CATALOG_DEADLETTER, KV_CATALOG_INGEST_LEASES"
        ),
        "{init_log}"
    );

    // A lease TTL other than the bucket's is refused before anything is
    // published.
    let out = catalog(dir, &nats, "ingest", "ingest", &env.pg_url)
        .env(
            "CATALOG_INGEST__LOCATIONS",
            format!("[{}]", location.display()),
        )
        .env("CATALOG_INGEST__LEASE_TTL_SECS", "30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "KV_CATALOG_INGEST_LEASES: keeps leases 15 s but ingest.lease_ttl_secs is 30"
        ),
        "{stderr}"
    );
    let admin = Conn::open(&nats, "admin").await;
    assert_eq!(stream_state(&admin).await, (0, 0));

    // Each component under its own user.
    let api_port = free_port().unwrap();
    let _projector = catalog(dir, &nats, "projector", "projector", &env.pg_url)
        .spawn()
        .unwrap();
    let _ingest = catalog(dir, &nats, "ingest", "ingest", &env.pg_url)
        .env(
            "CATALOG_INGEST__LOCATIONS",
            format!("[{}]", location.display()),
        )
        .spawn()
        .unwrap();
    let _api = catalog(dir, &nats, "api", "api", &env.pg_url)
        .env("CATALOG_API__LISTEN", format!("127.0.0.1:{api_port}"))
        .spawn()
        .unwrap();

    // Ingest publishes, the projector applies.
    let pg = env.pg().await;
    let count = |sql: &'static str| {
        let pg = &pg;
        async move {
            pg.query_one(sql, &[])
                .await
                .ok()
                .map(|r| r.get::<_, i64>(0))
        }
    };
    wait_until(
        dir,
        "the fixture's three entities in the read model",
        || async { (count("SELECT count(*) FROM entities").await? == 3).then_some(()) },
    )
    .await;

    // The API publishes what IngestService and LocationService are asked.
    let api = format!("http://127.0.0.1:{api_port}");
    let mut ingest_api = wait_until(dir, "the API", || async {
        IngestServiceClient::connect(api.clone()).await.ok()
    })
    .await;
    let applied = ingest_api
        .apply(pb::ApplyRequest {
            source: "perm-test".into(),
            descriptors: vec![pb::Descriptor {
                content: "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: pushed}\nspec: {type: service, lifecycle: production, owner: team-perm}\n".into(),
                name: "pushed.yaml".into(),
            }],
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        applied.results[0].outcome(),
        pb::apply_result::Outcome::Created,
        "{applied:?}"
    );
    wait_until(dir, "the pushed entity in the read model", || async {
        (count("SELECT count(*) FROM entities").await? == 4).then_some(())
    })
    .await;
    let mut locations = LocationServiceClient::connect(api.clone()).await.unwrap();
    // A refresh request (API) answered by the worker holding the lease
    // (ingest hears the request, reads, reports its status).
    let refreshed = locations
        .refresh_entity(pb::RefreshEntityRequest {
            entity_ref: "component:default/fixture-service".into(),
            wait: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        refreshed.status_sequence > refreshed.request_sequence,
        "{refreshed:?}"
    );
    let registered = locations
        .register_location(pb::RegisterLocationRequest {
            r#type: "url".into(),
            target: "http://127.0.0.1:9/nowhere/catalog-info.yaml".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner()
        .location
        .unwrap();
    locations
        .unregister_location(pb::UnregisterLocationRequest {
            id: registered.id,
            location_key: String::new(),
        })
        .await
        .unwrap();

    // The API reads the log: every change from the start.
    let mut catalog_api = CatalogServiceClient::connect(api.clone()).await.unwrap();
    let mut watch = catalog_api
        .watch_entities(pb::WatchEntitiesRequest {
            from_start: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    let watched = tokio::time::timeout(WAIT, async {
        while seen.len() < 4 {
            match watch.message().await {
                Ok(Some(pb::WatchEntitiesResponse {
                    event: Some(pb::watch_entities_response::Event::Change(c)),
                    ..
                })) => seen.push(c.entity_ref),
                Ok(Some(_)) => {}
                other => panic!("watch ended: {other:?}"),
            }
        }
    })
    .await;
    assert!(watched.is_ok(), "watched only {seen:?}\n{}", logs(dir));
    assert!(
        seen.contains(&"component:default/pushed".to_string()),
        "{seen:?}"
    );

    // A producer confined to its namespace publishes there; its broken
    // event becomes a dead letter, written by the projector to the
    // dead-letter stream.
    let producer = Conn::open(&nats, "producer-payments").await;
    producer
        .js
        .publish(
            "catalog.entity.component.payments.broken",
            "not protobuf".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    wait_until(
        dir,
        "the producer's broken event as a dead letter",
        || async { (count("SELECT count(*) FROM dead_letters").await? == 1).then_some(()) },
    )
    .await;

    // Everything above ran without a single refused operation.
    let server_log = std::fs::read_to_string(nats.log_file()).unwrap();
    let violations: Vec<&str> = server_log
        .lines()
        .filter(|l| l.contains("Violation"))
        .collect();
    assert!(
        violations.is_empty(),
        "permission violations:\n{}",
        violations.join("\n")
    );

    // Now what each user is not granted.
    let before = stream_state(&admin).await;

    // Nobody but ingest, the API and producers publishes to the stream.
    let forged = "catalog.entity.component.default.forged";
    let projector = Conn::open(&nats, "projector").await;
    projector.assert_publish_refused(forged).await;
    projector
        .assert_publish_refused("catalog.location.00000000-0000-0000-0000-000000000000.status")
        .await;
    producer.assert_publish_refused(forged).await;
    // ...and reads no one else's replies.
    let _snoop = producer.client.subscribe("_INBOX.>").await.unwrap();
    producer
        .assert_reported("Permissions Violation for Subscription to \"_INBOX.>\"")
        .await;
    let other = Conn::open(&nats, "other").await;
    other
        .assert_publish_refused("catalog.entity.component.payments.forged")
        .await;
    assert!(other.js.get_stream("CATALOG").await.is_err());
    other.assert_violation("$JS.API.STREAM.INFO.CATALOG").await;
    admin.assert_publish_refused(forged).await;

    // Ingest publishes only its own subjects, and cannot rewrite history.
    let ingest = Conn::open(&nats, "ingest").await;
    ingest
        .assert_publish_refused("catalog.location.00000000-0000-0000-0000-000000000000.refresh")
        .await;
    ingest.assert_publish_refused("catalog.other.subject").await;
    ingest
        .assert_publish_refused("deadletter.catalog.entity.component.default.forged")
        .await;
    ingest
        .assert_core_publish_refused("catalog_checkpoints.projector")
        .await;
    let shadow = ingest
        .js
        .create_stream(jetstream::stream::Config {
            name: "SHADOW".into(),
            subjects: vec!["shadow.>".into()],
            ..Default::default()
        })
        .await;
    assert!(shadow.is_err());
    ingest
        .assert_violation("$JS.API.STREAM.CREATE.SHADOW")
        .await;
    assert!(ingest.js.delete_stream("CATALOG").await.is_err());
    ingest
        .assert_violation("$JS.API.STREAM.DELETE.CATALOG")
        .await;
    let mut stream = admin.js.get_stream("CATALOG").await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    assert!(
        ingest
            .js
            .update_stream(jetstream::stream::Config {
                deny_delete: false,
                deny_purge: false,
                ..config.clone()
            })
            .await
            .is_err()
    );
    ingest
        .assert_violation("$JS.API.STREAM.UPDATE.CATALOG")
        .await;
    let ingest_stream = ingest.js.get_stream("CATALOG").await.unwrap();
    assert!(ingest_stream.purge().await.is_err());
    ingest
        .assert_violation("$JS.API.STREAM.PURGE.CATALOG")
        .await;
    assert!(ingest_stream.delete_message(1).await.is_err());
    ingest
        .assert_violation("$JS.API.STREAM.MSG.DELETE.CATALOG")
        .await;

    // The API neither reports statuses nor takes leases.
    let api_user = Conn::open(&nats, "api").await;
    api_user
        .assert_publish_refused("catalog.location.00000000-0000-0000-0000-000000000000.status")
        .await;
    api_user
        .assert_publish_refused("$KV.CATALOG_INGEST_LEASES.forged")
        .await;

    // A reader's push consumer does not write other streams through its
    // deliveries: what it delivers into the lease bucket's or the dead
    // letters' subjects is not stored (while it does deliver to an inbox).
    let messages = |name: &'static str| {
        let js = admin.js.clone();
        async move {
            let mut stream = js.get_stream(name).await.unwrap();
            stream.info().await.unwrap().state.messages
        }
    };
    let others_before = (
        messages("KV_CATALOG_INGEST_LEASES").await,
        messages("CATALOG_DEADLETTER").await,
    );
    let mut inbox = admin.client.subscribe("_INBOX.push-probe").await.unwrap();
    for deliver in [
        "$KV.CATALOG_INGEST_LEASES.forged",
        "deadletter.catalog.entity.component.default.forged",
        "_INBOX.push-probe",
    ] {
        api_user
            .js
            .create_consumer_on_stream(
                jetstream::consumer::push::Config {
                    deliver_subject: deliver.into(),
                    ..Default::default()
                },
                "CATALOG",
            )
            .await
            .unwrap();
    }
    let delivered = tokio::time::timeout(WAIT, tokio_stream::StreamExt::next(&mut inbox)).await;
    assert!(matches!(delivered, Ok(Some(_))), "{delivered:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        (
            messages("KV_CATALOG_INGEST_LEASES").await,
            messages("CATALOG_DEADLETTER").await,
        ),
        others_before
    );
    // Delivering into the event stream itself is refused outright.
    let looped = api_user
        .js
        .create_consumer_on_stream(
            jetstream::consumer::push::Config {
                deliver_subject: forged.into(),
                ..Default::default()
            },
            "CATALOG",
        )
        .await;
    assert!(looped.is_err());

    // Not even `admin` can allow deletions or purges again.
    let undo = admin
        .js
        .update_stream(jetstream::stream::Config {
            deny_delete: false,
            deny_purge: false,
            ..config.clone()
        })
        .await;
    assert!(undo.is_err(), "{undo:?}");

    // The stream holds exactly what it held, and is configured as before.
    assert_eq!(stream_state(&admin).await, before);
    let after = stream.info().await.unwrap().config.clone();
    assert!(after.deny_delete && after.deny_purge, "{after:?}");

    // Connections without the right credentials are refused, naming
    // authentication and the user, never the password.
    let wrong = EventLogConfig {
        url: nats.url(),
        user: Some("ingest".into()),
        password: Some("not-the-password".into()),
        manage_streams: false,
        ..EventLogConfig::default()
    };
    let err = match EventLog::connect(wrong, "perm-test").await {
        Err(e) => e,
        Ok(_) => panic!("connected with a wrong password"),
    };
    assert!(
        matches!(err, EventLogError::Authentication { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("authentication failed") && message.contains("user \"ingest\""),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    let anonymous = EventLogConfig {
        url: nats.url(),
        ..EventLogConfig::default()
    };
    let message = match EventLog::connect(anonymous, "perm-test").await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected without credentials"),
    };
    assert!(
        message.contains("authentication failed") && message.contains("without credentials"),
        "{message}"
    );
    let out = catalog(dir, &nats, "init-streams", "admin", &env.pg_url)
        .env("CATALOG_NATS__PASSWORD", "wrong")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");

    // The server logged what it refused (so the log was a fair witness of
    // the first part).
    let server_log = std::fs::read_to_string(nats.log_file()).unwrap();
    assert!(
        server_log.contains("Publish Violation") && server_log.contains(forged),
        "{server_log}"
    );
}
