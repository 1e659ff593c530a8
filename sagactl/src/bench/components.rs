//! The component benchmarks: each part of the saga alone, on a backlog of
//! its own, with the CPU it costs per item. The POST path runs with
//! order-service's relay off and the other services stopped, so its events
//! wait in the outbox; each relay then drains its outbox, and each consumer
//! its topics, one at a time. The services are restarted through
//! `scripts/stack.sh` with `OUTBOX_RELAY_ENABLED` / `CONSUMERS_ENABLED`, and
//! end as they began: all three running with their defaults.

use super::proc;
use super::snapshot::Tree;
use crate::metrics::{self, Endpoint, Scrape};
use crate::Sources;
use anyhow::{bail, Context};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One part measured alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    /// What ran: `POST /api/orders`, `relay`, `consumer`.
    pub part: String,
    pub service: String,
    /// What one item is: orders accepted, events published, records applied.
    pub unit: String,
    pub items: f64,
    pub seconds: f64,
    pub per_s: f64,
    /// CPU-milliseconds per item of each process tree (the load generator's apart).
    pub cpu_ms_per_item: BTreeMap<String, f64>,
    /// Items per CPU-second of the service itself: its throughput per core.
    pub per_service_core_s: Option<f64>,
    /// The POST path only: the load generator's offered rate and the share refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_share: Option<f64>,
}

/// Where the processes are and how to start them (`sagactl bench components`).
#[derive(clap::Args)]
pub struct Options {
    /// The run's work directory: components.json (and flames.json) go there.
    pub work: PathBuf,
    /// scripts/stack.sh
    #[arg(long)]
    pub stack: PathBuf,
    /// Where stack.sh writes `<service>.pid`.
    #[arg(long)]
    pub run_dir: PathBuf,
    #[arg(long)]
    pub loadgen: PathBuf,
    /// Orders/s offered to the POST path, and for how many seconds.
    #[arg(long)]
    pub rate: u64,
    #[arg(long)]
    pub secs: u64,
    /// kafka=PID and postgres=PID.
    #[arg(long = "tree")]
    pub trees: Vec<Tree>,
    /// NAME=URL of each service's metrics.
    #[arg(long)]
    pub metrics: Vec<Endpoint>,
    /// Longest wait for one backlog to drain, seconds.
    #[arg(long = "timeout", default_value_t = 300)]
    pub timeout_secs: u64,
}

impl Options {
    pub fn endpoint(&self, service: &str) -> anyhow::Result<&str> {
        self.metrics
            .iter()
            .find(|m| m.name == service)
            .map(|m| m.value.as_str())
            .with_context(|| format!("no --metrics for {service}"))
    }

    fn log(&self) -> PathBuf {
        self.work.join("components.log")
    }

    /// Runs `stack.sh <verb> <service>` with `env`, its output in the log.
    fn stack(&self, verb: &str, service: &str, env: &[(&str, &str)]) -> anyhow::Result<()> {
        run_stack(&self.stack, &self.log(), verb, service, env)
    }

    pub fn pid(&self, service: &str) -> anyhow::Result<u32> {
        let file = self.run_dir.join(format!("{service}.pid"));
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        Ok(text.trim().parse()?)
    }

    /// `service` and the infrastructure, for a CPU reading.
    fn trees_with(&self, service: &str, pid: u32) -> Vec<Tree> {
        let mut trees = vec![Tree {
            name: service.to_owned(),
            value: pid,
        }];
        trees.extend(self.trees.iter().cloned());
        trees
    }
}

/// CPU ticks of each tree now.
fn cpu(trees: &[Tree]) -> BTreeMap<String, u64> {
    let stats = proc::process_stats();
    trees
        .iter()
        .filter_map(|t| Some((t.name.clone(), proc::tree_ticks(&stats, t.value)?)))
        .collect()
}

