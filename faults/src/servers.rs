//! NATS and PostgreSQL servers of the suite's own, on free ports and in
//! directories it removes, so that it can kill and restart them without
//! disturbing anything else on the machine.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A free TCP port on the loopback interface.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("finding a free port")?
        .local_addr()?
        .port())
}

/// Waits until something accepts connections on `port`.
pub async fn wait_listening(port: u16, what: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("{what} did not listen on port {port} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `nats-server` with JetStream, its store kept across restarts.
pub struct NatsServer {
    pub port: u16,
    binary: PathBuf,
    store: PathBuf,
    log: PathBuf,
    /// A configuration file (`-c`), which names the store directory; the
    /// command line's address and port override what it says.
    config: Option<PathBuf>,
    /// Environment of the server process (the file's `$VAR` references).
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server` (from `CATALOG_NATS_SERVER`, else `PATH`) with
    /// its store under `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with_config(dir, None, Vec::new()).await
    }

    /// Starts it with a configuration file (its `store_dir` under `dir`,
    /// since the command line cannot override it), whose `$VAR` references
    /// are resolved from `env`.
    pub async fn start_with_config(
        dir: &Path,
        config: Option<&Path>,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let binary = std::env::var_os("CATALOG_NATS_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("nats-server"));
        let store = dir.join("nats");
        std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
        let mut server = Self {
            port: free_port()?,
            binary,
            log: dir.join("nats-server.log"),
            store,
            config: config.map(Path::to_path_buf),
            env,
            child: None,
        };
        server.launch().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's log file.
    pub fn log_file(&self) -> &Path {
        &self.log
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(&self.binary);
        // nats-server refuses a store directory given both in its
        // configuration file and on the command line.
        match &self.config {
            Some(config) => command.arg("-c").arg(config),
            None => command.arg("-sd").arg(&self.store),
        };
        let child = command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install nats-server, or set CATALOG_NATS_SERVER)",
                    self.binary.display()
                )
            })?;
        self.child = Some(child);
        wait_listening(self.port, "nats-server", Duration::from_secs(20))
            .await
            .with_context(|| {
                // A configuration it refuses ends it at once: say why.
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                format!(
                    "nats-server (log {}): {}",
                    self.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )
            })
    }

    /// `kill -9`: nothing is flushed that was not already.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing nats-server")?;
        }
        Ok(())
    }

    /// Starts it again on the same port and store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        self.launch().await
    }
}

/// A PostgreSQL cluster of its own (`initdb`, `pg_ctl`), trust
/// authentication on the loopback interface.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// Runs the server tools as `postgres` when this process is root
    /// (PostgreSQL refuses to run as root).
    as_postgres: bool,
}

impl Postgres {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = pg_bindir()?;
        let as_postgres = is_root();
        let data = dir.join("pg");
        std::fs::create_dir_all(&data)?;
        if as_postgres {
            // The server runs as `postgres`: it must reach and own its directory.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .await
                .context("chown of the PostgreSQL directory")?;
            anyhow::ensure!(status.success(), "chown postgres {} failed", data.display());
        }
        let pg = Self {
            port: free_port()?,
            log: data.join("server.log"),
            bin,
            data,
            as_postgres,
        };
        pg.tool(
            "initdb",
            &[
                "-D",
                &pg.data.join("cluster").to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )
        .await?;
        pg.start_server().await?;
        Ok(pg)
    }

    /// An admin connection URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    async fn tool(&self, name: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", program.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "{name} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    async fn start_server(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
             -c max_connections=200 -c shared_buffers=128MB",
            self.port
        );
        self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data.join("cluster").to_string_lossy(),
                "-l",
                &self.log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
        .await?;
        wait_listening(self.port, "PostgreSQL", Duration::from_secs(30)).await
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint; the next start replays the WAL).
    pub async fn crash(&self) -> anyhow::Result<()> {
        self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data.join("cluster").to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .await
    }

    /// Starts the server again after [`Self::crash`].
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.start_server().await
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data.join("cluster");
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let _ = cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// PostgreSQL's server programs: `CATALOG_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn pg_bindir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CATALOG_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("looking for PostgreSQL in /usr/lib/postgresql (set CATALOG_PG_BINDIR)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server programs under /usr/lib/postgresql (set CATALOG_PG_BINDIR)")
}
