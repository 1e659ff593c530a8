//! One moment of the run: CPU time of the process trees and of the machine,
//! the services' metrics, the databases' commit counters and the bytes in
//! the saga's topic logs, with the clock.

use super::proc::{self, MachineTicks};
use crate::metrics::{self, Endpoint, Scrape};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Seconds since the epoch.
    pub time: f64,
    /// Per process tree; None when its root was gone.
    #[serde(default)]
    pub cpu_ticks: BTreeMap<String, Option<u64>>,
    pub machine_ticks: Option<MachineTicks>,
    #[serde(default)]
    pub metrics: BTreeMap<String, Scrape>,
    pub pg_commits: Option<BTreeMap<String, i64>>,
    /// The cluster's WAL bytes so far (`pg_stat_wal`): Postgres's write work,
    /// unaffected by how busy the machine is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_wal_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_log_bytes: Option<u64>,
}

/// A process tree given on the command line as `NAME=PID`.
pub type Tree = crate::Named<u32>;

pub struct Sources<'a> {
    pub trees: &'a [Tree],
    pub metrics: &'a [Endpoint],
    /// The superuser URL, when the commit counters are wanted.
    pub pg_admin_url: Option<&'a str>,
    /// The broker's log directory and the saga's topics (prefixed), when their
    /// bytes are wanted.
    pub kafka_logs: Option<(&'a Path, Vec<String>)>,
}

pub async fn take(sources: &Sources<'_>) -> anyhow::Result<Snapshot> {
    let time = now();
    let stats = proc::process_stats();
    let cpu_ticks = sources
        .trees
        .iter()
        .map(|t| (t.name.clone(), proc::tree_ticks(&stats, t.value)))
        .collect();
    let machine_ticks = proc::machine_ticks();
    let client = reqwest::Client::new();
    let mut scrapes = BTreeMap::new();
    for endpoint in sources.metrics {
        match metrics::scrape(&client, &endpoint.value).await {
            Ok(scrape) => {
                scrapes.insert(endpoint.name.clone(), scrape);
            }
            Err(e) => eprintln!("warning: could not scrape {}: {e:#}", endpoint.value),
        }
    }
    let (pg_commits, pg_wal_bytes) = match sources.pg_admin_url {
        Some(url) => {
            let admin = super::db::admin(url, None).await?;
            (
                Some(super::db::commits(&admin).await?),
                Some(super::db::wal_bytes(&admin).await?),
            )
        }
        None => (None, None),
    };
    let kafka_log_bytes = sources
        .kafka_logs
        .as_ref()
        .map(|(dir, topics)| log_bytes(dir, topics));
    Ok(Snapshot {
        time,
        cpu_ticks,
        machine_ticks,
        metrics: scrapes,
        pg_commits,
        pg_wal_bytes,
        kafka_log_bytes,
    })
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Bytes in the log segments (`<topic>-<partition>/*.log`) of `topics`.
fn log_bytes(dir: &Path, topics: &[String]) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_partition = name.rsplit_once('-').is_some_and(|(topic, partition)| {
            topics.iter().any(|t| t == topic) && partition.parse::<u32>().is_ok()
        });
        if !is_partition {
            continue;
        }
        for file in std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|e| e == "log") {
                total += file.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}

/// The size of a saga record as Kafka stores it (key + value + headers, with
/// its share of batch overhead): bytes added to the saga's topic logs ÷
/// records the relays published between two snapshots. Measured on the
/// broker because the relays delete published outbox rows. None when the
/// logs are not local or nothing was published.
pub fn record_size(before: &Snapshot, after: &Snapshot) -> Option<(u64, u64)> {
    let published =
        |s: &Snapshot| -> f64 { s.metrics.values().map(|m| m.outbox_published_total).sum() };
    let records = (published(after) - published(before)).max(0.0) as u64;
    let bytes = after
        .kafka_log_bytes?
        .checked_sub(before.kafka_log_bytes?)?;
    (records > 0 && bytes > 0).then(|| ((bytes + records / 2) / records, records))
}

/// The step-local view of one service's metrics between two snapshots.
pub fn both<'a>(
    a: &'a Snapshot,
    b: &'a Snapshot,
    service: &str,
) -> Option<(&'a Scrape, &'a Scrape)> {
    Some((a.metrics.get(service)?, b.metrics.get(service)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(published: f64, bytes: Option<u64>) -> Snapshot {
        let mut s = Snapshot {
            kafka_log_bytes: bytes,
            ..Default::default()
        };
        s.metrics.insert(
            "order-service".into(),
            Scrape {
                outbox_published_total: published,
                ..Default::default()
            },
        );
        s
    }

    #[test]
    fn record_size_is_log_bytes_per_published_record_rounded() {
        assert_eq!(
            record_size(&snap(100.0, Some(1_000)), &snap(103.0, Some(2_000))),
            Some((333, 3))
        );
        assert_eq!(
            record_size(&snap(100.0, Some(1_000)), &snap(102.0, Some(2_001))),
            Some((501, 2))
        );
        // Nothing published, or no local logs: no measurement.
        assert_eq!(record_size(&snap(5.0, Some(1)), &snap(5.0, Some(9))), None);
        assert_eq!(record_size(&snap(5.0, None), &snap(9.0, None)), None);
    }
}