/// CPU-ms per item of each tree between two readings.
fn cpu_ms_per_item(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    items: f64,
) -> BTreeMap<String, f64> {
    let ms_per_tick = 1000.0 / proc::clk_tck();
    after
        .iter()
        .filter_map(|(name, end)| {
            let start = before.get(name)?;
            (items > 0.0).then(|| {
                (
                    name.clone(),
                    end.saturating_sub(*start) as f64 * ms_per_tick / items,
                )
            })
        })
        .collect()
}

fn component(
    part: &str,
    service: &str,
    unit: &str,
    items: f64,
    seconds: f64,
    cpu_ms_per_item: BTreeMap<String, f64>,
) -> Component {
    let per_service_core_s = cpu_ms_per_item
        .get(service)
        .filter(|ms| **ms > 0.0)
        .map(|ms| 1000.0 / ms);
    Component {
        part: part.to_owned(),
        service: service.to_owned(),
        unit: unit.to_owned(),
        items,
        seconds,
        per_s: if seconds > 0.0 { items / seconds } else { 0.0 },
        cpu_ms_per_item,
        per_service_core_s,
        offered_per_s: None,
        refused_share: None,
    }
}

/// One backlog drained by one part of one service.
struct Phase {
    part: &'static str,
    service: &'static str,
    unit: &'static str,
    env: &'static [(&'static str, &'static str)],
    expected: f64,
    count: fn(&Scrape) -> f64,
}

impl Phase {
    fn relay(service: &'static str, expected: f64) -> Self {
        Self {
            part: "relay",
            service,
            unit: "events",
            env: &[],
            expected,
            count: |s| s.outbox_published_total,
        }
    }

    fn consumer(service: &'static str, expected: f64) -> Self {
        Self {
            part: "consumer",
            service,
            unit: "records",
            // Its own events wait in the outbox: the relay is measured apart.
            env: &[("OUTBOX_RELAY_ENABLED", "false")],
            expected,
            count: |s| s.consumed_total,
        }
    }
}

/// `stack.sh <verb> <service>` with `env`, its output appended to `log`.
fn run_stack(
    stack: &Path,
    log: &Path,
    verb: &str,
    service: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let status = Command::new(stack)
        .args([verb, service])
        .envs(env.iter().copied())
        .stdout(output.try_clone()?)
        .stderr(output)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {}", stack.display()))?;
    if !status.success() {
        bail!("`stack.sh {verb} {service}` failed; see {}", log.display());
    }
    Ok(())
}

