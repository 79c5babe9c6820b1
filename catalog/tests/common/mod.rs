//! Running the `catalog` binary against a test environment.

use std::process::Stdio;

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `catalog all` on `env`'s stream and database, reading `locations`, with
/// the API and the bridge on the given ports; stdout discarded.
pub fn catalog_all(
    env: &catalog_test_support::TestEnv,
    locations: &str,
    api_port: u16,
    ui_port: u16,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"));
    command
        .arg("all")
        .env("CATALOG_NATS__URL", &env.nats_url)
        .env("CATALOG_NATS__STREAM", &env.stream)
        .env("CATALOG_NATS__SUBJECT_PREFIX", &env.subject_prefix)
        .env("CATALOG_POSTGRES__URL", &env.pg_url)
        .env("CATALOG_INGEST__LOCATIONS", format!("[{locations}]"))
        .env("CATALOG_API__LISTEN", format!("127.0.0.1:{api_port}"))
        .env("CATALOG_UI_BRIDGE__LISTEN", format!("127.0.0.1:{ui_port}"))
        .env(
            "CATALOG_UI_BRIDGE__API_URL",
            format!("http://127.0.0.1:{api_port}"),
        )
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Waits (up to 60 s) until the bridge at `base` serves component `name`.
pub async fn wait_for_component(base: &str, name: &str) {
    let url = format!("{base}/api/catalog/entities/by-name/component/default/{name}");
    catalog_e2e::wait_for(
        &format!("component {name} through REST"),
        std::time::Duration::from_secs(60),
        || {
            let url = url.clone();
            async move {
                reqwest::get(url)
                    .await
                    .ok()?
                    .status()
                    .is_success()
                    .then_some(())
            }
        },
    )
    .await;
}
