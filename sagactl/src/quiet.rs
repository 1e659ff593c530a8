//! Is the saga quiet? Nothing in flight in the databases (no `PENDING` order
//! and no unpublished outbox row created since a moment, every accepted order
//! present and final), and the consumers standing still: the records they
//! have finished (`consumer_records_total`) no longer grow. Used between the
//! steps of `make bench`, and by `sagactl wait-quiet` for scripts.

use crate::metrics::{self, Endpoint};
use crate::Sources;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What must have settled.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only orders and outbox rows created from here on count; all when None.
    pub since: Option<DateTime<Utc>>,
    /// Orders that were accepted: each must exist and be final.
    pub accepted: Vec<Uuid>,
    /// The services' metrics; without any, the consumers are not watched.
    pub metrics: Vec<Endpoint>,
}

/// How long consumption must stand still to count as stopped (the services
/// refresh nothing faster than this matters for).
const STILL_FOR: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(250);

/// What still moves in the databases, or None when nothing does.
pub async fn busy(sources: &Sources, scope: &Scope) -> anyhow::Result<Option<String>> {
    // None binds NULL: every row counts.
    let since = scope.since;
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE status = 'PENDING' AND ($1::timestamptz IS NULL OR created_at >= $1)",
    )
    .bind(since)
    .fetch_one(&sources.orders)
    .await?;
    if pending > 0 {
        return Ok(Some(format!("{pending} order(s) PENDING")));
    }
    for (name, pool) in sources.databases() {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND ($1::timestamptz IS NULL OR created_at >= $1)",
        )
        .bind(since)
        .fetch_one(pool)
        .await?;
        if waiting > 0 {
            return Ok(Some(format!(
                "{waiting} unpublished outbox row(s) in {name}"
            )));
        }
    }
    if !scope.accepted.is_empty() {
        let final_: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE id = ANY($1) AND status <> 'PENDING'",
        )
        .bind(&scope.accepted)
        .fetch_one(&sources.orders)
        .await?;
        let missing = scope.accepted.len() as i64 - final_;
        if missing > 0 {
            return Ok(Some(format!(
                "{missing} accepted order(s) missing or not final"
            )));
        }
    }
    Ok(None)
}

/// Waits until the saga is quiet; returns how long that took (until the
/// consumers' count last moved), or None after `timeout`.
pub async fn wait(
    sources: &Sources,
    scope: &Scope,
    timeout: Duration,
) -> anyhow::Result<Option<Duration>> {
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    // The consumers' count and when it was first seen at that value.
    let mut last: Option<(f64, Instant)> = None;
    loop {
        if busy(sources, scope).await?.is_some() {
            last = None;
        } else if scope.metrics.is_empty() {
            return Ok(Some(t0.elapsed()));
        } else {
            let consumed = metrics::consumed(&client, &scope.metrics).await?;
            match last {
                Some((seen, at)) if seen == consumed => return Ok(Some(at - t0)),
                _ => last = Some((consumed, Instant::now())),
            }
        }
        if t0.elapsed() > timeout {
            return Ok(None);
        }
        tokio::time::sleep(if last.is_some() { STILL_FOR } else { POLL }).await;
    }
}

/// Order ids, one per line (blank lines ignored).
pub fn read_ids(text: &str) -> anyhow::Result<Vec<Uuid>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| Uuid::parse_str(line).map_err(|e| anyhow::anyhow!("{line:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_id_per_line_and_rejects_garbage() {
        let ids = read_ids(
            "0190a1b2-0000-7000-8000-000000000001\n\n  0190a1b2-0000-7000-8000-000000000002 \n",
        )
        .unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1].to_string(), "0190a1b2-0000-7000-8000-000000000002");
        assert!(read_ids("not-an-id\n").is_err());
    }
}
