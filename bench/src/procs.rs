//! The catalog's components as separate processes (the `catalog` binary,
//! as operators run it), and what the kernel says they used: CPU time and
//! peak resident memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use catalog_test_support::TestEnv;

/// User + system CPU time of a process, from `/proc/<pid>/stat`.
pub fn cpu_of_pid(pid: u32) -> Duration {
    cpu_of(&format!("/proc/{pid}/stat"))
}

/// CPU time of this process so far.
pub fn own_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

fn cpu_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time of every PostgreSQL process on this machine so far (the
/// database's backends are processes of their own).
pub fn postgres_cpu() -> Duration {
    processes_named("postgres").map(cpu_of_pid).sum()
}

/// CPU time of the NATS server processes on this machine so far.
pub fn nats_cpu() -> Duration {
    processes_named("nats-server").map(cpu_of_pid).sum()
}

fn processes_named(name: &str) -> impl Iterator<Item = u32> + '_ {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(move |pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
}

/// A `/proc/<pid>/status` size field (`VmHWM`, `VmRSS`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Where the `catalog` binary is: beside this executable (both built by
/// `cargo build --release`), unless given.
pub fn catalog_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("catalog"),
    };
    anyhow::ensure!(
        path.is_file(),
        "no catalog binary at {} (build it with cargo build --release -p catalog, or pass --catalog)",
        path.display()
    );
    Ok(path)
}

/// Where a deployment's components find NATS and PostgreSQL.
pub struct Servers {
    pub nats_url: String,
    pub stream: String,
    pub subject_prefix: String,
    pub pg_url: String,
}

/// Settings every component of one deployment shares: the test
/// environment's stream and database, and the ports.
#[derive(Clone)]
pub struct Deployment {
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub api_port: u16,
    pub bridge_port: u16,
    pub logs: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Deployment {
    pub fn new(binary: &Path, env: &TestEnv, logs: &Path) -> anyhow::Result<Self> {
        Self::for_servers(
            binary,
            Servers {
                nats_url: env.nats_url.clone(),
                stream: env.stream.clone(),
                subject_prefix: env.subject_prefix.clone(),
                pg_url: env.pg_url.clone(),
            },
            logs,
        )
    }

    /// A deployment on the given stream and database.
    pub fn for_servers(binary: &Path, servers: Servers, logs: &Path) -> anyhow::Result<Self> {
        let (api_port, bridge_port) = (free_port()?, free_port()?);
        let vars = [
            ("CATALOG_NATS__URL", servers.nats_url),
            ("CATALOG_NATS__STREAM", servers.stream),
            ("CATALOG_NATS__SUBJECT_PREFIX", servers.subject_prefix),
            ("CATALOG_POSTGRES__URL", servers.pg_url),
            ("CATALOG_API__LISTEN", format!("127.0.0.1:{api_port}")),
            ("CATALOG_API__PAGE_TOKEN_SECRET", "bench".into()),
            (
                "CATALOG_UI_BRIDGE__LISTEN",
                format!("127.0.0.1:{bridge_port}"),
            ),
            (
                "CATALOG_UI_BRIDGE__API_URL",
                format!("http://127.0.0.1:{api_port}"),
            ),
            ("RUST_LOG", "warn".into()),
            // An error's message, not a backtrace, ends a failed component's log.
            ("RUST_BACKTRACE", "0".into()),
        ];
        Ok(Self {
            binary: binary.to_path_buf(),
            env: vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            api_port,
            bridge_port,
            logs: logs.to_path_buf(),
        })
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn bridge_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.bridge_port)
    }

    /// Starts `catalog <command>` with `extra` environment on top.
    pub fn start(&self, command: &str, extra: &[(&str, String)]) -> anyhow::Result<Component> {
        let log = self.logs.join(format!("{command}.log"));
        let mut c = tokio::process::Command::new(&self.binary);
        c.arg(command)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                // Appended to: a component restarted keeps its earlier log.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .with_context(|| format!("opening {}", log.display()))?,
            )
            .kill_on_drop(true);
        let child = c
            .spawn()
            .with_context(|| format!("starting catalog {command}"))?;
        let pid = child.id().context("the process has no pid")?;
        Ok(Component {
            name: command.to_string(),
            child,
            pid,
            log,
        })
    }

    /// Runs `catalog <command>` to completion.
    pub async fn run(&self, command: &str) -> anyhow::Result<()> {
        self.output(command).await.map(drop)
    }

    /// Runs `catalog <command>` to completion; its output.
    pub async fn output(&self, command: &str) -> anyhow::Result<std::process::Output> {
        let out = tokio::process::Command::new(&self.binary)
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .with_context(|| format!("running catalog {command}"))?;
        anyhow::ensure!(
            out.status.success(),
            "catalog {command}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(out)
    }
}

/// One running component.
pub struct Component {
    pub name: String,
    child: tokio::process::Child,
    pub pid: u32,
    log: PathBuf,
}

impl Component {
    pub fn cpu(&self) -> Duration {
        cpu_of_pid(self.pid)
    }

    /// Peak resident memory so far, bytes.
    pub fn peak_rss(&self) -> u64 {
        status_bytes(self.pid, "VmHWM:").unwrap_or(0)
    }

    /// Fails with the end of its log if it has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "catalog {} exited ({status}):\n{}",
                self.name,
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// Current resident memory, bytes.
    pub fn rss(&self) -> u64 {
        status_bytes(self.pid, "VmRSS:").unwrap_or(0)
    }

    /// `kill -9`, and waits for it to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("killing catalog {}", self.name))
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.reverse();
        tail.join("\n")
    }

    /// SIGTERM, then waits for it to stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}
