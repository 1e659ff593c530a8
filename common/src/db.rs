//! The service's Postgres pool and its migrations.

use crate::config::DatabaseConfig;
use contract::secret::ExposeSecret;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// A pool that connects lazily, so a service starts (and reports itself not
/// ready) while its database is still down.
pub fn connect_lazy(database: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(database.max_connections)
        .acquire_timeout(database.acquire_timeout)
        .connect_lazy(database.url.expose_secret())
}

/// Errors that mean "the database is not reachable yet", worth waiting out.
fn is_transient(error: &MigrateError) -> bool {
    matches!(
        error,
        MigrateError::Execute(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_))
    )
}

/// Runs the migrations, waiting (with capped backoff) while the database is
/// unreachable. A broken migration is returned as an error at once.
pub async fn migrate_when_reachable(
    pool: &PgPool,
    migrator: &Migrator,
) -> Result<(), MigrateError> {
    let mut delay = Duration::from_millis(250);
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable; migrations wait");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Migrations every service database has: the outbox and the inbox.
static SHARED: Migrator = sqlx::migrate!("./migrations");

/// The service's migrations plus the shared ones, in version order.
pub fn service_migrator(service: &Migrator) -> Migrator {
    let mut migrations: Vec<_> = SHARED.iter().chain(service.iter()).cloned().collect();
    migrations.sort_by_key(|m| m.version);
    Migrator {
        migrations: std::borrow::Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}
