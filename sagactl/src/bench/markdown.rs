//! The report as Markdown: what docs/performance.md quotes.

use super::format::{grouped, int, num, num_json, pct};
use super::report::{Report, OVERLOAD_COMPLETED_SHARE, OVERLOAD_REFUSED_P99_MS};
use super::SERVICES;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "None".into(),
        Some(other) => other.to_string(),
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "**no**"
    }
}

/// The stack's process trees, in the order of the report's CPU tables.
const STACK_TREES: [&str; 5] = [
    "order-service",
    "billing-service",
    "notification-service",
    "kafka",
    "postgres",
];

pub fn render(rep: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    macro_rules! w {
        ($($arg:tt)*) => { writeln!(out, $($arg)*).expect("write to a String") };
    }
    let (m, s, lim, c) = (&rep.machine, &rep.settings, &rep.limits, &rep.cost);
    let generator = text(s.get("load_generator"));
    w!(
        "# make bench — {}",
        rep.started_at.as_deref().unwrap_or("None")
    );
    w!();
    w!(
        "{}, {} cores, {} GiB RAM, kernel {}; git {}; cargo profile `{}`; everything co-located (services, \
         Kafka, Postgres, load generator); load generator **{generator}**.",
        m.cpu_model,
        m.cores,
        m.ram_gib.map_or("None".into(), |r| format!("{r:?}")),
        m.kernel,
        text(s.get("git_revision")),
        text(s.get("cargo_profile")),
    );
    // One list of the services' settings: a variable set differently per
    // service shows every value.
    let mut merged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Some(env) = s.get("service_env").and_then(Value::as_object) {
        for vars in env.values().filter_map(Value::as_object) {
            for (k, v) in vars {
                merged.entry(k.clone()).or_default().insert(text(Some(v)));
            }
        }
    }
    let env_text = if merged.is_empty() {
        "none (defaults)".to_owned()
    } else {
        let items: Vec<String> = merged
            .iter()
            .map(|(k, v)| format!("`{k}={}`", v.iter().cloned().collect::<Vec<_>>().join("/")))
            .collect();
        items.join(", ")
    };
    let pg_version = s
        .pointer("/postgres/version")
        .map_or("?".into(), |v| text(Some(v)));
    let pg_settings = s
        .get("postgres_settings")
        .map_or("?".into(), |v| text(Some(v)));
    w!(
        "Service environment: {env_text}; Kafka heap `{}`; Postgres {pg_version} ({pg_settings}); Kafka {}.",
        text(s.get("kafka_heap")),
        s.get("kafka_version").map_or("?".into(), |v| text(Some(v))),
    );
    w!();
    w!("## Limits of this machine (measured in this run)");
    w!();
    let empty = Value::Object(Default::default());
    let pg = lim.get("postgres").unwrap_or(&empty);
    let kf = lim.get("kafka").unwrap_or(&empty);
    let f = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64);
    w!("| limit | rate | latency |");
    w!("|---|---|---|");
    w!(
        "| PostgreSQL: one-row INSERT transactions, {} clients, {} s, synchronous_commit={} (pgbench) | {} tps | avg {} ms |",
        text(pg.get("clients")),
        text(pg.get("seconds")),
        text(pg.get("synchronous_commit")),
        num(f(pg, "tps"), 0),
        num(f(pg, "latency_avg_ms"), 2),
    );
    w!(
        "| Kafka: acks=all, {} partitions, {} B records ({}), linger.ms={}, {} records (kafka-producer-perf-test, \
         unthrottled) | {} records/s, {} MB/s | p99 {} ms (at saturation: queueing) |",
        text(kf.get("partitions")),
        text(kf.get("record_size")),
        text(kf.get("record_size_source")),
        text(kf.get("linger_ms")),
        num_json(kf.get("records"), 1),
        num(f(kf, "records_per_s"), 0),
        num(f(kf, "mb_per_s"), 2),
        num(f(kf, "p99_ms"), 0),
    );
    w!();
    w!("## Cost of one saga (measured over the ladder)");
    w!();
    match (c.transactions_per_saga, c.transactions) {
        (Some(per_saga), Some(transactions)) => {
            let by_db: Vec<String> = super::DATABASES
                .iter()
                .filter_map(|d| {
                    let v = c.transactions_per_saga_by_db.as_ref()?.get(*d)?;
                    Some(format!("{d} {v:.2}"))
                })
                .collect();
            let net = match (c.transactions_per_saga_net, c.background_transactions) {
                (Some(net), Some(bg)) => format!(
                    "; less the background of idle relay polls and metric scrapes (≈{bg:.0}): **{net:.2}**"
                ),
                _ => String::new(),
            };
            w!(
                "- Postgres transactions: **{per_saga:.2} per saga** (Δxact_commit {} over {} sagas; {}){net}",
                grouped(transactions as f64, 0),
                grouped(c.sagas as f64, 0),
                by_db.join(", ")
            );
        }
        _ => w!("- Postgres transactions: not measured"),
    }
    match (c.kafka_records_per_saga, c.kafka_records) {
        (Some(per_saga), Some(records)) => w!(
            "- Kafka records: **{per_saga:.2} per saga** (Δoutbox_published_total {} over {} sagas)",
            grouped(records, 0),
            grouped(c.sagas as f64, 0)
        ),
        _ => w!("- Kafka records: not measured"),
    }
    if let Some(wal) = c.wal_bytes_per_saga {
        w!(
            "- Postgres WAL: **{} bytes per saga** (Δpg_stat_wal.wal_bytes of the cluster)",
            grouped(wal, 0)
        );
    }
    if let (Some(ms), Some(n)) = (c.executor_ms_per_saga, c.statements_per_saga) {
        w!(
            "- Postgres statements: **{} per saga, {} ms of executor time** (pg_stat_statements; commits' WAL flushes included)",
            num(Some(n), 1),
            num(Some(ms), 3)
        );
    }
    w!();
    let warmup = rep
        .steps
        .first()
        .map_or("?".into(), |s| s.warmup_s.to_string());
    w!(
        "## Ladder (open model, constant arrival rate by {generator}; {warmup} s warm-up per step not measured)"
    );
    w!();
    w!(
        "| orders/s | accepted/s | completed/s | POST p50/p95/p99 ms | errors (refused+dropped) | saga p50/p95/p99 ms \
         | done in step+grace | relay p99 ms (order/billing/notif.) | lag at end (s) | DB commits/s | drain s | verdict |"
    );
    w!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for st in &rep.steps {
        let relay: Vec<String> = SERVICES
            .iter()
            .map(|n| num(st.relay_p99_ms.get(*n).copied().flatten(), 1))
            .collect();
        let (p, e) = (&st.post_ms, &st.e2e_ms);
        w!(
            "| {} | {} | {} | {}/{}/{} | {} ({}+{}) | {}/{}/{} | {} | {} | {} ({}) | {} | {} | {} |",
            st.rate,
            num(Some(st.accepted_per_s), 1),
            num(st.completed_per_s, 1),
            num(p.p50, 2),
            num(p.p95, 2),
            num(p.p99, 2),
            st.errors,
            st.rejected,
            st.dropped_iterations,
            num(e.p50, 0),
            num(e.p95, 0),
            num(e.p99, 0),
            pct(st.completed_ratio, 1),
            relay.join("/"),
            num(Some(st.consumer_lag_end), 0),
            num(st.consumer_lag_end_s, 1),
            num(st.db_commits_per_s, 0),
            num(Some(st.drain_s), 1),
            st.verdict,
        );
    }
    w!();
    w!(
        "Relay p99 \"–\": the service published nothing in the window. Lag: sum of `consumer_lag` at the end of the \
         window, and in seconds of the services' consumption; it counts from the committed offset, which auto-commit \
         moves every 5 s (and the gauge is refreshed every 5 s), so up to ~5 s shows even when no consumer is behind."
    );
    w!();
    let cores = m.cores.max(1);
    // The load generator's tree is named k6 whichever generator ran.
    let mut names = STACK_TREES.to_vec();
    names.push(super::step::LOAD_TREE);
    w!(
        "CPU during each step, % of one core ({cores} cores = {} %):",
        cores * 100
    );
    w!();
    let headers: Vec<&str> = names.iter().map(|n| super::step::tree_label(n)).collect();
    w!(
        "| orders/s | {} | listed total | whole machine |",
        headers.join(" | ")
    );
    w!("|---|{}", "---|".repeat(names.len() + 2));
    for st in &rep.steps {
        let cpu: Vec<String> = names
            .iter()
            .map(|n| num(st.cpu_pct.get(*n).copied(), 0))
            .collect();
        w!(
            "| {} | {} | {} | {} |",
            st.rate,
            cpu.join(" | "),
            num(Some(st.cpu_total_pct), 0),
            num(st.machine_busy_pct, 0)
        );
    }
    w!();
    out.push_str(&cost_by_part(rep));
    if let Some(stopped) = &rep.stopped_early {
        w!("Ladder stopped early: {stopped}");
        w!();
    }
    for st in rep.steps.iter().filter(|s| !s.reasons.is_empty()) {
        let mut groups: Vec<(&String, &f64)> = st.consumer_lag_end_by_group.iter().collect();
        groups.sort_by(|a, b| b.1.total_cmp(a.1));
        let groups: Vec<String> = groups
            .iter()
            .map(|(g, v)| format!("{g} {}", grouped(**v, 0)))
            .collect();
        let groups = if groups.is_empty() {
            String::new()
        } else {
            format!(" (lag by consumer group: {})", groups.join(", "))
        };
        w!(
            "- {}/s {}: {}{groups}",
            st.rate,
            st.verdict,
            st.reasons.join("; ")
        );
    }
    if rep.steps.iter().any(|s| !s.reasons.is_empty()) {
        w!();
    }
    w!("## Past capacity");
    w!();
    w!(
        "Goodput and refusals at each step (refused = `503` with `Retry-After`, answered before the body is read); \
         \"every accepted final\": no order of the step's window still `PENDING` after the drain. Chart: `{}`.",
        rep.chart.as_deref().unwrap_or("not drawn")
    );
    w!();
    w!(
        "| orders/s offered | accepted/s | completed sagas/s | refused | refused p99 ms | accepted p99 ms \
         | every accepted final | verdict |"
    );
    w!("|---|---|---|---|---|---|---|---|");
    for st in &rep.steps {
        w!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            st.rate,
            num(Some(st.accepted_per_s), 1),
            num(st.completed_per_s, 1),
            pct(st.refused_share, 1),
            num(st.post_refused_ms.p99, 1),
            num(st.post_accepted_ms.p99, 1),
            yes(st.all_accepted_final),
            st.verdict
        );
    }
    w!();
    if !rep.overload.is_empty() {
        let audit = if rep.audit.clean {
            "clean".to_owned()
        } else {
            format!(
                "not clean: {} violations",
                rep.audit
                    .violations
                    .map_or("None".into(), |v| v.to_string())
            )
        };
        w!(
            "At multiples of the sustainable rate: completed ≥ {} of it, refusals' p99 ≤ {OVERLOAD_REFUSED_P99_MS:.0} ms, \
             every accepted order final, and `sagactl audit` clean after the run ({audit}):",
            pct(OVERLOAD_COMPLETED_SHARE, 0)
        );
        w!();
        w!("| offered | completed/s (share of sustainable) | refused | refused p99 ms | accepted p99 ms | every accepted final | met |");
        w!("|---|---|---|---|---|---|---|");
        for row in &rep.overload {
            if !row.measured {
                w!(
                    "| {}× = {}/s | not measured | | | | | **missed** |",
                    row.multiple,
                    row.rate
                );
                continue;
            }
            w!(
                "| {}× = {}/s | {} ({}) | {} | {} | {} | {} | {} |",
                row.multiple,
                row.rate,
                num(row.completed_per_s, 1),
                pct(row.completed_share.unwrap_or(0.0), 0),
                pct(row.refused_share.unwrap_or(0.0), 1),
                num(row.refused_p99_ms, 1),
                num(row.accepted_p99_ms, 1),
                yes(row.all_accepted_final == Some(true)),
                if row.met { "met" } else { "**missed**" }
            );
        }
        w!();
    }
    w!("## Result");
    w!();
    let su = &rep.sustainable;
    let note = su
        .note
        .as_ref()
        .map_or(String::new(), |n| format!(" Note: {n}."));
    match su.rate {
        Some(rate) => {
            w!(
                "**Sustainable saga throughput: {} sagas/s** (highest step that kept up; {} completed/s measured).{note}",
                int(rate),
                num(su.completed_per_s, 1)
            );
            if let (Some(bound), Some(ratio), Some(per_saga)) =
                (su.pg_bound, su.pg_ratio, c.transactions_per_saga)
            {
                w!(
                    "Postgres bound = {} tps ÷ {per_saga:.2} transactions/saga = {} sagas/s; sustainable ÷ bound = **{}**.",
                    num(rep.limit("postgres", "tps"), 0),
                    grouped(bound, 0),
                    pct(ratio, 0)
                );
            }
            if let (Some(bound), Some(per_saga)) = (su.kafka_bound, c.kafka_records_per_saga) {
                w!(
                    "Kafka bound = {} records/s ÷ {per_saga:.2} records/saga = {} sagas/s.",
                    num(rep.limit("kafka", "records_per_s"), 0),
                    grouped(bound, 0)
                );
            }
        }
        None => w!("**Sustainable saga throughput: none of the steps kept up.**{note}"),
    }
    if let (Some(peak), Some(rate)) = (su.peak_completed_per_s, su.peak_rate) {
        let share = match (su.peak_pg_ratio, su.pg_bound_any) {
            (Some(ratio), Some(bound)) => format!(
                " = {} of the Postgres bound ({} sagas/s)",
                pct(ratio, 0),
                grouped(bound, 0)
            ),
            _ => String::new(),
        };
        w!(
            "Most sagas completed per second in any step: {} (at {rate} orders/s){share}.",
            grouped(peak, 0)
        );
    }
    w!();
    w!("## Performance targets");
    w!();
    w!("| target | measured | met |");
    w!("|---|---|---|");
    for t in &rep.targets {
        let value = match &t.value {
            Some(v) => format!(
                "{} {}",
                num_json(Some(v), 1),
                t.unit.as_deref().unwrap_or("")
            ),
            None => "–".into(),
        };
        let met = match t.met {
            None => "not measured",
            Some(true) => "met",
            Some(false) => "**missed**",
        };
        w!("| {} | {value} ({}) | {met} |", t.target, t.at);
    }
    w!();
    if let Some(sat) = &rep.saturation {
        w!(
            "At the highest step ({} orders/s): {}.",
            sat.rate,
            sat.details.join("; ")
        );
        if let Some(first) = &sat.first {
            w!("Saturated first: **{first}**.");
        }
        w!();
    }
    out.push_str(
        "How: saga latency = `orders.updated_at − created_at` (final status) for orders created in the measured window, \
         by `percentile_cont`; relay p99 from the `outbox_publish_latency_seconds` bucket deltas, interpolated like \
         `histogram_quantile`; completed/s from `saga_finished_total`; lag = sum of `consumer_lag` (refreshed every \
         5 s); CPU from /proc/<pid>/stat (Postgres and the load generator with all their children).\n",
    );
    out
}

