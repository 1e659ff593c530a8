//! The service's Postgres pool and its migrations.

use crate::config::DatabaseConfig;
use contract::secret::ExposeSecret;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Connection;
use std::time::Duration;

/// A connection idle for longer than this is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A pool that connects lazily, so a service starts (and reports itself not
/// ready) while its database is still down.
///
/// sqlx pings every connection it hands out by default: one more round trip
/// to Postgres per acquire (per order accepted, per relay or consumer
/// batch), which under load only costs. Here only a connection idle for over
/// a second is pinged first. One the server closed within the second since
/// its last use fails its next statement instead (a request gets 503, see
/// [`is_unavailable`]; a relay or consumer retries) and is discarded when it
/// is returned, since sqlx tests every connection on release.
pub fn connect_lazy(database: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(database.max_connections)
        .acquire_timeout(database.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy(database.url.expose_secret())
}

/// Errors that mean "the database does not serve us right now", worth
/// waiting out (a request gets 503): no connection, garbage on the wire
/// (whatever answers a Service address before its endpoints are in place),
/// or a server refusing or closing connections for now (starting up,
/// shutting down, restarted, full, the role or database not created yet).
/// Only a statement's own failure is not.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| refuses_connections_for_now(&code)),
        _ => false,
    }
}

/// A migration waits while the database is unavailable; only a migration's
/// own SQL failing is a broken migration.
fn is_transient(error: &MigrateError) -> bool {
    matches!(error, MigrateError::Execute(e) if is_unavailable(e))
}

/// SQLSTATEs of a server turning a connection away: connection exceptions
/// (08), authorization (28: the role may not exist yet), insufficient
/// resources (53: too many connections), operator intervention (57P: a
/// shutdown or restart closing the connection, or "the database system is
/// starting up"), and an unknown database (3D000: not created yet).
fn refuses_connections_for_now(code: &str) -> bool {
    ["08", "28", "53", "57P"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "3D000"
}

/// Runs the migrations, waiting (with capped backoff) while the database does
/// not serve us (readiness names the error meanwhile). A broken migration is
/// returned as an error at once.
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

#[cfg(test)]
mod tests {
    use super::refuses_connections_for_now;

    #[test]
    fn a_server_turning_connections_away_is_waited_out_and_a_failing_statement_is_not() {
        for code in [
            "08006", "28P01", "28000", "53300", "57P03", "57P01", "3D000",
        ] {
            assert!(refuses_connections_for_now(code), "{code}");
        }
        // Syntax error, undefined table, unique violation: the migration is broken.
        for code in ["42601", "42P01", "23505"] {
            assert!(!refuses_connections_for_now(code), "{code}");
        }
    }
}
