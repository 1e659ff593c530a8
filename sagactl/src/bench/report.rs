//! The whole run: the cost of a saga, the sustainable rate, the checks past
//! capacity, the performance targets and what saturated first; written as
//! JSON, Markdown and an SVG chart.

use super::proc::Machine;
use super::snapshot::Snapshot;
use super::step::{StepResult, Verdict, KEEP_UP_LAG_SECONDS};
use super::{dump, load, DATABASES, SERVICES};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Past capacity (see docs/performance.md): at these multiples of the
/// sustainable rate, goodput holds and the excess is refused fast.
pub const OVERLOAD_MULTIPLES: [u64; 2] = [2, 4];
/// Completed sagas/s over the sustainable rate.
pub const OVERLOAD_COMPLETED_SHARE: f64 = 0.90;
/// The 503 answers' p99.
pub const OVERLOAD_REFUSED_P99_MS: f64 = 50.0;

pub const TARGET_SUSTAINABLE: f64 = 1500.0;
/// CPU per saga of every process but the load generator, at the sustainable step.
pub const TARGET_CPU_MS_PER_SAGA: f64 = 1.0;
pub const TARGET_POSTGRES_CPU_MS_PER_SAGA: f64 = 0.5;
/// order-service's relay draining its outbox alone.
pub const TARGET_RELAY_DRAIN_PER_S: f64 = 80_000.0;
/// Orders/s of the latency targets.
pub const TARGET_AT_RATE: u64 = 1000;
pub const TARGET_POST_P99_MS: f64 = 20.0;
pub const TARGET_E2E_P99_MS: f64 = 250.0;
pub const TARGET_RELAY_P99_MS: f64 = 50.0;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cost {
    pub sagas: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions_per_saga: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions_per_saga_by_db: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_transactions: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions_per_saga_net: Option<f64>,
    /// WAL bytes of the cluster per saga (idle background not subtracted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_bytes_per_saga: Option<f64>,
    /// Executor milliseconds of all the saga databases' statements per saga
    /// (pg_stat_statements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_ms_per_saga: Option<f64>,
    /// Statements executed per saga.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements_per_saga: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_records: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_records_per_saga: Option<f64>,
}

fn commits_between(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>, db: &str) -> i64 {
    b.get(db).unwrap_or(&0) - a.get(db).unwrap_or(&0)
}

/// Postgres transactions and Kafka records per saga over the whole ladder;
/// `idle_commits_per_s` (relay polls, metric scrapes) gives the net cost.
pub fn cost(start: &Snapshot, end: &Snapshot, sagas: i64, idle_commits_per_s: Option<f64>) -> Cost {
    let mut out = Cost {
        sagas,
        ..Default::default()
    };
    if sagas <= 0 {
        return out;
    }
    let per_saga = |n: f64| n / sagas as f64;
    if let (Some(a), Some(b)) = (&start.pg_commits, &end.pg_commits) {
        let delta: i64 = DATABASES.iter().map(|d| commits_between(a, b, d)).sum();
        out.transactions = Some(delta);
        out.transactions_per_saga = Some(per_saga(delta as f64));
        out.transactions_per_saga_by_db = Some(
            DATABASES
                .iter()
                .map(|d| (d.to_string(), per_saga(commits_between(a, b, d) as f64)))
                .collect(),
        );
        if let Some(idle) = idle_commits_per_s {
            let background = idle * (end.time - start.time);
            out.background_transactions = Some(background);
            out.transactions_per_saga_net = Some(per_saga((delta as f64 - background).max(0.0)));
        }
    }
    if let (Some(a), Some(b)) = (start.pg_wal_bytes, end.pg_wal_bytes) {
        out.wal_bytes_per_saga = Some(per_saga(b - a));
    }
    if !start.metrics.is_empty() && !end.metrics.is_empty() {
        let records: f64 = SERVICES
            .iter()
            .filter_map(|s| super::snapshot::both(start, end, s))
            .map(|(a, b)| b.outbox_published_total - a.outbox_published_total)
            .sum();
        out.kafka_records = Some(records);
        out.kafka_records_per_saga = Some(per_saga(records));
    }
    out
}

