use std::path::PathBuf;

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
    /// Whether this process creates the JetStream streams it uses (the
    /// event stream, the dead-letter stream, the ingest lease bucket) and
    /// updates them to the expected configuration. `false`: it only binds
    /// to existing ones, so its NATS user needs no permission to create,
    /// update or delete streams; `catalog init-streams`, run as a user that
    /// has it, creates them (`docs/nats-security.md`).
    #[serde(default = "default_manage_streams")]
    pub manage_streams: bool,
    /// A NATS credentials file (JWT + NKey seed), for servers with
    /// decentralised auth.
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
    /// A file holding an NKey seed (`SU...`), for servers whose users are
    /// NKeys (`authorization { users = [{ nkey: U... }] }`).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// A token, for servers with token auth (use `${VAR}`).
    #[serde(default)]
    pub token: Option<catalog_telemetry::Secret>,
    /// User and password, for servers with plain auth (use `${VAR}` for
    /// the password).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<catalog_telemetry::Secret>,
    /// PEM file of the certificate authorities trusted for the server's
    /// certificate (instead of the system's roots), for `tls://` URLs or
    /// servers that require TLS.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Refuse to talk to the server without TLS, even when the URL is
    /// `nats://` and the server does not ask for it.
    #[serde(default)]
    pub tls_required: bool,
    /// PEM client certificate and its key, for servers that verify clients
    /// (`tls { verify: true }`, or `verify_and_map` to map the certificate
    /// to a user).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

fn default_replicas() -> usize {
    1
}
fn default_manage_streams() -> bool {
    true
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
        let methods: Vec<&str> = [
            (self.creds_file.is_some(), "nats.creds_file"),
            (self.nkey_seed_file.is_some(), "nats.nkey_seed_file"),
            (self.token.is_some(), "nats.token"),
            (self.user.is_some(), "nats.user/nats.password"),
        ]
        .into_iter()
        .filter_map(|(set, key)| set.then_some(key))
        .collect();
        if methods.len() > 1 {
            return Err(format!(
                "{} are all set; a connection authenticates one way, set only one",
                methods.join(" and ")
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(
                "nats.tls_cert_file and nats.tls_key_file go together; set both or neither".into(),
            );
        }
        Ok(())
    }

    /// The TLS settings in use, for error messages: ` with TLS (...)`, or
    /// empty when none is set.
    pub fn tls_settings(&self) -> String {
        let mut settings = Vec::new();
        if let Some(path) = &self.tls_ca_file {
            settings.push(format!("nats.tls_ca_file {}", path.display()));
        }
        if let Some(path) = &self.tls_cert_file {
            settings.push(format!("nats.tls_cert_file {}", path.display()));
        }
        if self.tls_required {
            settings.push("nats.tls_required".to_string());
        }
        if settings.is_empty() {
            String::new()
        } else {
            format!(" with TLS ({})", settings.join(", "))
        }
    }

    /// How this configuration authenticates, for error messages (never the
    /// secret itself).
    pub fn credentials(&self) -> String {
        if let Some(path) = &self.creds_file {
            format!("credentials file {}", path.display())
        } else if let Some(path) = &self.nkey_seed_file {
            format!("NKey seed file {}", path.display())
        } else if self.token.is_some() {
            "nats.token".into()
        } else if let Some(user) = &self.user {
            format!("user {user:?} with nats.password")
        } else if self.tls_cert_file.is_some() {
            "the client certificate nats.tls_cert_file".into()
        } else {
            "a connection without credentials".into()
        }
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
            manage_streams: default_manage_streams(),
            creds_file: None,
            nkey_seed_file: None,
            token: None,
            user: None,
            password: None,
            tls_ca_file: None,
            tls_required: false,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_way_of_authenticating_and_names_never_secrets() {
        let plain = EventLogConfig {
            user: Some("ingest".into()),
            password: Some("s3cret".into()),
            ..EventLogConfig::default()
        };
        assert_eq!(plain.validate(), Ok(()));
        assert_eq!(plain.credentials(), "user \"ingest\" with nats.password");
        let both = EventLogConfig {
            token: Some("t0ken".into()),
            ..plain.clone()
        };
        let err = both.validate().unwrap_err();
        assert!(
            err.contains("nats.token and nats.user/nats.password"),
            "{err}"
        );
        let nkey = EventLogConfig {
            nkey_seed_file: Some("/run/secrets/ingest.nk".into()),
            ..EventLogConfig::default()
        };
        assert_eq!(nkey.validate(), Ok(()));
        assert_eq!(nkey.credentials(), "NKey seed file /run/secrets/ingest.nk");
        assert!(
            !EventLogConfig {
                token: Some("t0ken".into()),
                ..EventLogConfig::default()
            }
            .credentials()
            .contains("t0ken")
        );
        let half = EventLogConfig {
            tls_cert_file: Some("/c.pem".into()),
            ..EventLogConfig::default()
        };
        assert!(half.validate().unwrap_err().contains("nats.tls_key_file"));
        assert!(EventLogConfig::default().manage_streams);
    }
}
