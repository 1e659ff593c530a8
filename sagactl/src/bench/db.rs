//! The benchmark's SQL: the saga as the orders table saw it, the commit
//! counters and settings of the cluster, and pgbench's scratch database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::str::FromStr;

/// pgbench writes here, so its commits are not among the services'.
pub const SCRATCH_DB: &str = "bench_scratch";

/// One connection as the superuser (`PG_ADMIN_URL`), to `database` when given.
pub async fn admin(url: &str, database: Option<&str>) -> anyhow::Result<PgPool> {
    let mut options = PgConnectOptions::from_str(url)?;
    if let Some(database) = database {
        options = options.database(database);
    }
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

pub fn at_ms(ms: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| anyhow::anyhow!("{ms} ms is out of range"))
}

/// The orders created in a step's window, read after the step drained so
/// slow sagas count; latencies from the services' own timestamps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct WindowOrders {
    pub created: i64,
    pub paid: i64,
    pub payment_failed: i64,
    pub pending: i64,
    /// Final by the end of the window + grace.
    pub in_time: i64,
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p95_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
    pub e2e_max_ms: Option<f64>,
}

pub async fn window_orders(
    orders: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    in_time_by: DateTime<Utc>,
) -> anyhow::Result<WindowOrders> {
    Ok(sqlx::query_as(
        "SELECT count(*) AS created,
                count(*) FILTER (WHERE status = 'PAID') AS paid,
                count(*) FILTER (WHERE status = 'PAYMENT_FAILED') AS payment_failed,
                count(*) FILTER (WHERE status = 'PENDING') AS pending,
                count(*) FILTER (WHERE status <> 'PENDING' AND updated_at <= $3) AS in_time,
                percentile_cont(0.50) WITHIN GROUP (ORDER BY e2e) FILTER (WHERE status <> 'PENDING') AS e2e_p50_ms,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY e2e) FILTER (WHERE status <> 'PENDING') AS e2e_p95_ms,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY e2e) FILTER (WHERE status <> 'PENDING') AS e2e_p99_ms,
                max(e2e) FILTER (WHERE status <> 'PENDING') AS e2e_max_ms
           FROM (SELECT status, updated_at, (1000 * extract(epoch FROM updated_at - created_at))::float8 AS e2e
                   FROM orders WHERE created_at >= $1 AND created_at < $2) o",
    )
    .bind(from)
    .bind(to)
    .bind(in_time_by)
    .fetch_one(orders)
    .await?)
}

/// Sagas completed among the orders created since `since`.
pub async fn sagas_since(orders: &PgPool, since: DateTime<Utc>) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE status <> 'PENDING' AND created_at >= $1",
    )
    .bind(since)
    .fetch_one(orders)
    .await?)
}

/// `xact_commit` of the saga's three databases.
pub async fn commits(admin: &PgPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT datname::text, xact_commit FROM pg_stat_database
          WHERE datname IN ('orders', 'billing', 'notifications')",
    )
    .fetch_all(admin)
    .await?;
    Ok(rows.into_iter().collect())
}

/// WAL bytes written by the whole cluster since its statistics were reset.
pub async fn wal_bytes(admin: &PgPool) -> anyhow::Result<f64> {
    Ok(
        sqlx::query_scalar("SELECT wal_bytes::float8 FROM pg_stat_wal")
            .fetch_one(admin)
            .await?,
    )
}

/// The server's version and its durability settings, as one line.
pub async fn server_settings(admin: &PgPool) -> anyhow::Result<(String, String)> {
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(admin)
        .await?;
    let settings: String = sqlx::query_scalar(
        "SELECT string_agg(name || '=' || setting || COALESCE(unit, ''), ', ' ORDER BY name)
           FROM pg_settings
          WHERE name IN ('fsync', 'wal_sync_method', 'shared_buffers', 'max_connections',
                         'commit_delay', 'full_page_writes', 'max_wal_size',
                         'checkpoint_timeout', 'wal_compression')",
    )
    .fetch_one(admin)
    .await?;
    Ok((version, settings))
}

/// The durability the services get: what their own role sees (role or
/// database settings would show here).
pub async fn synchronous_commit(service: &PgPool) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(service)
        .await?)
}

/// One statement's totals over the ladder, from pg_stat_statements.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Statement {
    pub database: String,
    pub query: String,
    pub calls: i64,
    /// Milliseconds inside the executor, all calls together.
    pub total_exec_ms: f64,
    pub rows: i64,
}

/// Turns pg_stat_statements' tracking on (scripts/postgres.sh loads it with
/// tracking off) and empties it. Fails when the server did not load it.
pub async fn statements_start(admin: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(admin)
        .await?;
    set_statements_tracking(admin, "top").await?;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(admin)
        .await?;
    Ok(())
}

/// Tracking off again: outside the benchmark nothing is recorded.
pub async fn set_statements_tracking(admin: &PgPool, track: &str) -> anyhow::Result<()> {
    // Two round trips: ALTER SYSTEM refuses to run inside a transaction block.
    sqlx::raw_sql(&format!(
        "ALTER SYSTEM SET pg_stat_statements.track = '{track}'"
    ))
    .execute(admin)
    .await?;
    sqlx::query("SELECT pg_reload_conf()")
        .execute(admin)
        .await?;
    // Backends read the new setting when they next handle the reload signal.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Ok(())
}

/// The saga databases' statements, most executor time first.
pub async fn statements(admin: &PgPool) -> anyhow::Result<Vec<Statement>> {
    Ok(sqlx::query_as(
        "SELECT d.datname::text AS database, s.query, s.calls, s.total_exec_time AS total_exec_ms, s.rows
           FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
          WHERE d.datname IN ('orders', 'billing', 'notifications')
          ORDER BY s.total_exec_time DESC",
    )
    .fetch_all(admin)
    .await?)
}

/// pgbench's transaction: one row of about the size of an order's.
pub const PGBENCH_SCRIPT: &str = "INSERT INTO bench_commit (payload) VALUES (repeat('x', 200));\n";

/// A fresh scratch database with pgbench's table.
pub async fn create_scratch(admin_url: &str) -> anyhow::Result<()> {
    drop_scratch(admin_url).await?;
    let admin = admin(admin_url, None).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {SCRATCH_DB}"))
        .execute(&admin)
        .await?;
    let scratch = self::admin(admin_url, Some(SCRATCH_DB)).await?;
    sqlx::raw_sql(
        "CREATE TABLE bench_commit (id bigserial PRIMARY KEY, payload text NOT NULL,
                                    created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&scratch)
    .await?;
    Ok(())
}

pub async fn drop_scratch(admin_url: &str) -> anyhow::Result<()> {
    let admin = admin(admin_url, None).await?;
    sqlx::raw_sql(&format!(
        "DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
    ))
    .execute(&admin)
    .await?;
    Ok(())
}

/// The superuser URL with the scratch database in it, for pgbench.
pub fn scratch_url(admin_url: &str) -> String {
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    match base.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => {
            format!("{server}/{SCRATCH_DB}")
        }
        _ => format!("{base}/{SCRATCH_DB}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_url_swaps_the_database_and_drops_parameters() {
        assert_eq!(
            scratch_url("postgres://postgres:pw@127.0.0.1:25432/postgres?sslmode=disable"),
            "postgres://postgres:pw@127.0.0.1:25432/bench_scratch"
        );
        assert_eq!(
            scratch_url("postgres://postgres:pw@127.0.0.1:25432"),
            "postgres://postgres:pw@127.0.0.1:25432/bench_scratch"
        );
    }
}