/// CPU per saga by process, each part alone, the most expensive statements
/// and the flame graphs.
fn cost_by_part(rep: &Report) -> String {
    let mut out = String::new();
    macro_rules! w {
        ($($arg:tt)*) => { writeln!(out, $($arg)*).expect("write to a String") };
    }
    let names = STACK_TREES;
    w!("CPU-milliseconds per completed saga during each step (load generator excluded):");
    w!();
    w!("| orders/s | {} | total |", names.join(" | "));
    w!("|---|{}", "---|".repeat(names.len() + 1));
    for st in &rep.steps {
        let per = st.cpu_ms_per_saga();
        if per.is_empty() {
            continue;
        }
        let cells: Vec<String> = names.iter().map(|n| num(per.get(*n).copied(), 3)).collect();
        w!(
            "| {} | {} | **{}** |",
            st.rate,
            cells.join(" | "),
            num(Some(per.values().sum()), 3)
        );
    }
    w!();
    if !rep.components.is_empty() {
        w!("## Each part alone (component benchmarks)");
        w!();
        w!(
            "The POST path with order-service's relay off and the other services stopped; then each relay and each \
             consumer alone on the backlog that left (time and CPU from its first item to its last):"
        );
        w!();
        w!("| part | service | items | seconds | items/s | items/s per core of the service | CPU ms per item: service / postgres / kafka |");
        w!("|---|---|---|---|---|---|---|");
        for c in &rep.components {
            let cpu = |name: &str| num(c.cpu_ms_per_item.get(name).copied(), 3);
            let refused = c
                .refused_share
                .filter(|r| *r > 0.0)
                .map_or(String::new(), |r| format!(" ({} refused)", pct(r, 1)));
            w!(
                "| {} | {} | {} {} | {} | {}{refused} | {} | {} / {} / {} |",
                c.part,
                c.service,
                grouped(c.items, 0),
                c.unit,
                num(Some(c.seconds), 2),
                grouped(c.per_s, 0),
                c.per_service_core_s.map_or("–".into(), |v| grouped(v, 0)),
                cpu(&c.service),
                cpu("postgres"),
                cpu("kafka"),
            );
        }
        w!();
        let saga = super::components::per_saga(&rep.components);
        if !saga.is_empty() {
            let total: f64 = saga.values().sum();
            let cells: Vec<String> = saga
                .iter()
                .map(|(name, ms)| {
                    format!(
                        "{name} {} ms ({} sagas/s per core)",
                        num(Some(*ms), 3),
                        grouped(1000.0 / ms.max(1e-9), 0)
                    )
                })
                .collect();
            w!(
                "Added up per saga (each part × its items per order): **{} ms of CPU** — {}.",
                num(Some(total), 3),
                cells.join(", ")
            );
            w!();
        }
    }
    if !rep.statements.is_empty() {
        w!("## Most expensive statements (pg_stat_statements over the ladder, executor time)");
        w!();
        w!("| database | statement | calls per saga | ms per saga | share |");
        w!("|---|---|---|---|---|");
        for st in &rep.statements {
            let query: String = st.query.chars().take(160).collect();
            w!(
                "| {} | `{}` | {} | {} | {} |",
                st.database,
                query.replace('|', "\\|"),
                num(Some(st.calls_per_saga), 2),
                num(Some(st.ms_per_saga), 3),
                pct(st.share, 1)
            );
        }
        w!();
    }
    if let Some(flames) = &rep.flames {
        w!(
            "## Flame graphs ({} orders/s, {} s, perf cpu-clock)",
            flames.rate,
            flames.secs
        );
        w!();
        if let Some(why) = &flames.skipped {
            w!("None: {why}.");
        }
        for g in &flames.graphs {
            let top: Vec<String> = g
                .top
                .iter()
                .map(|(f, share)| format!("`{f}` {}", pct(*share, 1)))
                .collect();
            w!(
                "- {}: `{}` ({:.0} ms of CPU sampled); most samples in {}",
                g.service,
                g.svg.display(),
                g.sampled_ms,
                top.join(", ")
            );
        }
        w!();
    }
    out
}
