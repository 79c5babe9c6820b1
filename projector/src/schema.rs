//! Read-model schema migrations (`projector/migrations/`), run at start-up.

use deadpool_postgres::Pool;

refinery::embed_migrations!("migrations");

/// An arbitrary constant: the advisory lock that serialises migrations when
/// several processes start at once.
const MIGRATION_LOCK: i64 = 0x6361_7461_6c6f_6701;

/// Why migrations failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("connecting to PostgreSQL for migrations: {0}")]
    Connect(String),
    #[error("running read-model migrations: {0}")]
    Migrate(String),
}

/// Brings the read-model schema up to date.
pub async fn migrate(pool: &Pool) -> Result<(), SchemaError> {
    migrate_up_to(pool, None).await
}

/// Brings the read-model schema up to `version` and no further: an older
/// schema, for tests of the upgrades that follow it.
pub async fn migrate_to(pool: &Pool, version: i32) -> Result<(), SchemaError> {
    migrate_up_to(pool, Some(version)).await
}

async fn migrate_up_to(pool: &Pool, version: Option<i32>) -> Result<(), SchemaError> {
    let mut conn = pool
        .get()
        .await
        .map_err(|e| SchemaError::Connect(crate::db::describe_pool(&e)))?;
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| SchemaError::Migrate(crate::db::describe(&e)))?;
    let client: &mut tokio_postgres::Client = &mut conn;
    let mut runner = migrations::runner();
    if let Some(version) = version {
        runner = runner.set_target(refinery::Target::Version(version));
    }
    let result = runner.run_async(client).await;
    let unlock = conn
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = result.map_err(|e| SchemaError::Migrate(with_sources(&e)))?;
    unlock.map_err(|e| SchemaError::Migrate(crate::db::describe(&e)))?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "applied read-model migration");
    }
    Ok(())
}

/// An error and its sources, one after the other.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = match s.downcast_ref::<tokio_postgres::Error>() {
            Some(pg) => crate::db::describe(pg),
            None => s.to_string(),
        };
        if !text.contains(&more) {
            text.push_str(&format!(": {more}"));
        }
        source = s.source();
    }
    text
}