/// Starts the phase's service (stopping it first when running) and
/// measures it until its counter has grown by the expected number. Time and
/// CPU run from the last reading before the counter moved, so start-up and
/// the consumer group's join are left out.
async fn drain(opts: &Options, phase: Phase) -> anyhow::Result<Component> {
    let Phase {
        part,
        service,
        unit,
        env,
        expected,
        count,
    } = phase;
    opts.stack("down", service, &[])?;
    // Started in the background: the drain may begin before it reports ready.
    let (stack, log) = (opts.stack.clone(), opts.log());
    let starting = tokio::task::spawn_blocking(move || run_stack(&stack, &log, "up", service, env));
    let client = reqwest::Client::new();
    let url = opts.endpoint(service)?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(opts.timeout_secs);
    // The last reading before the counter moved: when and how much CPU.
    let mut start: Option<(Instant, BTreeMap<String, u64>)> = None;
    let mut pid: Option<u32> = None;
    loop {
        if Instant::now() > deadline {
            bail!(
                "{part} of {service}: {expected} {unit} not drained within {} s",
                opts.timeout_secs
            );
        }
        if pid.is_none() {
            pid = opts.pid(service).ok();
        }
        let Some(pid) = pid else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let trees = opts.trees_with(service, pid);
        let reading = cpu(&trees);
        let now = Instant::now();
        let seen = metrics::scrape(&client, &url)
            .await
            .map(|s| count(&s))
            .unwrap_or(0.0);
        if seen == 0.0 || start.is_none() {
            start = Some((now, reading));
            if seen == 0.0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        if seen >= expected {
            let (from, before) = start.expect("set above");
            let after = cpu(&trees);
            let seconds = now.duration_since(from).as_secs_f64();
            starting.await??;
            let result = component(
                part,
                service,
                unit,
                seen,
                seconds,
                cpu_ms_per_item(&before, &after, seen),
            );
            eprintln!("==>   {}", line(&result));
            return Ok(result);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The POST path alone: order-service without its relay, nothing else
/// running but Postgres and Kafka, the load generator at `opts.rate`.
async fn post_path(opts: &Options, sources: &Sources) -> anyhow::Result<Component> {
    const SERVICE: &str = "order-service";
    opts.stack("down", SERVICE, &[])?;
    opts.stack("up", SERVICE, &[("OUTBOX_RELAY_ENABLED", "false")])?;
    let pid = opts.pid(SERVICE)?;
    let url = opts
        .endpoint(SERVICE)?
        .trim_end_matches("/metrics")
        .to_owned();
    let summary = opts.work.join("components-post.json");
    let since = Utc::now();
    let trees = opts.trees_with(SERVICE, pid);
    let before = cpu(&trees);
    let started = Instant::now();
    let status = Command::new(&opts.loadgen)
        .args(["orders", "--url", &url, "--warmup", "0", "--cooldown", "0"])
        .args([
            "--rate",
            &opts.rate.to_string(),
            "--duration",
            &opts.secs.to_string(),
        ])
        .arg("--summary")
        .arg(&summary)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running the load generator")?;
    let seconds = started.elapsed().as_secs_f64();
    let after = cpu(&trees);
    if !status.success() {
        bail!("the load generator failed on the POST path ({status})");
    }
    let accepted: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE created_at >= $1")
        .bind(since)
        .fetch_one(&sources.orders)
        .await?;
    let offered = (opts.rate * opts.secs) as f64;
    let mut result = component(
        "POST /api/orders",
        SERVICE,
        "orders",
        accepted as f64,
        seconds,
        cpu_ms_per_item(&before, &after, accepted as f64),
    );
    // Over the schedule, not the process's life: the rate it sustained.
    result.per_s = accepted as f64 / opts.secs as f64;
    result.offered_per_s = Some(opts.rate as f64);
    result.refused_share = Some(((offered - accepted as f64) / offered).max(0.0));
    eprintln!("==>   {}", line(&result));
    Ok(result)
}

async fn pending(pool: &sqlx::PgPool) -> anyhow::Result<f64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await?;
    Ok(n as f64)
}

/// One progress line.
pub fn line(c: &Component) -> String {
    let total: f64 = c.cpu_ms_per_item.values().sum();
    format!(
        "{} ({}): {:.0} {} in {:.2} s = {:.0}/s; CPU {:.3} ms per item ({})",
        c.part,
        c.service,
        c.items,
        c.unit,
        c.seconds,
        c.per_s,
        total,
        c.cpu_ms_per_item
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Every component in turn; the services end running with their defaults.
pub async fn run(opts: &Options, sources: &Sources) -> anyhow::Result<Vec<Component>> {
    if pending(&sources.orders).await? + pending(&sources.billing).await? > 0.0 {
        bail!("the outboxes are not empty: the component benchmarks need a quiet saga");
    }
    let measured = parts(opts, sources).await;
    if measured.is_err() {
        // Never leave a service stopped or with its relay off: the saga's
        // events would wait for good.
        for service in super::SERVICES {
            let restarted = opts
                .stack("down", service, &[])
                .and_then(|()| opts.stack("up", service, &[]));
            if let Err(e) = restarted {
                eprintln!("warning: could not restart {service} with its defaults: {e:#}");
            }
        }
    }
    measured
}

async fn parts(opts: &Options, sources: &Sources) -> anyhow::Result<Vec<Component>> {
    for service in ["billing-service", "notification-service"] {
        opts.stack("down", service, &[])?;
    }
    let post = post_path(opts, sources).await?;
    let orders = post.items;
    let mut all = vec![post];
    let events = pending(&sources.orders).await?;
    all.push(drain(opts, Phase::relay("order-service", events)).await?);
    // Down until its consumer's turn: notification-service reads its topic too.
    opts.stack("down", "order-service", &[])?;
    all.push(drain(opts, Phase::consumer("billing-service", orders)).await?);
    let events = pending(&sources.billing).await?;
    all.push(drain(opts, Phase::relay("billing-service", events)).await?);
    let notification = Phase::consumer("notification-service", 2.0 * orders);
    all.push(drain(opts, notification).await?);
    all.push(drain(opts, Phase::consumer("order-service", orders)).await?);
    // Back to the defaults (billing-service already is, since its relay's turn).
    for service in ["notification-service", "order-service"] {
        opts.stack("down", service, &[])?;
        opts.stack("up", service, &[])?;
    }
    Ok(all)
}

/// The parts added up into one saga: CPU-ms per saga of each process tree,
/// each part weighted by its items per order of the POST path (2 events of
/// order-service's relay, 2 records of notification-service's consumer, ...).
/// Empty without a POST path that accepted orders.
pub fn per_saga(components: &[Component]) -> BTreeMap<String, f64> {
    let Some(orders) = components
        .iter()
        .find(|c| c.unit == "orders")
        .map(|c| c.items)
        .filter(|n| *n > 0.0)
    else {
        return BTreeMap::new();
    };
    let mut total = BTreeMap::new();
    for c in components {
        let per_order = c.items / orders;
        for (name, ms) in &c.cpu_ms_per_item {
            *total.entry(name.clone()).or_insert(0.0) += ms * per_order;
        }
    }
    total
}

/// The components' file in a run's work directory.
pub fn path(work: &Path) -> PathBuf {
    work.join("components.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_item_divides_each_trees_ticks_and_the_service_gives_its_per_core_rate() {
        let ms_per_tick = 1000.0 / proc::clk_tck();
        let before = BTreeMap::from([
            ("billing-service".to_owned(), 100),
            ("postgres".to_owned(), 50),
        ]);
        let after = BTreeMap::from([
            ("billing-service".to_owned(), 110),
            ("postgres".to_owned(), 70),
        ]);
        let per = cpu_ms_per_item(&before, &after, 1000.0);
        assert_eq!(per["billing-service"], 10.0 * ms_per_tick / 1000.0);
        assert_eq!(per["postgres"], 20.0 * ms_per_tick / 1000.0);
        let c = component("consumer", "billing-service", "records", 1000.0, 0.5, per);
        assert_eq!(c.per_s, 2000.0);
        assert_eq!(
            c.per_service_core_s,
            Some(1000.0 / (10.0 * ms_per_tick / 1000.0))
        );
        // No items: no per-item figure rather than a division by zero.
        assert!(cpu_ms_per_item(&before, &after, 0.0).is_empty());
    }

    #[test]
    fn per_saga_weights_each_part_by_its_items_per_order() {
        let part = |part: &str, service: &str, unit: &str, items: f64, cpu: &[(&str, f64)]| {
            let cpu = cpu.iter().map(|(n, ms)| (n.to_string(), *ms)).collect();
            component(part, service, unit, items, 1.0, cpu)
        };
        let parts = [
            part(
                "POST /api/orders",
                "order-service",
                "orders",
                100.0,
                &[("order-service", 0.4), ("postgres", 0.5)],
            ),
            part(
                "relay",
                "order-service",
                "events",
                200.0,
                &[("order-service", 0.01), ("postgres", 0.02)],
            ),
            part(
                "consumer",
                "notification-service",
                "records",
                200.0,
                &[("notification-service", 0.05), ("postgres", 0.1)],
            ),
        ];
        let saga = per_saga(&parts);
        assert!((saga["order-service"] - 0.42).abs() < 1e-12);
        assert!((saga["postgres"] - 0.74).abs() < 1e-12);
        assert!((saga["notification-service"] - 0.1).abs() < 1e-12);
        assert!(per_saga(&parts[1..]).is_empty());
    }
}
