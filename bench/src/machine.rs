//! What the figures were measured on.

use std::collections::BTreeMap;

use serde::Serialize;

/// The settings recorded in [`Machine::postgres_settings`].
const POSTGRES_SETTINGS: &[&str] = &[
    "autovacuum",
    "checkpoint_timeout",
    "fsync",
    "max_wal_size",
    "shared_buffers",
    "synchronous_commit",
    "work_mem",
];

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub postgres: String,
    /// The PostgreSQL settings the figures depend on most, as the server
    /// reports them (`autovacuum` off, say, leaves every table unvacuumed).
    pub postgres_settings: BTreeMap<String, String>,
    pub nats_server: String,
    pub catalog_version: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Machine {
    /// Reads the machine's description; the servers' versions come from
    /// the servers themselves.
    pub async fn describe(pg: &tokio_postgres::Client, nats: &async_nats::Client) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let postgres = match pg.query_one("SHOW server_version", &[]).await {
            Ok(row) => row.get::<_, String>(0),
            Err(e) => format!("unknown ({e})"),
        };
        let postgres_settings = match pg
            .query(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1)",
                &[&POSTGRES_SETTINGS],
            )
            .await
        {
            Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
            Err(e) => BTreeMap::from([("unknown".to_string(), e.to_string())]),
        };
        Self {
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            postgres,
            postgres_settings,
            nats_server: nats.server_info().version,
            catalog_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB, Linux {}, PostgreSQL {} ({}), nats-server {}",
            self.cores,
            self.cpu_model,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.kernel,
            self.postgres,
            self.postgres_settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            self.nats_server
        )
    }
}
