//! One step of the ladder: what the load generator, the orders table, the
//! services' metrics and /proc saw in the measured window, and whether the
//! system kept up.

use super::db::WindowOrders;
use super::format::{num, pct};
use super::snapshot::{both, Snapshot};
use super::{DATABASES, SERVICES};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

// What counts as keeping up (see docs/performance.md). A step keeps up when
// nothing was refused or dropped, completions kept pace, and the system was
// quiet again soon after; it clearly failed when it fell far behind, and then
// the ladder stops climbing.
/// Completed within the step + grace, over accepted.
pub const KEEP_UP_COMPLETED: f64 = 0.98;
/// Every relay's commit → ack p99.
pub const KEEP_UP_RELAY_P99_MS: f64 = 1000.0;
/// consumer_lag counts from the committed offset and is refreshed every 5 s:
/// a consumer that is not behind may still show ~5 s of its consumption.
pub const KEEP_UP_LAG_SECONDS: f64 = 8.0;
/// Below this a lag is noise whatever the rate.
const LAG_NOISE: f64 = 50.0;
pub const FAILED_COMPLETED: f64 = 0.80;
/// Refused (other than overloaded) + dropped, over offered.
pub const FAILED_ERRORS: f64 = 0.05;

/// The measured window of a step, as bench.sh ran it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub rate: u64,
    pub duration: u64,
    pub warmup: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub grace: u64,
    pub drained_ok: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drain {
    pub drained: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Kept up.
    Ok,
    /// Fell somewhat behind.
    Behind,
    /// Past capacity: the excess was refused at once and what was accepted
    /// went through; the ladder has found its ceiling.
    Shed,
    /// Fell far behind, or did not drain; also what a step is before it is judged.
    #[default]
    Failed,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Behind => "behind",
            Verdict::Shed => "shed",
            Verdict::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowMs {
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcomes {
    pub paid: i64,
    pub payment_failed: i64,
    pub pending_after_drain: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepResult {
    pub rate: u64,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub window: WindowMs,
    pub requests: u64,
    pub requests_per_s: f64,
    /// Orders created in the window, by the orders table.
    pub accepted: i64,
    pub accepted_per_s: f64,
    /// Accepted by the load generator's count.
    pub accepted_k6: u64,
    pub post_ms: Quantiles,
    pub rejected: u64,
    pub refused_overloaded: u64,
    pub refused_share: f64,
    pub post_accepted_ms: Quantiles,
    pub post_refused_ms: Quantiles,
    pub all_accepted_final: bool,
    pub dropped_iterations: u64,
    pub errors: u64,
    pub e2e_ms: Quantiles,
    pub outcomes: Outcomes,
    pub completed: i64,
    pub completed_in_time: i64,
    pub completed_ratio: f64,
    pub completed_per_s: Option<f64>,
    pub relay_p99_ms: BTreeMap<String, Option<f64>>,
    pub kafka_records_per_s: f64,
    pub consumer_lag_end: f64,
    pub consumer_lag_end_s: Option<f64>,
    pub consumer_lag_end_by_group: BTreeMap<String, f64>,
    pub consumed_per_s: f64,
    pub db_commits_per_s: Option<f64>,
    pub cpu_pct: BTreeMap<String, f64>,
    pub cpu_total_pct: f64,
    pub machine_busy_pct: Option<f64>,
    pub drain_s: f64,
    pub drained: bool,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// The load generator's process tree, whichever generator ran.
pub const LOAD_TREE: &str = "k6";

/// How the report names a process tree: the load generator's tree by what
/// it is, since its name stays `k6` whichever generator ran.
pub fn tree_label(name: &str) -> &str {
    if name == LOAD_TREE {
        "load generator"
    } else {
        name
    }
}

impl StepResult {
    /// CPU-milliseconds per completed saga of each process tree (the load
    /// generator's left out) over the measured window; empty when no saga
    /// completed.
    pub fn cpu_ms_per_saga(&self) -> BTreeMap<String, f64> {
        let Some(sagas_per_s) = self.completed_per_s.filter(|c| *c > 0.0) else {
            return BTreeMap::new();
        };
        self.cpu_pct
            .iter()
            .filter(|(name, _)| name.as_str() != LOAD_TREE)
            // % of a core = 10 ms of CPU per second.
            .map(|(name, pct)| (name.clone(), pct * 10.0 / sagas_per_s))
            .collect()
    }
}

/// Like PromQL's `histogram_quantile` over the increase of cumulative
/// buckets between two scrapes: linear interpolation inside the bucket that
/// holds the rank; the +Inf bucket answers with the highest finite bound.
/// None when nothing was observed in between.
pub fn histogram_quantile(
    q: f64,
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(le, count)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, count - before.get(le).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, cumulative) in buckets {
        if cumulative >= rank {
            if bound.is_infinite() {
                return Some(lower);
            }
            if cumulative == below {
                return Some(bound);
            }
            return Some(lower + (bound - lower) * (rank - below) / (cumulative - below));
        }
        (lower, below) = (bound, cumulative);
    }
    Some(lower)
}

/// A statistic of the step's phase in a k6-shaped summary (loadgen writes
/// the same shape): `metrics["<name>{scenario:step[,tags]}"].values[stat]`.
pub fn summary_stat(summary: &Value, name: &str, stat: &str, tags: &str) -> Option<f64> {
    let key = if tags.is_empty() {
        format!("{name}{{scenario:step}}")
    } else {
        format!("{name}{{scenario:step,{tags}}}")
    };
    let metric = summary.get("metrics")?.get(key)?;
    metric.get("values").unwrap_or(metric).get(stat)?.as_f64()
}

/// What the verdict is decided on.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub requests: u64,
    /// Every non-202 answer.
    pub rejected: u64,
    /// Of those, refused with the overload answer (503 + Retry-After).
    pub shed: u64,
    /// Arrivals the generator could not send (too many in flight).
    pub dropped: u64,
    pub offered: f64,
    pub created: i64,
    pub completed_ratio: f64,
    pub grace_s: u64,
    pub relay_max_ms: Option<f64>,
    pub lag_end: f64,
    pub lag_seconds: Option<f64>,
    pub drained: bool,
    pub drain_s: f64,
    pub drained_ok_s: u64,
}

/// Whether the step kept up, and why not.
pub fn verdict(f: &Facts) -> (Verdict, Vec<String>) {
    let mut reasons = Vec::new();
    if f.rejected > f.shed {
        reasons.push(format!("{} refused", f.rejected - f.shed));
    }
    if f.dropped > 0 {
        reasons.push(format!("{} dropped by the load generator", f.dropped));
    }
    if f.completed_ratio < KEEP_UP_COMPLETED {
        reasons.push(format!(
            "only {} completed within the step + {} s",
            pct(f.completed_ratio, 1),
            f.grace_s
        ));
    }
    if let Some(relay) = f.relay_max_ms.filter(|ms| *ms > KEEP_UP_RELAY_P99_MS) {
        reasons.push(format!("relay p99 {relay:.0} ms"));
    }
    if f.lag_end > LAG_NOISE && f.lag_seconds.is_none_or(|s| s > KEEP_UP_LAG_SECONDS) {
        let seconds = f
            .lag_seconds
            .filter(|s| *s != 0.0)
            .map(|s| format!(" ({s:.1} s of consumption)"))
            .unwrap_or_default();
        reasons.push(format!("consumer lag {:.0} at the end{seconds}", f.lag_end));
    }
    if !f.drained {
        reasons.push(format!("not drained after {} s", num(Some(f.drain_s), 0)));
    } else if f.drain_s > f.drained_ok_s as f64 {
        reasons.push(format!("drained only after {:.0} s", f.drain_s));
    }
    if f.created == 0 {
        reasons.push("no order accepted".into());
    }
    let errors = (f.rejected + f.dropped).saturating_sub(f.shed) as f64;
    let verdict = if !f.drained
        || f.completed_ratio < FAILED_COMPLETED
        || f.created == 0
        || (f.offered > 0.0 && errors / f.offered > FAILED_ERRORS)
    {
        Verdict::Failed
    } else if f.shed > 0 {
        reasons.insert(
            0,
            format!(
                "{} refused as overloaded ({})",
                f.shed,
                pct(f.shed as f64 / f.requests.max(1) as f64, 1)
            ),
        );
        Verdict::Shed
    } else if reasons.is_empty() {
        Verdict::Ok
    } else {
        Verdict::Behind
    };
    (verdict, reasons)
}

/// Everything a step's files hold, gathered.
pub struct Inputs<'a> {
    pub window: &'a Window,
    pub summary: &'a Value,
    pub orders: &'a WindowOrders,
    pub drain: &'a Drain,
    pub start: &'a Snapshot,
    pub end: &'a Snapshot,
    pub clk_tck: f64,
    pub cores: u32,
}

pub fn analyse(i: &Inputs) -> StepResult {
    let w = i.window;
    let secs = w.duration.max(1) as f64;
    let elapsed = Some(i.end.time - i.start.time)
        .filter(|e| *e > 0.0)
        .unwrap_or(secs);
    let count =
        |name: &str, stat: &str| summary_stat(i.summary, name, stat, "").unwrap_or(0.0) as u64;
    let requests = count("http_reqs", "count");
    let rejected = count("orders_rejected", "count");
    let shed = count("orders_refused_overloaded", "passes");
    let dropped = count("dropped_iterations", "count");
    let latency = |stat: &str, tags: &str| summary_stat(i.summary, "http_req_duration", stat, tags);
    let created = i.orders.created;

    let mut relay = BTreeMap::new();
    let (mut published, mut consumed, mut lag_end) = (0.0, 0.0, 0.0);
    let mut lag_by_group: BTreeMap<String, f64> = BTreeMap::new();
    for name in SERVICES {
        let Some((a, b)) = both(i.start, i.end, name) else {
            continue;
        };
        let q = histogram_quantile(0.99, &a.outbox_latency_buckets, &b.outbox_latency_buckets);
        relay.insert(name.to_owned(), q.map(|s| s * 1000.0));
        published += b.outbox_published_total - a.outbox_published_total;
        lag_end += b.consumer_lag;
        for (group, lag) in &b.consumer_lag_by_group {
            *lag_by_group.entry(group.clone()).or_default() += lag;
        }
        consumed += b.consumed_total - a.consumed_total;
    }
    let consumed_per_s = consumed / elapsed;
    let lag_seconds = (consumed_per_s != 0.0).then(|| lag_end / consumed_per_s);
    let finished = both(i.start, i.end, "order-service")
        .map(|(a, b)| b.saga_finished_total - a.saga_finished_total);

    let cpu: BTreeMap<String, f64> = i
        .end
        .cpu_ticks
        .iter()
        .filter_map(|(name, ticks)| {
            let before = (*i.start.cpu_ticks.get(name)?)?;
            Some((
                name.clone(),
                100.0 * (*ticks)?.saturating_sub(before) as f64 / i.clk_tck / elapsed,
            ))
        })
        .collect();
    let machine_busy_pct = match (i.start.machine_ticks, i.end.machine_ticks) {
        (Some(a), Some(b)) if b.total > a.total => Some(
            100.0 * f64::from(i.cores) * b.busy.saturating_sub(a.busy) as f64
                / (b.total - a.total) as f64,
        ),
        _ => None,
    };
    let db_commits_per_s = match (&i.start.pg_commits, &i.end.pg_commits) {
        (Some(a), Some(b)) => Some(
            DATABASES
                .iter()
                .map(|d| b.get(*d).unwrap_or(&0) - a.get(*d).unwrap_or(&0))
                .sum::<i64>() as f64
                / elapsed,
        ),
        _ => None,
    };

    let completed_ratio = if created > 0 {
        i.orders.in_time as f64 / created as f64
    } else {
        0.0
    };
    let relay_max_ms = relay.values().flatten().copied().reduce(f64::max);
    let facts = Facts {
        requests,
        rejected,
        shed,
        dropped,
        offered: w.rate as f64 * secs,
        created,
        completed_ratio,
        grace_s: w.grace,
        relay_max_ms,
        lag_end,
        lag_seconds,
        drained: i.drain.drained,
        drain_s: i.drain.seconds,
        drained_ok_s: w.drained_ok,
    };
    let (verdict, reasons) = verdict(&facts);
    // k6 reports 0 for a sub-metric without samples: no refusal, no latency.
    let refused = |stat: &str| {
        if shed > 0 {
            latency(stat, "status:503")
        } else {
            None
        }
    };
    StepResult {
        rate: w.rate,
        duration_s: w.duration,
        warmup_s: w.warmup,
        window: WindowMs {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
        },
        requests,
        requests_per_s: requests as f64 / secs,
        accepted: created,
        accepted_per_s: created as f64 / secs,
        accepted_k6: count("orders_accepted", "count"),
        post_ms: Quantiles {
            p50: latency("med", ""),
            p95: latency("p(95)", ""),
            p99: latency("p(99)", ""),
            max: latency("max", ""),
        },
        rejected,
        refused_overloaded: shed,
        refused_share: if requests > 0 {
            shed as f64 / requests as f64
        } else {
            0.0
        },
        post_accepted_ms: Quantiles {
            p50: latency("med", "status:202"),
            p99: latency("p(99)", "status:202"),
            ..Default::default()
        },
        post_refused_ms: Quantiles {
            p50: refused("med"),
            p99: refused("p(99)"),
            ..Default::default()
        },
        all_accepted_final: i.drain.drained && i.orders.pending == 0,
        dropped_iterations: dropped,
        errors: rejected + dropped,
        e2e_ms: Quantiles {
            p50: i.orders.e2e_p50_ms,
            p95: i.orders.e2e_p95_ms,
            p99: i.orders.e2e_p99_ms,
            max: i.orders.e2e_max_ms,
        },
        outcomes: Outcomes {
            paid: i.orders.paid,
            payment_failed: i.orders.payment_failed,
            pending_after_drain: i.orders.pending,
        },
        completed: i.orders.paid + i.orders.payment_failed,
        completed_in_time: i.orders.in_time,
        completed_ratio,
        completed_per_s: finished.map(|f| f / elapsed),
        relay_p99_ms: relay,
        kafka_records_per_s: published / elapsed,
        consumer_lag_end: lag_end,
        consumer_lag_end_s: lag_seconds,
        consumer_lag_end_by_group: lag_by_group,
        consumed_per_s,
        db_commits_per_s,
        cpu_total_pct: cpu.values().sum(),
        cpu_pct: cpu,
        machine_busy_pct,
        drain_s: i.drain.seconds,
        drained: i.drain.drained,
        verdict,
        reasons,
    }
}

/// The progress line bench.sh prints after a step.
pub fn progress(r: &StepResult) -> String {
    let reasons = if r.reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.reasons.join("; "))
    };
    format!(
        "    {}/s: accepted {}/s, completed {}/s, POST p99 {} ms, saga p99 {} ms, errors {}, \
         drained in {} s, CPU {} % -> {}{reasons}",
        r.rate,
        num(Some(r.accepted_per_s), 1),
        num(r.completed_per_s, 1),
        num(r.post_ms.p99, 1),
        num(r.e2e_ms.p99, 1),
        r.errors,
        num(Some(r.drain_s), 1),
        num(Some(r.cpu_total_pct), 0),
        r.verdict
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(le, n)| (le.to_string(), *n)).collect()
    }

    #[test]
    fn quantile_interpolates_inside_the_bucket_of_the_delta() {
        let before = buckets(&[
            ("0.01", 100.0),
            ("0.1", 100.0),
            ("1", 100.0),
            ("+Inf", 100.0),
        ]);
        // 100 new observations: 50 under 10 ms, 40 in (10, 100] ms, 10 in (0.1, 1] s.
        let after = buckets(&[
            ("0.01", 150.0),
            ("0.1", 190.0),
            ("1", 200.0),
            ("+Inf", 200.0),
        ]);
        // p50: rank 50 is the 50th of the first bucket: its upper bound.
        assert_eq!(histogram_quantile(0.5, &before, &after), Some(0.01));
        // p90: rank 90 ends the second bucket.
        assert!((histogram_quantile(0.9, &before, &after).unwrap() - 0.1).abs() < 1e-12);
        // p95: half-way into (0.1, 1].
        assert!((histogram_quantile(0.95, &before, &after).unwrap() - 0.55).abs() < 1e-12);
        // p25: half-way into (0, 0.01].
        assert!((histogram_quantile(0.25, &before, &after).unwrap() - 0.005).abs() < 1e-12);
    }

    #[test]
    fn quantile_in_the_inf_bucket_is_the_highest_bound_and_none_without_samples() {
        let before = buckets(&[("0.5", 0.0), ("+Inf", 0.0)]);
        let after = buckets(&[("0.5", 1.0), ("+Inf", 10.0)]);
        assert_eq!(histogram_quantile(0.99, &before, &after), Some(0.5));
        assert_eq!(histogram_quantile(0.99, &after, &after), None);
        assert_eq!(histogram_quantile(0.99, &before, &BTreeMap::new()), None);
    }

    fn kept_up() -> Facts {
        Facts {
            requests: 1000,
            offered: 1000.0,
            created: 1000,
            completed_ratio: 1.0,
            grace_s: 2,
            relay_max_ms: Some(40.0),
            lag_end: 30.0,
            lag_seconds: Some(0.3),
            drained: true,
            drain_s: 0.5,
            drained_ok_s: 10,
            ..Default::default()
        }
    }

    #[test]
    fn a_clean_step_is_ok() {
        assert_eq!(verdict(&kept_up()), (Verdict::Ok, vec![]));
    }

    #[test]
    fn a_few_overload_refusals_make_it_shed_not_failed() {
        let f = Facts {
            rejected: 30,
            shed: 30,
            ..kept_up()
        };
        let (v, reasons) = verdict(&f);
        assert_eq!(v, Verdict::Shed);
        assert_eq!(reasons, vec!["30 refused as overloaded (3.0%)"]);
    }

    #[test]
    fn slow_completion_is_behind_then_failed() {
        let f = Facts {
            completed_ratio: 0.9,
            ..kept_up()
        };
        assert_eq!(
            verdict(&f),
            (
                Verdict::Behind,
                vec!["only 90.0% completed within the step + 2 s".to_string()]
            )
        );
        let f = Facts {
            completed_ratio: 0.79,
            ..kept_up()
        };
        assert_eq!(verdict(&f).0, Verdict::Failed);
    }

    #[test]
    fn errors_over_five_percent_of_the_offered_fail_the_step() {
        // 40 non-overload refusals + 20 dropped = 6 % of 1000 offered.
        let f = Facts {
            rejected: 40,
            dropped: 20,
            ..kept_up()
        };
        let (v, reasons) = verdict(&f);
        assert_eq!(v, Verdict::Failed);
        assert_eq!(
            reasons,
            vec!["40 refused", "20 dropped by the load generator"]
        );
        // 4 %: behind only.
        let f = Facts {
            rejected: 40,
            ..kept_up()
        };
        assert_eq!(verdict(&f).0, Verdict::Behind);
    }

    #[test]
    fn lag_counts_only_past_eight_seconds_of_consumption() {
        let f = Facts {
            lag_end: 3000.0,
            lag_seconds: Some(3.0),
            ..kept_up()
        };
        assert_eq!(verdict(&f).0, Verdict::Ok);
        let f = Facts {
            lag_end: 9000.0,
            lag_seconds: Some(9.0),
            ..kept_up()
        };
        assert_eq!(
            verdict(&f),
            (
                Verdict::Behind,
                vec!["consumer lag 9000 at the end (9.0 s of consumption)".to_string()]
            )
        );
    }

    #[test]
    fn not_draining_or_draining_late_is_judged() {
        let f = Facts {
            drained: false,
            drain_s: 30.0,
            ..kept_up()
        };
        assert_eq!(
            verdict(&f),
            (Verdict::Failed, vec!["not drained after 30 s".to_string()])
        );
        let f = Facts {
            drain_s: 12.4,
            ..kept_up()
        };
        assert_eq!(
            verdict(&f),
            (Verdict::Behind, vec!["drained only after 12 s".to_string()])
        );
        let f = Facts {
            created: 0,
            completed_ratio: 0.0,
            ..kept_up()
        };
        assert_eq!(verdict(&f).0, Verdict::Failed);
    }

    #[test]
    fn analyse_reads_rates_cpu_and_relay_from_the_snapshots() {
        use crate::metrics::Scrape;
        let scrape = |published: f64, finished: f64, consumed: f64, le_01: f64| Scrape {
            outbox_published_total: published,
            saga_finished_total: finished,
            consumed_total: consumed,
            outbox_latency_buckets: buckets(&[
                ("0.01", le_01),
                ("0.1", published),
                ("+Inf", published),
            ]),
            consumer_lag: 20.0,
            consumer_lag_by_group: buckets(&[("billing-service", 20.0)]),
        };
        let mut start = Snapshot {
            time: 100.0,
            ..Default::default()
        };
        start
            .metrics
            .insert("order-service".into(), scrape(0.0, 0.0, 0.0, 0.0));
        start.cpu_ticks.insert("postgres".into(), Some(1000));
        start.pg_commits = Some([("orders".to_string(), 10)].into());
        let mut end = Snapshot {
            time: 110.0,
            ..Default::default()
        };
        end.metrics
            .insert("order-service".into(), scrape(200.0, 95.0, 400.0, 100.0));
        end.cpu_ticks.insert("postgres".into(), Some(1500));
        end.pg_commits = Some([("orders".to_string(), 210)].into());
        let summary = serde_json::json!({"metrics": {
            "http_reqs{scenario:step}": {"values": {"count": 100}},
            "orders_refused_overloaded{scenario:step}": {"values": {"passes": 0}},
            "http_req_duration{scenario:step}": {"values": {"p(99)": 12.5}},
        }});
        let window = Window {
            rate: 10,
            duration: 10,
            warmup: 2,
            start_ms: 0,
            end_ms: 10_000,
            grace: 2,
            drained_ok: 10,
        };
        let orders = WindowOrders {
            created: 100,
            paid: 99,
            payment_failed: 1,
            in_time: 100,
            e2e_p99_ms: Some(80.0),
            ..Default::default()
        };
        let r = analyse(&Inputs {
            window: &window,
            summary: &summary,
            orders: &orders,
            drain: &Drain {
                drained: true,
                seconds: 0.25,
            },
            start: &start,
            end: &end,
            clk_tck: 100.0,
            cores: 2,
        });
        assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.reasons);
        assert_eq!(r.accepted_per_s, 10.0);
        assert_eq!(r.completed_per_s, Some(9.5));
        assert_eq!(r.kafka_records_per_s, 20.0);
        // 500 ticks over 10 s at 100 ticks/s: half a core.
        assert_eq!(r.cpu_pct["postgres"], 50.0);
        // Half a core = 500 ms/s over 9.5 sagas/s.
        assert_eq!(r.cpu_ms_per_saga()["postgres"], 500.0 / 9.5);
        assert_eq!(r.db_commits_per_s, Some(20.0));
        // 40 consumed/s; 20 behind = half a second.
        assert_eq!(r.consumer_lag_end_s, Some(0.5));
        // Half of the 200 published in (0, 10 ms], the rest in (10, 100] ms:
        // p99 at 98 % of the second bucket.
        let relay = r.relay_p99_ms["order-service"].unwrap();
        assert!((relay - 98.2).abs() < 1e-9, "{relay}");
        assert_eq!(r.post_ms.p99, Some(12.5));
        assert_eq!(r.post_refused_ms.p99, None);
        assert!(r.all_accepted_final);
    }
}