/// The highest step up to which every step kept up, and a note when a
/// higher one kept up too after one that did not.
pub fn sustainable(steps: &[StepResult]) -> (Option<&StepResult>, Option<String>) {
    let best = steps.iter().take_while(|s| s.verdict == Verdict::Ok).last();
    let higher: Vec<String> = steps
        .iter()
        .filter(|s| s.verdict == Verdict::Ok && best.is_none_or(|b| s.rate > b.rate))
        .map(|s| s.rate.to_string())
        .collect();
    let note = (!higher.is_empty()).then(|| {
        format!(
            "step(s) {}/s kept up too, after one that did not (noise?)",
            higher.join(", ")
        )
    });
    (best, note)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverloadRow {
    pub multiple: u64,
    pub rate: u64,
    pub measured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_accepted_final: Option<bool>,
    pub met: bool,
}

/// The past-capacity checks at each multiple of the sustainable rate.
pub fn overload(steps: &[StepResult], sustainable: u64, audit_clean: bool) -> Vec<OverloadRow> {
    OVERLOAD_MULTIPLES
        .iter()
        .map(|&multiple| {
            let rate = sustainable * multiple;
            let mut row = OverloadRow {
                multiple,
                rate,
                measured: false,
                completed_per_s: None,
                completed_share: None,
                refused_share: None,
                refused_p99_ms: None,
                accepted_p99_ms: None,
                all_accepted_final: None,
                met: false,
            };
            if let Some(st) = steps.iter().find(|s| s.rate == rate) {
                let completed = st.completed_per_s.unwrap_or(0.0);
                let refused_p99 = st.post_refused_ms.p99;
                row.measured = true;
                row.completed_per_s = Some(completed);
                row.completed_share = Some(completed / sustainable as f64);
                row.refused_share = Some(st.refused_share);
                row.refused_p99_ms = refused_p99;
                row.accepted_p99_ms = st.post_accepted_ms.p99;
                row.all_accepted_final = Some(st.all_accepted_final);
                row.met = completed >= OVERLOAD_COMPLETED_SHARE * sustainable as f64
                    && refused_p99.is_none_or(|p| p <= OVERLOAD_REFUSED_P99_MS)
                    && st.all_accepted_final
                    && audit_clean;
            }
            row
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetRow {
    pub target: String,
    /// An integer for a rate, a float for a latency (printed as such).
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// None: not measured (the rate was not on the ladder).
    pub met: Option<bool>,
    pub at: String,
}

pub fn targets(
    steps: &[StepResult],
    best: Option<&StepResult>,
    ladder: &[u64],
    components: &[super::components::Component],
) -> Vec<TargetRow> {
    let at = steps.iter().find(|s| s.rate == TARGET_AT_RATE);
    // A target rate the ladder did not reach because it stopped below it is
    // missed; one that was not on the ladder at all is not measured.
    let stopped_below = at.is_none() && ladder.contains(&TARGET_AT_RATE);
    let where_ = match at {
        Some(_) => format!("{TARGET_AT_RATE} orders/s"),
        None if stopped_below => "not reached: the ladder stopped below it".into(),
        None => format!("no {TARGET_AT_RATE}/s step in BENCH_RATES"),
    };
    let row = |target: String, value: Option<Value>, unit: &str, met: Option<bool>, at: &str| {
        let measured = value.is_some();
        TargetRow {
            target,
            value,
            unit: measured.then(|| unit.to_owned()),
            met: if measured {
                met
            } else {
                stopped_below.then_some(false)
            },
            at: at.to_owned(),
        }
    };
    let below = |value: Option<f64>, limit: f64| value.map(|v| v < limit);
    let float = |v: Option<f64>| v.map(Value::from);
    let rate = format!("{} orders/s", super::format::int(TARGET_AT_RATE));
    let sustainable_target = format!(
        "sustainable ≥ {} sagas/s",
        super::format::grouped(TARGET_SUSTAINABLE, 0)
    );
    let mut rows = vec![match best {
        Some(b) => row(
            sustainable_target,
            Some(Value::from(b.rate)),
            "sagas/s",
            Some(b.rate as f64 >= TARGET_SUSTAINABLE),
            "highest step that kept up",
        ),
        None => TargetRow {
            target: sustainable_target,
            value: None,
            unit: None,
            met: Some(false),
            at: "no step kept up".into(),
        },
    }];
    let post = at.and_then(|s| s.post_ms.p99);
    rows.push(row(
        format!("POST p99 < {TARGET_POST_P99_MS:.0} ms at {rate}"),
        float(post),
        "ms",
        below(post, TARGET_POST_P99_MS),
        &where_,
    ));
    let e2e = at.and_then(|s| s.e2e_ms.p99);
    rows.push(row(
        format!("saga e2e p99 < {TARGET_E2E_P99_MS:.0} ms at {rate}"),
        float(e2e),
        "ms",
        below(e2e, TARGET_E2E_P99_MS),
        &where_,
    ));
    let relay = at.and_then(|s| s.relay_p99_ms.values().flatten().copied().reduce(f64::max));
    rows.push(row(
        format!(
            "relay commit → Kafka p99 < {TARGET_RELAY_P99_MS:.0} ms at {rate} (slowest service)"
        ),
        float(relay),
        "ms",
        below(relay, TARGET_RELAY_P99_MS),
        &where_,
    ));
    // Measured or not, whatever the ladder reached.
    let measured =
        |target: String, value: Option<Value>, unit: &str, met: Option<bool>, at: &str| TargetRow {
            unit: value.is_some().then(|| unit.to_owned()),
            target,
            value,
            met,
            at: at.to_owned(),
        };
    let cpu = best
        .map(StepResult::cpu_ms_per_saga)
        .filter(|c| !c.is_empty());
    let at_best = best.map_or("no step kept up".into(), |b| {
        format!(
            "at the sustainable {} orders/s, load generator excluded",
            b.rate
        )
    });
    let total = cpu.as_ref().map(|c| c.values().sum::<f64>());
    rows.push(measured(
        format!("CPU per saga ≤ {TARGET_CPU_MS_PER_SAGA:.1} ms"),
        float(total),
        "ms",
        total.map(|t| t <= TARGET_CPU_MS_PER_SAGA),
        &at_best,
    ));
    let postgres = cpu.as_ref().and_then(|c| c.get("postgres").copied());
    rows.push(measured(
        format!("Postgres CPU per saga ≤ {TARGET_POSTGRES_CPU_MS_PER_SAGA:.1} ms"),
        float(postgres),
        "ms",
        postgres.map(|p| p <= TARGET_POSTGRES_CPU_MS_PER_SAGA),
        &at_best,
    ));
    let drain = components
        .iter()
        .find(|c| c.part == "relay" && c.service == "order-service")
        .map(|c| c.per_s);
    rows.push(measured(
        format!(
            "relay drain ≥ {} events/s",
            super::format::grouped(TARGET_RELAY_DRAIN_PER_S, 0)
        ),
        float(drain),
        "events/s",
        drain.map(|d| d >= TARGET_RELAY_DRAIN_PER_S),
        "order-service's relay alone on its backlog",
    ));
    rows
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saturation {
    pub rate: u64,
    pub details: Vec<String>,
    pub first: Option<String>,
}

/// What ran out at `step`: CPU shares, and how close Postgres and Kafka ran
/// to the limits measured in the same run.
pub fn saturation(
    step: &StepResult,
    pg_tps: Option<f64>,
    kafka_rps: Option<f64>,
    cores: u32,
) -> Saturation {
    let capacity = cores * 100;
    let mut details = Vec::new();
    let mut shares: Vec<(&String, f64)> = step.cpu_pct.iter().map(|(n, v)| (n, *v)).collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !shares.is_empty() {
        let list: Vec<String> = shares
            .iter()
            .map(|(n, v)| format!("{} {v:.0} %", super::step::tree_label(n)))
            .collect();
        details.push(format!(
            "CPU {}; listed total {:.0} % of {capacity} %",
            list.join(", "),
            step.cpu_total_pct
        ));
    }
    let other = step.machine_busy_pct.map(|busy| busy - step.cpu_total_pct);
    if let (Some(busy), Some(other)) = (step.machine_busy_pct, other) {
        details.push(format!(
            "machine busy {busy:.0} % of {capacity} % (other processes {other:.0} %)"
        ));
    }
    let commits = step.db_commits_per_s;
    if let (Some(pg), Some(c)) = (pg_tps.filter(|t| *t > 0.0), commits) {
        details.push(format!(
            "Postgres {c:.0} commits/s = {:.0} % of the pgbench rate",
            100.0 * c / pg
        ));
    }
    if let Some(kafka) = kafka_rps.filter(|k| *k > 0.0) {
        details.push(format!(
            "Kafka {:.0} records/s = {:.1} % of the perf-test rate",
            step.kafka_records_per_s,
            100.0 * step.kafka_records_per_s / kafka
        ));
    }
    let mut first = None;
    match (step.machine_busy_pct, other) {
        (Some(busy), Some(other)) if busy >= 0.9 * f64::from(capacity) => {
            let top = match shares.first() {
                Some((name, share)) if *share >= other => {
                    format!("{} ({share:.0} %)", super::step::tree_label(name))
                }
                _ => format!(
                    "processes outside the benchmark ({other:.0} %): the numbers are not this stack's own"
                ),
            };
            first = Some(format!(
                "CPU: the machine was {:.0} % busy; the largest share: {top}",
                busy / f64::from(cores)
            ));
        }
        _ => {
            if let (Some(pg), Some(c)) = (pg_tps.filter(|t| *t > 0.0), commits) {
                if c > 0.0 && c >= 0.8 * pg {
                    first = Some("Postgres commits: close to the pgbench rate".into());
                }
            }
        }
    }
    let mut groups: Vec<(&String, f64)> = step
        .consumer_lag_end_by_group
        .iter()
        .map(|(g, v)| (g, *v))
        .collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Some((group, lag)) = groups.first() {
        if *lag > 0.0 && step.consumer_lag_end_s.unwrap_or(0.0) > KEEP_UP_LAG_SECONDS {
            let list: Vec<String> = groups
                .iter()
                .map(|(g, v)| format!("{g} {}", super::format::grouped(*v, 0)))
                .collect();
            details.push(format!("lag by consumer group {}", list.join(", ")));
            first.get_or_insert_with(|| {
                format!(
                    "the {group} consumer ({} records behind) with CPU, Postgres and Kafka below their limits: \
                     its per-record work, not a shared resource",
                    super::format::grouped(*lag, 0)
                )
            });
        }
    }
    Saturation {
        rate: step.rate,
        details,
        first,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sustainable {
    pub rate: Option<u64>,
    pub completed_per_s: Option<f64>,
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_bound: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_bound: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_completed_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_bound_any: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_pg_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Audit {
    pub exit: Option<i64>,
    pub violations: Option<usize>,
    pub clean: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub started_at: Option<String>,
    pub finished_at: String,
    pub machine: Machine,
    /// What bench.sh and `bench settings` recorded, as they recorded it.
    pub settings: Value,
    pub limits: Value,
    pub cost: Cost,
    pub steps: Vec<StepResult>,
    pub stopped_early: Option<String>,
    pub sustainable: Sustainable,
    pub targets: Vec<TargetRow>,
    pub overload: Vec<OverloadRow>,
    pub audit: Audit,
    pub chart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Saturation>,
    /// Each part alone on its own backlog.
    #[serde(default)]
    pub components: Vec<super::components::Component>,
    /// The statements that cost the saga most executor time.
    #[serde(default)]
    pub statements: Vec<StatementRow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flames: Option<super::flame::Flames>,
}

/// One of the most expensive statements of the ladder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementRow {
    pub database: String,
    pub query: String,
    pub calls_per_saga: f64,
    pub ms_per_saga: f64,
    /// Of all the saga databases' executor time.
    pub share: f64,
}

/// Statements the report names.
pub const TOP_STATEMENTS: usize = 3;

/// The [`TOP_STATEMENTS`] statements with most executor time, per saga.
pub fn top_statements(all: &[super::db::Statement], sagas: i64) -> Vec<StatementRow> {
    let total: f64 = all.iter().map(|s| s.total_exec_ms).sum();
    if sagas <= 0 || total <= 0.0 {
        return Vec::new();
    }
    let mut sorted: Vec<&super::db::Statement> = all.iter().collect();
    sorted.sort_by(|a, b| b.total_exec_ms.total_cmp(&a.total_exec_ms));
    sorted
        .into_iter()
        .take(TOP_STATEMENTS)
        .map(|s| StatementRow {
            database: s.database.clone(),
            query: s.query.split_whitespace().collect::<Vec<_>>().join(" "),
            calls_per_saga: s.calls as f64 / sagas as f64,
            ms_per_saga: s.total_exec_ms / sagas as f64,
            share: s.total_exec_ms / total,
        })
        .collect()
}

impl Report {
    pub fn limit(&self, tool: &str, key: &str) -> Option<f64> {
        self.limits.get(tool)?.get(key)?.as_f64()
    }
}

/// The steps measured so far, in ladder order.
pub fn load_steps(work: &Path) -> Vec<StepResult> {
    let mut dirs: Vec<_> = std::fs::read_dir(work)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
        })
        .collect();
    dirs.sort();
    dirs.iter()
        .filter_map(|d| load(&d.join("result.json")))
        .collect()
}

/// Commits/s of the three databases while only the services' background
/// work ran (between the idle snapshots).
fn idle_commits_per_s(a: Option<Snapshot>, b: Option<Snapshot>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let (ca, cb) = (a.pg_commits.as_ref()?, b.pg_commits.as_ref()?);
    (b.time > a.time).then(|| {
        DATABASES
            .iter()
            .map(|d| commits_between(ca, cb, d))
            .sum::<i64>() as f64
            / (b.time - a.time)
    })
}

/// Builds the report from the work directory, writes it to `out_dir`
/// (`<stamp>.{json,md,svg}` and `latest.*`) and returns it with its Markdown
/// and the problems that make the run incomplete.
pub fn build(work: &Path, out_dir: &Path) -> anyhow::Result<(Report, String, Vec<String>)> {
    let run: Value = load(&work.join("run.json")).unwrap_or_default();
    let snap = |name: &str| load::<Snapshot>(&work.join(format!("{name}.json")));
    let steps = load_steps(work);
    let audit_violations = load::<Value>(&work.join("audit.json"))
        .and_then(|a| Some(a.get("violations")?.as_array()?.len()));
    let audit_exit = run.pointer("/audit/exit").and_then(Value::as_i64);
    let audit = Audit {
        exit: audit_exit,
        violations: audit_violations,
        clean: audit_exit == Some(0) && audit_violations == Some(0),
    };
    let limits = run
        .get("limits")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let sagas = run.get("ladder_sagas").and_then(Value::as_i64).unwrap_or(0);
    let cost = match (snap("ladder-start"), snap("ladder-end")) {
        (Some(a), Some(b)) => cost(
            &a,
            &b,
            sagas,
            idle_commits_per_s(snap("idle-start"), snap("idle-end")),
        ),
        _ => Cost {
            sagas,
            ..Default::default()
        },
    };
    let statements: Vec<super::db::Statement> =
        load(&work.join("statements.json")).unwrap_or_default();
    let mut cost = cost;
    if sagas > 0 && !statements.is_empty() {
        let per_saga = |n: f64| n / sagas as f64;
        cost.executor_ms_per_saga =
            Some(per_saga(statements.iter().map(|s| s.total_exec_ms).sum()));
        cost.statements_per_saga = Some(per_saga(statements.iter().map(|s| s.calls as f64).sum()));
    }
    let pg_tps = limits
        .pointer("/postgres/tps")
        .and_then(Value::as_f64)
        .filter(|t| *t > 0.0);
    let kafka_rps = limits
        .pointer("/kafka/records_per_s")
        .and_then(Value::as_f64)
        .filter(|k| *k > 0.0);
    let (best, note) = sustainable(&steps);
    let pg_bound = pg_tps
        .zip(cost.transactions_per_saga.filter(|t| *t > 0.0))
        .map(|(t, c)| t / c);
    let kafka_bound = kafka_rps
        .zip(cost.kafka_records_per_saga.filter(|k| *k > 0.0))
        .map(|(r, c)| r / c);
    let peak = steps
        .iter()
        .filter(|s| s.completed_per_s.is_some_and(|c| c > 0.0))
        .max_by(|a, b| {
            a.completed_per_s
                .unwrap_or(0.0)
                .total_cmp(&b.completed_per_s.unwrap_or(0.0))
        });
    let sustainable = Sustainable {
        rate: best.map(|b| b.rate),
        completed_per_s: best.and_then(|b| b.completed_per_s),
        note,
        pg_bound: best.and(pg_bound),
        pg_ratio: best.zip(pg_bound).map(|(b, bound)| b.rate as f64 / bound),
        kafka_bound: best.and(kafka_bound),
        peak_completed_per_s: peak.and_then(|p| p.completed_per_s),
        peak_rate: peak.map(|p| p.rate),
        pg_bound_any: peak.and(pg_bound),
        peak_pg_ratio: peak
            .zip(pg_bound)
            .and_then(|(p, bound)| Some(p.completed_per_s? / bound)),
    };
    let ladder: Vec<u64> = run
        .pointer("/bench/rates")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let components: Vec<super::components::Component> =
        load(&super::components::path(work)).unwrap_or_default();
    let targets = targets(&steps, best, &ladder, &components);
    let machine: Machine = run
        .get("machine")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_else(super::proc::machine);
    let saturation = steps
        .last()
        .filter(|_| targets.iter().any(|t| t.met == Some(false)))
        .map(|top| saturation(top, pg_tps, kafka_rps, machine.cores));
    std::fs::create_dir_all(out_dir)?;
    let stamp = run.get("stamp").and_then(Value::as_str).map_or_else(
        || chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string(),
        str::to_owned,
    );
    let svg = super::chart::svg(&steps, best.map(|b| b.rate));
    if let Some(svg) = &svg {
        for name in [format!("{stamp}.svg"), "latest.svg".into()] {
            std::fs::write(out_dir.join(name), svg)?;
        }
    }
    let field = |key: &str| run.get(key).cloned().unwrap_or(Value::Null);
    let settings = serde_json::json!({
        "cargo_profile": field("cargo_profile"),
        "git_revision": field("git_revision"),
        "service_env": field("service_env"),
        "kafka_heap": field("kafka_heap"),
        "postgres": run.get("postgres").cloned().unwrap_or_else(|| serde_json::json!({})),
        "postgres_settings": run.pointer("/postgres/settings").cloned().unwrap_or(Value::Null),
        "load_generator": field("load_generator"),
        "kafka_version": field("kafka_version"),
        "bench": field("bench"),
    });
    let overload = match best {
        Some(b) => overload(&steps, b.rate, audit.clean),
        None => Vec::new(),
    };
    let report = Report {
        started_at: run
            .get("started_at")
            .and_then(Value::as_str)
            .map(str::to_owned),
        finished_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        machine,
        settings,
        limits,
        cost,
        stopped_early: run
            .get("stopped_early")
            .and_then(Value::as_str)
            .map(str::to_owned),
        sustainable,
        targets,
        overload,
        chart: svg.map(|_| out_dir.join(format!("{stamp}.svg")).display().to_string()),
        saturation,
        audit,
        steps,
        components,
        statements: top_statements(&statements, sagas),
        flames: load(&super::flame::path(work)),
    };
    let md = super::markdown::render(&report);
    for name in [format!("{stamp}.json"), "latest.json".into()] {
        dump(&out_dir.join(name), &report)?;
    }
    for name in [format!("{stamp}.md"), "latest.md".into()] {
        std::fs::write(out_dir.join(name), &md)?;
    }
    let problems = problems(&report);
    println!("{md}");
    println!(
        "report: {}.{{json,md,svg}} (and latest.{{json,md,svg}})",
        out_dir.join(&stamp).display()
    );
    Ok((report, md, problems))
}

/// Why the report is incomplete; the run fails when there is any.
pub fn problems(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    if report.limit("postgres", "tps").is_none_or(|t| t == 0.0) {
        problems.push("the PostgreSQL commit rate (pgbench) is missing".to_owned());
    }
    if report
        .limit("kafka", "records_per_s")
        .is_none_or(|r| r == 0.0)
    {
        problems.push("the Kafka produce rate (kafka-producer-perf-test) is missing".to_owned());
    }
    if report.steps.is_empty() {
        problems.push("no ladder step was measured".to_owned());
    }
    if !report.audit.clean {
        problems.push("`sagactl audit` was not clean after the ladder".to_owned());
    }
    for step in &report.steps {
        if step.completed == 0 {
            problems.push(format!(
                "none of the {}/s step's orders completed, even after the drain",
                step.rate
            ));
        }
    }
    if report.cost.transactions_per_saga.is_none() || report.cost.kafka_records_per_saga.is_none() {
        problems.push("the cost of a saga could not be measured".to_owned());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::step::Quantiles;
    use crate::metrics::Scrape;

    fn step(rate: u64, verdict: Verdict) -> StepResult {
        StepResult {
            rate,
            verdict,
            completed_per_s: Some(rate as f64),
            all_accepted_final: true,
            ..Default::default()
        }
    }

    #[test]
    fn sustainable_is_the_last_of_the_unbroken_ok_steps() {
        let steps = [
            step(250, Verdict::Ok),
            step(500, Verdict::Ok),
            step(750, Verdict::Shed),
            step(1000, Verdict::Ok),
        ];
        let (best, note) = sustainable(&steps);
        assert_eq!(best.map(|s| s.rate), Some(500));
        assert_eq!(
            note.as_deref(),
            Some("step(s) 1000/s kept up too, after one that did not (noise?)")
        );
        let steps = [step(250, Verdict::Behind), step(500, Verdict::Ok)];
        let (best, note) = sustainable(&steps);
        assert!(best.is_none());
        assert!(note.unwrap().starts_with("step(s) 500/s"));
        let one = [step(250, Verdict::Ok)];
        let (best, note) = sustainable(&one);
        assert_eq!((best.map(|s| s.rate), note), (Some(250), None));
    }

    #[test]
    fn saturation_names_the_load_generator_by_what_it_is() {
        let mut busy = step(4000, Verdict::Shed);
        busy.cpu_pct = [("postgres", 60.0), (super::super::step::LOAD_TREE, 90.0)]
            .into_iter()
            .map(|(name, pct)| (name.to_owned(), pct))
            .collect();
        busy.cpu_total_pct = 150.0;
        busy.machine_busy_pct = Some(195.0);
        let sat = saturation(&busy, None, None, 2);
        assert_eq!(
            sat.details[0],
            "CPU load generator 90 %, postgres 60 %; listed total 150 % of 200 %"
        );
        assert_eq!(
            sat.first.as_deref(),
            Some("CPU: the machine was 98 % busy; the largest share: load generator (90 %)")
        );
    }

    fn snap(time: f64, commits: [i64; 3], published: [f64; 3]) -> Snapshot {
        let mut s = Snapshot {
            time,
            pg_commits: Some(
                DATABASES
                    .iter()
                    .map(|d| d.to_string())
                    .zip(commits)
                    .collect(),
            ),
            ..Default::default()
        };
        for (service, n) in SERVICES.iter().zip(published) {
            s.metrics.insert(
                service.to_string(),
                Scrape {
                    outbox_published_total: n,
                    ..Default::default()
                },
            );
        }
        s
    }

    #[test]
    fn cost_divides_commits_and_records_by_sagas_and_nets_out_the_background() {
        let mut start = snap(100.0, [1000, 500, 200], [10.0, 5.0, 0.0]);
        let mut end = snap(200.0, [1300, 560, 240], [410.0, 205.0, 0.0]);
        (start.pg_wal_bytes, end.pg_wal_bytes) = (Some(1e6), Some(3e6));
        let c = cost(&start, &end, 200, Some(0.5));
        assert_eq!(c.wal_bytes_per_saga, Some(10_000.0));
        assert_eq!(c.transactions, Some(400));
        assert_eq!(c.transactions_per_saga, Some(2.0));
        let by_db = c.transactions_per_saga_by_db.unwrap();
        assert_eq!(
            (by_db["orders"], by_db["billing"], by_db["notifications"]),
            (1.5, 0.3, 0.2)
        );
        // 0.5 commits/s of background over 100 s: 50 of the 400.
        assert_eq!(c.background_transactions, Some(50.0));
        assert_eq!(c.transactions_per_saga_net, Some(1.75));
        assert_eq!(c.kafka_records, Some(600.0));
        assert_eq!(c.kafka_records_per_saga, Some(3.0));
        // No saga: no cost.
        assert_eq!(cost(&start, &end, 0, None).transactions_per_saga, None);
    }

    #[test]
    fn overload_rows_check_goodput_refusal_latency_finality_and_the_audit() {
        let mut twice = step(1000, Verdict::Shed);
        twice.completed_per_s = Some(460.0);
        twice.refused_share = 0.1;
        twice.post_refused_ms = Quantiles {
            p99: Some(12.0),
            ..Default::default()
        };
        let mut four = step(2000, Verdict::Shed);
        four.completed_per_s = Some(1600.0);
        four.post_refused_ms.p99 = Some(60.0);
        let steps = [step(500, Verdict::Ok), twice, four];
        let rows = overload(&steps, 500, true);
        assert_eq!(rows.len(), 2);
        // 460/s ≥ 90 % of 500, p99 12 ms ≤ 50 ms: met.
        assert!(rows[0].met && rows[0].measured);
        assert_eq!(rows[0].completed_share, Some(0.92));
        // The 4× step refused too slowly.
        assert!(!rows[1].met);
        // Without a clean audit nothing is met; a missing step is missed.
        assert!(!overload(&steps, 500, false)[0].met);
        let rows = overload(&steps[..1], 500, true);
        assert!(!rows[0].measured && !rows[0].met);
    }

    #[test]
    fn targets_at_1000_are_missed_when_the_ladder_stopped_below_and_unmeasured_when_absent() {
        let steps = [step(500, Verdict::Ok), step(750, Verdict::Failed)];
        let rows = targets(&steps, Some(&steps[0]), &[500, 750, 1000], &[]);
        assert_eq!(rows[0].met, Some(false));
        assert_eq!(rows[0].value, Some(Value::from(500)));
        assert!(rows[1..4]
            .iter()
            .all(|r| r.met == Some(false) && r.value.is_none()));
        assert_eq!(rows[1].at, "not reached: the ladder stopped below it");
        let rows = targets(&steps, Some(&steps[0]), &[500, 750], &[]);
        assert!(rows[1..].iter().all(|r| r.met.is_none()));
        // 500/s kept up; the steps used here record no CPU.
        assert_eq!(
            rows[4].at,
            "at the sustainable 500 orders/s, load generator excluded"
        );
        let mut at = step(1000, Verdict::Ok);
        at.post_ms.p99 = Some(19.0);
        at.e2e_ms.p99 = Some(300.0);
        at.relay_p99_ms = [
            ("order-service".to_string(), Some(40.0)),
            ("billing-service".to_string(), Some(55.0)),
        ]
        .into();
        let rows = targets(&[at.clone()], Some(&at), &[1000], &[]);
        let met: Vec<Option<bool>> = rows.iter().map(|r| r.met).collect();
        assert_eq!(
            met[..4],
            [Some(false), Some(true), Some(false), Some(false)]
        );
        assert_eq!(rows[3].value, Some(Value::from(55.0)));
        // CPU and the relay drain: unmeasured here (no CPU, no components).
        assert_eq!(met[4..], [None, None, None]);
    }
}
