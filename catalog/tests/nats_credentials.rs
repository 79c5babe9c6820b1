//! The ways `nats:` settings authenticate and protect a connection, against
//! a nats-server of the test's own that requires TLS with client
//! certificates: an NKey user and a password user connect with the CA and a
//! client certificate; a wrong NKey, a missing client certificate, an
//! untrusted server and a server without TLS (with `tls_required`) are all
//! refused, each with an error that says which.
//!
//! Keys and certificates are made for the test with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use catalog_eventlog::{EventLog, EventLogConfig, EventLogError};
use catalog_faults::servers::NatsServer;

/// Runs `openssl` in `dir`; `None` when there is no `openssl` here.
fn openssl(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("running openssl: {e}"),
    };
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate
/// (`ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`).
fn certificates(dir: &Path) -> Option<()> {
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=catalog test CA"];
    ca.extend(key);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca)?;
    for (name, extensions) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        ),
        (
            "client",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
        let subject = format!("/CN=catalog {name}");
        let (keyout, csr) = (format!("{name}.key"), format!("{name}.csr"));
        let mut req = vec!["req", "-subj", subject.as_str()];
        req.extend(key);
        req.extend(["-keyout", keyout.as_str(), "-out", csr.as_str()]);
        openssl(dir, &req)?;
        let (cert, ext) = (format!("{name}.pem"), format!("{name}.ext"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &cert,
            ],
        )?;
    }
    Some(())
}

/// CRC-16/XMODEM, the checksum NKeys carry.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// RFC 4648 base32 without padding.
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// An NKey user: its seed (`SU...`) and public key (`U...`), from an
/// Ed25519 key made by openssl (the DER encodings end with the raw keys).
fn nkey_user(dir: &Path, name: &str) -> Option<(String, String)> {
    let key = format!("{name}.der");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-outform",
            "DER",
            "-out",
            &key,
        ],
    )?;
    let public = openssl(
        dir,
        &[
            "pkey", "-inform", "DER", "-in", &key, "-pubout", "-outform", "DER",
        ],
    )?;
    let private = std::fs::read(dir.join(&key)).unwrap();
    let with_crc = |mut raw: Vec<u8>| {
        let crc = crc16(&raw);
        raw.extend(crc.to_le_bytes());
        base32(&raw)
    };
    // Prefix bytes: user = 20 << 3; a seed is 18 << 3, followed by the
    // type's prefix split over the next bits.
    const USER: u8 = 20 << 3;
    const SEED: u8 = 18 << 3;
    let mut seed = vec![SEED | (USER >> 5), (USER & 31) << 3];
    seed.extend(&private[private.len() - 32..]);
    let mut user = vec![USER];
    user.extend(&public[public.len() - 32..]);
    Some((with_crc(seed), with_crc(user)))
}

fn config(nats: &NatsServer, dir: &Path) -> EventLogConfig {
    EventLogConfig {
        url: nats.url(),
        tls_ca_file: Some(dir.join("ca.pem")),
        tls_cert_file: Some(dir.join("client.pem")),
        tls_key_file: Some(dir.join("client.key")),
        ..EventLogConfig::default()
    }
}

async fn connect(config: EventLogConfig) -> Result<EventLog, EventLogError> {
    EventLog::connect(config, "credentials-test").await
}

fn file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[tokio::test]
async fn connections_authenticate_with_nkeys_or_passwords_over_verified_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (Some(()), Some((seed, public)), Some((stranger, _))) = (
        certificates(dir),
        nkey_user(dir, "user"),
        nkey_user(dir, "stranger"),
    ) else {
        eprintln!("skipped: no openssl command here to make keys and certificates");
        return;
    };
    assert!(
        seed.starts_with("SU") && public.starts_with('U'),
        "{seed} {public}"
    );
    let server_config = file(
        dir,
        "nats-server.conf",
        &format!(
            "jetstream {{ store_dir: \"{store}\" }}\n\
             tls {{\n  cert_file: \"{d}/server.pem\"\n  key_file: \"{d}/server.key\"\n  \
             ca_file: \"{d}/ca.pem\"\n  verify: true\n}}\n\
             authorization {{ users = [\n  {{ nkey: {public} }}\n  \
             {{ user: ingest, password: $INGEST_PASSWORD }}\n] }}\n",
            store = dir.join("nats").display(),
            d = dir.display(),
        ),
    );
    let nats = NatsServer::start_with_config(
        dir,
        Some(&server_config),
        vec![("INGEST_PASSWORD".into(), "ingest-secret".into())],
    )
    .await
    .unwrap();

    // The NKey user, over TLS with the server verified and a client
    // certificate presented; the `nats://` URL is upgraded because the
    // server requires TLS.
    let nkey = EventLogConfig {
        nkey_seed_file: Some(file(dir, "user.nk", &format!("{seed}\n"))),
        ..config(&nats, dir)
    };
    let log = connect(nkey.clone()).await.unwrap();
    assert!(log.client().server_info().tls_required);
    assert_eq!(log.last_sequence().await.unwrap(), 0);
    // A password user, with a `tls://` URL.
    let password = EventLogConfig {
        url: nats.url().replace("nats://", "tls://"),
        user: Some("ingest".into()),
        password: Some("ingest-secret".into()),
        ..config(&nats, dir)
    };
    connect(password).await.unwrap();

    // An NKey the server does not know.
    let unknown = EventLogConfig {
        nkey_seed_file: Some(file(dir, "stranger.nk", &stranger)),
        ..config(&nats, dir)
    };
    let err = connect(unknown).await.err().unwrap();
    assert!(
        matches!(err, EventLogError::Authentication { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("NKey seed file"), "{err}");
    // Not a seed at all: refused before connecting, naming the key.
    let not_a_seed = EventLogConfig {
        nkey_seed_file: Some(file(dir, "public.nk", &public)),
        ..config(&nats, dir)
    };
    let err = connect(not_a_seed).await.err().unwrap().to_string();
    assert!(
        err.contains("nats.nkey_seed_file") && err.contains("not an NKey user seed"),
        "{err}"
    );

    // Without the client certificate the server refuses the handshake.
    let no_client_cert = EventLogConfig {
        tls_cert_file: None,
        tls_key_file: None,
        ..nkey.clone()
    };
    assert!(connect(no_client_cert).await.is_err());
    // Without the CA the server's certificate is not trusted.
    let untrusted = EventLogConfig {
        tls_ca_file: None,
        ..nkey.clone()
    };
    let err = connect(untrusted).await.err().unwrap();
    assert!(matches!(err, EventLogError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
    // A CA file that is not there is named.
    let missing = EventLogConfig {
        tls_ca_file: Some(dir.join("nope.pem")),
        ..nkey.clone()
    };
    let err = connect(missing).await.err().unwrap().to_string();
    assert!(
        err.contains("nats.tls_ca_file") && err.contains("nope.pem"),
        "{err}"
    );

    // `tls_required` refuses a server that does not offer TLS.
    let plain_dir = dir.join("plain");
    std::fs::create_dir_all(&plain_dir).unwrap();
    let plain = NatsServer::start(&plain_dir).await.unwrap();
    let required = EventLogConfig {
        url: plain.url(),
        tls_required: true,
        ..EventLogConfig::default()
    };
    let err = connect(required).await.err().unwrap();
    assert!(matches!(err, EventLogError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().contains("with TLS (nats.tls_required)"),
        "{err}"
    );
}
