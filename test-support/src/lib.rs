//! Shared helpers for tests against real NATS and PostgreSQL.
//!
//! [`TestEnv`] gives each test its own PostgreSQL database and its own
//! JetStream stream and subject prefix, and removes both when dropped, so
//! tests run in parallel without seeing each other. Servers come from
//! `CATALOG_TEST_PG_URL` (an admin connection, default
//! `postgres://catalog:catalog@127.0.0.1:5432/postgres`) and
//! `CATALOG_TEST_NATS_URL` (default `nats://127.0.0.1:4222`).

use std::future::Future;
use std::time::{Duration, Instant};

/// Default admin connection for creating test databases.
pub const DEFAULT_PG_URL: &str = "postgres://catalog:catalog@127.0.0.1:5432/postgres";
/// Default NATS server.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// An isolated database, stream and subject prefix for one test.
pub struct TestEnv {
    /// Short unique id of this environment.
    pub id: String,
    /// Connection URL of this test's own database.
    pub pg_url: String,
    /// Name of this test's database.
    pub db_name: String,
    /// NATS server URL.
    pub nats_url: String,
    /// This test's JetStream stream.
    pub stream: String,
    /// This test's subject prefix (the stream captures `<prefix>.>`).
    pub subject_prefix: String,
    admin_url: String,
}

impl TestEnv {
    /// Creates a fresh database; the stream is created by whoever connects
    /// first (ingest or projector) and deleted on drop.
    pub async fn new() -> Self {
        let admin_url =
            std::env::var("CATALOG_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
        let nats_url =
            std::env::var("CATALOG_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.into());
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let db_name = format!("catalog_test_{id}");
        let admin = admin_client(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {db_name}"))
            .await
            .unwrap_or_else(|e| panic!("creating test database {db_name}: {e}"));
        let pg_url = with_database(&admin_url, &db_name);
        Self {
            stream: format!("TEST_{id}"),
            subject_prefix: format!("t_{id}"),
            id,
            pg_url,
            db_name,
            nats_url,
            admin_url,
        }
    }

    /// A connection to this test's database.
    pub async fn pg(&self) -> tokio_postgres::Client {
        admin_client(&self.pg_url).await
    }

    /// A NATS connection.
    pub async fn nats(&self) -> async_nats::Client {
        async_nats::connect(&self.nats_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to NATS at {}: {e}", self.nats_url))
    }

    async fn cleanup(admin_url: String, nats_url: String, db_name: String, stream: String) {
        // The stream and every stream named after it (KV buckets, dead letters).
        if let Ok(client) = async_nats::connect(&nats_url).await {
            use futures::TryStreamExt;
            let js = async_nats::jetstream::new(client);
            let names: Vec<String> = match js.stream_names().try_collect().await {
                Ok(names) => names,
                Err(_) => vec![stream.clone()],
            };
            for name in names.iter().filter(|n| n.contains(&stream)) {
                let _ = js.delete_stream(name).await;
            }
        }
        if let Ok((admin, conn)) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
        {
            tokio::spawn(conn);
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                .await;
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // `CATALOG_TEST_KEEP=1` leaves the database and stream in place,
        // for looking at what a test or benchmark left behind.
        if std::env::var_os("CATALOG_TEST_KEEP").is_some_and(|v| v == "1") {
            eprintln!(
                "CATALOG_TEST_KEEP: kept database {} and stream {}",
                self.db_name, self.stream
            );
            return;
        }
        let args = (
            self.admin_url.clone(),
            self.nats_url.clone(),
            self.db_name.clone(),
            self.stream.clone(),
        );
        // Drop cannot be async and may run inside a runtime: clean up on a
        // thread with its own runtime and wait for it.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(Self::cleanup(args.0, args.1, args.2, args.3));
            }
        })
        .join();
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to PostgreSQL at {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// Replaces the database part of a `postgres://` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Polls `check` until it returns `Some`, or panics naming `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
