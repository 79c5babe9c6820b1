use serde::Deserialize;

/// Where the event log lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`, or a comma-separated
    /// list of a cluster's servers.
    #[serde(default = "default_url")]
    pub url: String,
    /// JetStream stream name.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// First token(s) of every subject; the stream captures `<prefix>.>`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// Copies of the stream kept by a JetStream cluster (1, 3 or 5; 3 in
    /// production, so losing one server loses nothing).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// A NATS credentials file (JWT + NKey seed), for servers with
    /// decentralised auth.
    #[serde(default)]
    pub creds_file: Option<std::path::PathBuf>,
    /// A token, for servers with token auth (use `${VAR}`).
    #[serde(default)]
    pub token: Option<String>,
    /// User and password, for servers with plain auth (use `${VAR}` for
    /// the password).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

fn default_replicas() -> usize {
    1
}

impl EventLogConfig {
    /// Checks what serde cannot: the replica count.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.replicas, 1 | 3 | 5) {
            return Err(format!(
                "nats.replicas is {}; JetStream streams have 1, 3 or 5 replicas",
                self.replicas
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err("nats.user and nats.password go together; set both or neither".into());
        }
        Ok(())
    }
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".into()
}
fn default_stream() -> String {
    "CATALOG".into()
}
fn default_prefix() -> String {
    "catalog".into()
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            stream: default_stream(),
            subject_prefix: default_prefix(),
            replicas: default_replicas(),
            creds_file: None,
            token: None,
            user: None,
            password: None,
        }
    }
}
