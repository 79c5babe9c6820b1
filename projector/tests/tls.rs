//! TLS to PostgreSQL with libpq's URL parameters, against the local server
//! (which serves TLS with a certificate for `localhost`).

use catalog_projector::db::connect_pool;

/// The server's certificate file, when the server has TLS on and this
/// process can read the file (the server runs on this machine).
async fn server_cert(env: &catalog_test_support::TestEnv) -> Option<String> {
    let client = env.pg().await;
    let ssl: String = client.query_one("SHOW ssl", &[]).await.ok()?.get(0);
    let file: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .ok()?
        .get(0);
    (ssl == "on" && std::fs::read(&file).is_ok()).then_some(file)
}

async fn encrypted(url: &str) -> Result<bool, String> {
    let pool = connect_pool(url, 1).map_err(|e| e.to_string())?;
    let client = pool
        .get()
        .await
        .map_err(|e| catalog_projector::db::describe_pool(&e))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_require_encrypts_and_verifies_the_server() {
    let env = catalog_test_support::TestEnv::new().await;
    let Some(cert) = server_cert(&env).await else {
        eprintln!("skipped: the PostgreSQL server here has no readable TLS certificate");
        return;
    };
    let url = env.pg_url.replace("@127.0.0.1:", "@localhost:");
    assert!(url.contains("@localhost:"), "{url}");

    // Without TLS by default.
    assert!(!encrypted(&url).await.unwrap());
    // Encrypted, with the server's certificate trusted through sslrootcert.
    let trusted = format!("{url}?sslmode=require&sslrootcert={cert}");
    assert!(encrypted(&trusted).await.unwrap());
    let full = format!("{url}?sslrootcert={cert}&sslmode=verify-full");
    assert!(encrypted(&full).await.unwrap());

    // A host name the certificate does not name is refused, not silently
    // accepted.
    let other_name = format!(
        "{}?sslmode=require&sslrootcert={cert}",
        env.pg_url.replace("@localhost:", "@127.0.0.1:")
    );
    let err = encrypted(&other_name).await.unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn bad_tls_settings_are_refused_up_front_with_the_reason() {
    let err = connect_pool(
        "postgres://u:secret@localhost/db?sslmode=require&sslrootcert=/nonexistent/ca.pem",
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{err}");
    assert!(!err.contains("secret"), "{err}");

    let err = connect_pool("postgres://localhost/db?sslrootcert=/etc/hosts", 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("add sslmode=require"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = connect_pool(
        &format!(
            "postgres://localhost/db?sslmode=require&sslrootcert={}",
            empty.display()
        ),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no PEM certificate"), "{err}");

    let err = connect_pool("postgres://localhost/db?sslmode=sometimes", 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sslmode"), "{err}");
}
