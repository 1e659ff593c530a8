#!/usr/bin/env python3
"""Measurements and the report of `make bench` (driven by scripts/bench.sh).

Subcommands (standard library only):

  put FILE key=text key:=json  merge values into a JSON file; dotted keys nest
  settings FILE --proc N=PID   the machine, and the settings the running
                               processes really have (/proc/PID/environ, cmdline)
  snapshot FILE [--tree N=PID] [--metrics N=URL] [--pg]
                               CPU time of process trees, the services'
                               /metrics, pg_stat_database commits; with a clock
  consumed --metrics N=URL...  prints the records the services have consumed so far
  step DIR                     one ladder step: DIR/{window,k6,sql,drain}.json
                               and DIR/{start,end}.json -> DIR/result.json;
                               prints a progress line on stderr and the verdict
                               (ok | behind | shed | failed) on stdout
  sustainable WORK             prints the sustainable rate of the steps so far
                               (empty when none kept up)
  report WORK OUTDIR           the whole run -> OUTDIR/<stamp>.{json,md} and
                               latest.{json,md}; prints the Markdown; exits 1
                               when the report lacks a limit or a step
                               completed no saga
"""

import argparse
import glob
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request

SERVICES = ["order-service", "billing-service", "notification-service"]
DATABASES = ["orders", "billing", "notifications"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# What counts as keeping up (see docs/performance.md). A step keeps up when
# nothing was refused or dropped, completions kept pace, and the system was
# quiet again soon after; it clearly failed when it fell far behind, and then
# the ladder stops climbing.
KEEP_UP_COMPLETED = 0.98  # completed within the step + grace / accepted
KEEP_UP_OUTBOX_P99_S = 1.0  # every relay's commit -> ack p99
# consumer_lag counts from the consumer's position but is refreshed every 5 s:
# a consumer that is not behind at all may still show up to ~5 s of its
# consumption as lag. Behind = more than this.
KEEP_UP_LAG_SECONDS = 8.0
FAILED_COMPLETED = 0.80
FAILED_ERRORS = 0.05  # refused + dropped over offered

# Past capacity (see docs/performance.md): at these multiples of the
# sustainable rate, goodput holds and the excess is refused fast.
OVERLOAD = {
    "multiples": (2, 4),
    "completed_share": 0.90,  # completed sagas/s over the sustainable rate
    "refused_p99_ms": 50.0,  # the 503 answers' p99
}

TARGETS = {
    "sustainable": 2000.0,  # sagas/s
    "at_rate": 1000,  # orders/s of the latency targets
    "post_p99_ms": 20.0,
    "e2e_p99_ms": 250.0,
    "relay_p99_ms": 50.0,
}


# --- small helpers -----------------------------------------------------------
def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def dump(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def pairs(items):
    out = {}
    for item in items or []:
        name, _, value = item.partition("=")
        out[name] = value
    return out


def num(value, digits=1, unit=""):
    if value is None:
        return "–"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value:,.{digits}f}{unit}"


# --- put -----------------------------------------------------------------------
def cmd_put(args):
    data = load(args.file, {})
    for item in args.values:
        key, _, value = item.partition("=")
        if key.endswith(":"):
            key, value = key[:-1], json.loads(value)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    dump(args.file, data)


# --- settings --------------------------------------------------------------------
# Variables that change how the services behave under load. DATABASE_URL is left
# out (it holds a password), and so are the scripts' *_PORT variables (the
# services do not read them).
SETTING_VARS = re.compile(r"^(DATABASE_(MAX_CONNECTIONS|ACQUIRE_TIMEOUT_MS)|OUTBOX_\w+|CONSUMER_\w+|KAFKA_\w+|INBOX_\w+|"
                          r"CLEANUP_\w+|BILLING_\w+|RUST_LOG|LOG_FORMAT|OTEL_EXPORTER_OTLP_ENDPOINT)$")


def process_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read().split(b"\0")
    except OSError:
        return None
    env = {}
    for item in raw:
        key, sep, value = item.decode(errors="replace").partition("=")
        if sep and SETTING_VARS.match(key) and not key.endswith("_PORT"):
            env[key] = value
    return env


def process_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def machine():
    model, cores = "unknown", os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": cores,
        "ram_gib": mem_gib,
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
    }


def cmd_settings(args):
    data = load(args.file, {})
    data["machine"] = machine()
    procs = pairs(args.proc)
    env = {}
    for name in SERVICES:
        if name in procs:
            env[name] = process_environ(procs[name]) or {}
    data["service_env"] = env
    if "kafka" in procs:
        heap = [a for a in process_cmdline(procs["kafka"]) if re.match(r"^-Xm[sx]", a)]
        data["kafka_heap"] = " ".join(heap) or "JVM default"
    dump(args.file, data)


# --- snapshot --------------------------------------------------------------------
def read_proc_stats():
    """pid -> (ppid, utime + stime + cutime + cstime in ticks) for every process."""
    stats = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                raw = f.read()
        except OSError:
            continue  # exited while we looked
        rest = raw[raw.rindex(")") + 2:].split()
        pid = int(path.split("/")[2])
        stats[pid] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return stats


def tree_ticks(stats, root):
    """CPU of a process and all its live descendants. Children that exited and
    were reaped are in their parent's cutime/cstime, so nothing is lost when
    a Postgres backend ends between two snapshots."""
    children = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    if root not in stats:
        return None
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def machine_ticks():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    total = sum(fields[:8])
    return {"busy": total - fields[3] - fields[4], "total": total}


METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """The few series the report needs from one service's /metrics."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    out = {"outbox_published_total": 0.0, "outbox_latency_buckets": {}, "consumer_lag": 0.0,
           "saga_finished_total": 0.0, "consumed_total": 0.0, "consumer_lag_by_group": {}}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))
        if name == "outbox_published_total":
            out["outbox_published_total"] += value
        elif name == "outbox_publish_latency_seconds_bucket":
            le = labels["le"]
            out["outbox_latency_buckets"][le] = out["outbox_latency_buckets"].get(le, 0.0) + value
        elif name == "consumer_lag":
            out["consumer_lag"] += value
            group = labels.get("group", "?")
            out["consumer_lag_by_group"][group] = out["consumer_lag_by_group"].get(group, 0.0) + value
        elif name == "saga_finished_total":
            out["saga_finished_total"] += value
        elif name == "consumer_records_total" and labels.get("result") != "retried":
            out["consumed_total"] += value
    return out


def pg_commits():
    psql = os.environ.get("PSQL", "psql")
    query = ("SELECT json_object_agg(datname, xact_commit) FROM pg_stat_database "
             "WHERE datname IN ('orders', 'billing', 'notifications')")
    out = subprocess.run([psql, "-X", "-q", "-t", "-A", os.environ["PG_ADMIN_URL"], "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def cmd_snapshot(args):
    snap = {"time": time.time()}
    stats = read_proc_stats()
    snap["cpu_ticks"] = {name: tree_ticks(stats, int(pid)) for name, pid in pairs(args.tree).items() if pid}
    snap["machine_ticks"] = machine_ticks()
    snap["metrics"] = {}
    for name, url in pairs(args.metrics).items():
        try:
            snap["metrics"][name] = scrape(url)
        except OSError as e:
            print(f"warning: could not scrape {url}: {e}", file=sys.stderr)
    if args.pg:
        snap["pg_commits"] = pg_commits()
    dump(args.file, snap)


def cmd_consumed(args):
    print(int(sum(scrape(url)["consumed_total"] for url in pairs(args.metrics).values())))


# --- analysis ---------------------------------------------------------------------
def histogram_quantile(q, before, after):
    """Like PromQL's histogram_quantile over the increase of cumulative buckets
    between two scrapes: linear interpolation inside the bucket that holds the
    rank; the +Inf bucket answers with the highest finite bound."""
    buckets = []
    for le, count in after.items():
        bound = math.inf if le == "+Inf" else float(le)
        buckets.append((bound, count - before.get(le, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            if cumulative == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = bound, cumulative
    return lower


def k6_metric(summary, name, stat, tags=""):
    metric = (summary.get("metrics") or {}).get(name + "{scenario:step" + (f",{tags}" if tags else "") + "}")
    if not metric:
        return None
    values = metric.get("values", metric)  # k6 puts the numbers under "values"
    return values.get(stat)


def analyse_step(step_dir):
    window = load(os.path.join(step_dir, "window.json"), {})
    k6 = load(os.path.join(step_dir, "k6.json"), {})
    sql = load(os.path.join(step_dir, "sql.json"), {})
    drain = load(os.path.join(step_dir, "drain.json"), {})
    start = load(os.path.join(step_dir, "start.json"), {})
    end = load(os.path.join(step_dir, "end.json"), {})
    rate = window.get("rate")
    secs = window.get("duration") or 1
    elapsed = (end.get("time", 0) - start.get("time", 0)) or secs

    requests = k6_metric(k6, "http_reqs", "count") or 0
    accepted_k6 = k6_metric(k6, "orders_accepted", "count") or 0
    rejected = k6_metric(k6, "orders_rejected", "count") or 0
    # Refused with the overload answer (503 + Retry-After): shed, not failed.
    shed = k6_metric(k6, "orders_refused_overloaded", "passes") or 0
    dropped = k6_metric(k6, "dropped_iterations", "count") or 0
    created = sql.get("created") or 0
    in_time = sql.get("in_time") or 0

    # Per service: relay latency quantile and published records over the window.
    relay, published, consumed = {}, 0.0, 0.0
    lag_end, lag_by_group = 0.0, {}
    for name in SERVICES:
        a = (start.get("metrics") or {}).get(name)
        b = (end.get("metrics") or {}).get(name)
        if not a or not b:
            continue
        q = histogram_quantile(0.99, a["outbox_latency_buckets"], b["outbox_latency_buckets"])
        relay[name] = None if q is None else q * 1000
        published += b["outbox_published_total"] - a["outbox_published_total"]
        lag_end += b["consumer_lag"]
        for group, lag in (b.get("consumer_lag_by_group") or {}).items():
            lag_by_group[group] = lag_by_group.get(group, 0.0) + lag
        consumed += b.get("consumed_total", 0.0) - a.get("consumed_total", 0.0)
    consumed_per_s = consumed / elapsed
    lag_seconds = lag_end / consumed_per_s if consumed_per_s else None
    finished = None
    a = (start.get("metrics") or {}).get("order-service")
    b = (end.get("metrics") or {}).get("order-service")
    if a and b:
        finished = b["saga_finished_total"] - a["saga_finished_total"]

    cpu = {}
    for name, ticks in (end.get("cpu_ticks") or {}).items():
        before = (start.get("cpu_ticks") or {}).get(name)
        if ticks is not None and before is not None:
            cpu[name] = 100.0 * (ticks - before) / CLK_TCK / elapsed
    mt_a, mt_b = start.get("machine_ticks"), end.get("machine_ticks")
    machine_busy = None
    if mt_a and mt_b and mt_b["total"] > mt_a["total"]:
        cores = os.cpu_count() or 1
        machine_busy = 100.0 * cores * (mt_b["busy"] - mt_a["busy"]) / (mt_b["total"] - mt_a["total"])
    commits = None
    if start.get("pg_commits") and end.get("pg_commits"):
        commits = sum(end["pg_commits"].get(d, 0) - start["pg_commits"].get(d, 0) for d in DATABASES) / elapsed

    completed_ratio = in_time / created if created else 0.0
    offered = rate * secs
    errors = rejected + dropped
    relay_values = [v for v in relay.values() if v is not None]
    relay_max = max(relay_values) if relay_values else None
    drained = drain.get("drained", False)
    drain_secs = drain.get("seconds")

    reasons = []
    if rejected - shed:
        reasons.append(f"{int(rejected - shed)} refused")
    if dropped:
        reasons.append(f"{int(dropped)} dropped by k6")
    if completed_ratio < KEEP_UP_COMPLETED:
        reasons.append(f"only {completed_ratio:.1%} completed within the step + {window.get('grace')} s")
    if relay_max is not None and relay_max > KEEP_UP_OUTBOX_P99_S * 1000:
        reasons.append(f"relay p99 {relay_max:.0f} ms")
    if lag_end > 50 and (lag_seconds is None or lag_seconds > KEEP_UP_LAG_SECONDS):
        reasons.append(f"consumer lag {lag_end:.0f} at the end"
                       + (f" ({lag_seconds:.1f} s of consumption)" if lag_seconds else ""))
    if not drained:
        reasons.append(f"not drained after {drain_secs} s")
    elif drain_secs is not None and drain_secs > window.get("drained_ok", 10):
        reasons.append(f"drained only after {drain_secs:.0f} s")
    if created == 0:
        reasons.append("no order accepted")

    verdict = "ok" if not reasons else "behind"
    if (not drained or completed_ratio < FAILED_COMPLETED or created == 0
            or (offered and (errors - shed) / offered > FAILED_ERRORS)):
        verdict = "failed"
    elif shed:
        # Past capacity: the excess was refused at once and what was accepted
        # went through; the ladder has found its ceiling.
        verdict = "shed"
        reasons.insert(0, f"{int(shed)} refused as overloaded ({shed / requests:.1%})")

    return {
        "rate": rate,
        "duration_s": secs,
        "warmup_s": window.get("warmup"),
        "window": {"start_ms": window.get("start_ms"), "end_ms": window.get("end_ms")},
        "requests": requests,
        "requests_per_s": requests / secs,
        "accepted": created,
        "accepted_per_s": created / secs,
        "accepted_k6": accepted_k6,
        "post_ms": {"p50": k6_metric(k6, "http_req_duration", "med"),
                    "p95": k6_metric(k6, "http_req_duration", "p(95)"),
                    "p99": k6_metric(k6, "http_req_duration", "p(99)"),
                    "max": k6_metric(k6, "http_req_duration", "max")},
        "rejected": rejected,
        "refused_overloaded": shed,
        "refused_share": shed / requests if requests else 0.0,
        "post_accepted_ms": {"p50": k6_metric(k6, "http_req_duration", "med", "status:202"),
                             "p99": k6_metric(k6, "http_req_duration", "p(99)", "status:202")},
        # k6 reports 0 for a sub-metric without samples: no refusal, no latency.
        "post_refused_ms": {"p50": k6_metric(k6, "http_req_duration", "med", "status:503") if shed else None,
                            "p99": k6_metric(k6, "http_req_duration", "p(99)", "status:503") if shed else None},
        "all_accepted_final": drained and (sql.get("pending") or 0) == 0,
        "dropped_iterations": dropped,
        "errors": errors,
        "e2e_ms": {"p50": sql.get("e2e_p50_ms"), "p95": sql.get("e2e_p95_ms"), "p99": sql.get("e2e_p99_ms"),
                   "max": sql.get("e2e_max_ms")},
        "outcomes": {"paid": sql.get("paid"), "payment_failed": sql.get("payment_failed"),
                     "pending_after_drain": sql.get("pending")},
        "completed": (sql.get("paid") or 0) + (sql.get("payment_failed") or 0),
        "completed_in_time": in_time,
        "completed_ratio": completed_ratio,
        "completed_per_s": None if finished is None else finished / elapsed,
        "relay_p99_ms": relay,
        "kafka_records_per_s": published / elapsed,
        "consumer_lag_end": lag_end,
        "consumer_lag_end_s": lag_seconds,
        "consumer_lag_end_by_group": lag_by_group,
        "consumed_per_s": consumed_per_s,
        "db_commits_per_s": commits,
        "cpu_pct": cpu,
        "cpu_total_pct": sum(cpu.values()),
        "machine_busy_pct": machine_busy,
        "drain_s": drain_secs,
        "drained": drained,
        "verdict": verdict,
        "reasons": reasons,
    }


def cmd_step(args):
    result = analyse_step(args.dir)
    dump(os.path.join(args.dir, "result.json"), result)
    r = result
    line = (f"    {r['rate']}/s: accepted {num(r['accepted_per_s'])}/s, completed {num(r['completed_per_s'])}/s, "
            f"POST p99 {num(r['post_ms']['p99'])} ms, saga p99 {num(r['e2e_ms']['p99'])} ms, "
            f"errors {int(r['errors'])}, drained in {num(r['drain_s'])} s, CPU {num(r['cpu_total_pct'], 0)} % "
            f"-> {r['verdict']}" + (f" ({'; '.join(r['reasons'])})" if r["reasons"] else ""))
    print(line, file=sys.stderr)
    print(r["verdict"])


# --- report ---------------------------------------------------------------------
def cost(run, steps):
    """Transactions and Kafka records per saga over the whole ladder."""
    a, b = run.get("ladder_start") or {}, run.get("ladder_end") or {}
    sagas = run.get("ladder_sagas") or 0
    out = {"sagas": sagas}
    if a.get("pg_commits") and b.get("pg_commits") and sagas:
        delta = sum(b["pg_commits"].get(d, 0) - a["pg_commits"].get(d, 0) for d in DATABASES)
        per_db = {d: (b["pg_commits"].get(d, 0) - a["pg_commits"].get(d, 0)) / sagas for d in DATABASES}
        out["transactions"] = delta
        out["transactions_per_saga"] = delta / sagas
        out["transactions_per_saga_by_db"] = per_db
        idle = run.get("idle") or {}
        if idle.get("commits_per_s") is not None:
            background = idle["commits_per_s"] * (b["time"] - a["time"])
            out["background_transactions"] = background
            out["transactions_per_saga_net"] = max(0.0, delta - background) / sagas
    if a.get("metrics") and b.get("metrics") and sagas:
        records = sum(b["metrics"][s]["outbox_published_total"] - a["metrics"][s]["outbox_published_total"]
                      for s in SERVICES if s in a["metrics"] and s in b["metrics"])
        out["kafka_records"] = records
        out["kafka_records_per_saga"] = records / sagas
    return out


def sustainable(steps):
    best, note = None, None
    for step in steps:
        if step["verdict"] == "ok":
            best = step
        else:
            break
    higher = [s["rate"] for s in steps if s["verdict"] == "ok" and best and s["rate"] > best["rate"]]
    if best is None and any(s["verdict"] == "ok" for s in steps):
        higher = [s["rate"] for s in steps if s["verdict"] == "ok"]
    if higher:
        note = f"step(s) {', '.join(map(str, higher))}/s kept up too, after one that did not (noise?)"
    return best, note


def saturation(step, limits, cost_):
    """What ran out at the given step: CPU shares, and how close Postgres and
    Kafka ran to the limits measured in the same run."""
    cores = os.cpu_count() or 1
    parts = []
    shares = sorted(step["cpu_pct"].items(), key=lambda kv: -kv[1])
    if shares:
        parts.append("CPU " + ", ".join(f"{n} {v:.0f} %" for n, v in shares)
                     + f"; listed total {step['cpu_total_pct']:.0f} % of {cores * 100} %")
    if step.get("machine_busy_pct") is not None:
        other = step["machine_busy_pct"] - step["cpu_total_pct"]
        parts.append(f"machine busy {step['machine_busy_pct']:.0f} % of {cores * 100} % (other processes {other:.0f} %)")
    pg = (limits.get("postgres") or {}).get("tps")
    if pg and step.get("db_commits_per_s") is not None:
        parts.append(f"Postgres {step['db_commits_per_s']:.0f} commits/s = {100 * step['db_commits_per_s'] / pg:.0f} % "
                     f"of the pgbench rate")
    kafka = (limits.get("kafka") or {}).get("records_per_s")
    if kafka and step.get("kafka_records_per_s") is not None:
        parts.append(f"Kafka {step['kafka_records_per_s']:.0f} records/s = "
                     f"{100 * step['kafka_records_per_s'] / kafka:.1f} % of the perf-test rate")
    verdict = None
    if step.get("machine_busy_pct") is not None and step["machine_busy_pct"] >= 0.9 * cores * 100:
        other = step["machine_busy_pct"] - step["cpu_total_pct"]
        if shares and shares[0][1] >= other:
            top = f"{shares[0][0]} ({shares[0][1]:.0f} %)"
        else:
            top = f"processes outside the benchmark ({other:.0f} %): the numbers are not this stack's own"
        verdict = f"CPU: the machine was {step['machine_busy_pct'] / cores:.0f} % busy; the largest share: {top}"
    elif pg and step.get("db_commits_per_s") and step["db_commits_per_s"] >= 0.8 * pg:
        verdict = "Postgres commits: close to the pgbench rate"
    groups = step.get("consumer_lag_end_by_group") or {}
    behind = max(groups.items(), key=lambda kv: kv[1], default=None)
    if behind and behind[1] > 0 and (step.get("consumer_lag_end_s") or 0) > KEEP_UP_LAG_SECONDS:
        parts.append("lag by consumer group " + ", ".join(f"{g} {v:,.0f}" for g, v in
                                                          sorted(groups.items(), key=lambda kv: -kv[1])))
        if verdict is None:
            verdict = (f"the {behind[0]} consumer ({behind[1]:,.0f} records behind) with CPU, Postgres and "
                       f"Kafka below their limits: its per-record work, not a shared resource")
    return parts, verdict


def targets(steps, best, limits, cost_, run):
    at = next((s for s in steps if s["rate"] == TARGETS["at_rate"]), None)
    if at:
        where = f"{TARGETS['at_rate']} orders/s"
    elif TARGETS["at_rate"] in ((run.get("bench") or {}).get("rates") or []):
        where = "not reached: the ladder stopped below it"
    else:
        where = f"no {TARGETS['at_rate']}/s step in BENCH_RATES"
    top = steps[-1] if steps else None
    rows = []

    # A target rate the ladder did not reach because it stopped below it is
    # missed; one that was not on the ladder at all is not measured.
    stopped_below = not at and TARGETS["at_rate"] in ((run.get("bench") or {}).get("rates") or [])

    def row(name, value, unit, limit, less, measured_at):
        if value is None:
            rows.append({"target": name, "value": None, "met": False if stopped_below else None, "at": measured_at})
            return
        met = value < limit if less else value >= limit
        rows.append({"target": name, "value": value, "unit": unit, "met": met, "at": measured_at})

    if best:
        row(f"sustainable ≥ {TARGETS['sustainable']:,.0f} sagas/s", best["rate"], "sagas/s",
            TARGETS["sustainable"], False, "highest step that kept up")
    else:
        rows.append({"target": f"sustainable ≥ {TARGETS['sustainable']:,.0f} sagas/s", "value": None, "met": False,
                     "at": "no step kept up"})
    rate = f"{TARGETS['at_rate']:,} orders/s"
    row(f"POST p99 < {TARGETS['post_p99_ms']:.0f} ms at {rate}", at and at["post_ms"]["p99"], "ms",
        TARGETS["post_p99_ms"], True, where)
    row(f"saga e2e p99 < {TARGETS['e2e_p99_ms']:.0f} ms at {rate}", at and at["e2e_ms"]["p99"], "ms",
        TARGETS["e2e_p99_ms"], True, where)
    relay = None
    if at:
        values = [v for v in at["relay_p99_ms"].values() if v is not None]
        relay = max(values) if values else None
    row(f"relay commit → Kafka p99 < {TARGETS['relay_p99_ms']:.0f} ms at {rate} (slowest service)", relay, "ms",
        TARGETS["relay_p99_ms"], True, where)
    return rows, top


def overload(steps, best, run):
    """The past-capacity checks at each multiple of the sustainable rate."""
    if not best:
        return []
    rows = []
    audit = run.get("audit") or {}
    for multiple in OVERLOAD["multiples"]:
        rate = best["rate"] * multiple
        st = next((x for x in steps if x["rate"] == rate), None)
        row = {"multiple": multiple, "rate": rate, "measured": st is not None}
        if st:
            completed = st.get("completed_per_s") or 0.0
            refused_p99 = st["post_refused_ms"]["p99"]
            row.update({
                "completed_per_s": completed,
                "completed_share": completed / best["rate"],
                "refused_share": st["refused_share"],
                "refused_p99_ms": refused_p99,
                "accepted_p99_ms": st["post_accepted_ms"]["p99"],
                "all_accepted_final": st["all_accepted_final"],
            })
            row["met"] = (completed >= OVERLOAD["completed_share"] * best["rate"]
                          and (refused_p99 is None or refused_p99 <= OVERLOAD["refused_p99_ms"])
                          and st["all_accepted_final"] and audit.get("clean") is True)
        else:
            row["met"] = False
        rows.append(row)
    return rows


def chart_svg(steps, sustainable_rate):
    """Two panels over the offered rate: goodput (offered, accepted/s,
    completed/s) and POST p99 of accepted orders and of refusals (log scale)."""
    steps = sorted(steps, key=lambda st: st["rate"])
    if not steps:
        return None
    width, height, pad = 960, 400, 60
    panel_w = (width - 3 * pad) / 2
    top, bottom = 50, height - 60
    x_max = max(st["rate"] for st in steps) * 1.05
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']

    def panel(x0, title, series, y_max, y_of, y_ticks, y_label):
        def x_of(v):
            return x0 + panel_w * v / x_max
        out.append(f'<text x="{x0 + panel_w / 2}" y="25" text-anchor="middle" font-size="14">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{bottom}" x2="{x0 + panel_w}" y2="{bottom}" stroke="black"/>')
        out.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{bottom}" stroke="black"/>')
        for tick, label in y_ticks:
            y = y_of(tick)
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + panel_w}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        for st in steps:
            x = x_of(st["rate"])
            out.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{st["rate"]}</text>')
        out.append(f'<text x="{x0 + panel_w / 2}" y="{bottom + 36}" text-anchor="middle">offered orders/s</text>')
        out.append(f'<text x="{x0 - 45}" y="{(top + bottom) / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 {x0 - 45} {(top + bottom) / 2})">{y_label}</text>')
        if sustainable_rate:
            x = x_of(sustainable_rate)
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#999" stroke-dasharray="4 4"/>')
            out.append(f'<text x="{x + 4:.1f}" y="{top + 12}" fill="#666">sustainable {sustainable_rate}/s</text>')
        for i, (name, colour, dash, values) in enumerate(series):
            points = [(x_of(r), y_of(v)) for r, v in values if v is not None]
            if points:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                           + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
                for x, y in points:
                    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            ly = top + 14 + 16 * (i + 1)
            out.append(f'<line x1="{x0 + 10}" y1="{ly - 4}" x2="{x0 + 30}" y2="{ly - 4}" stroke="{colour}" '
                       f'stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            out.append(f'<text x="{x0 + 36}" y="{ly}">{name}</text>')

    # Goodput, linear.
    y_max = x_max
    step_tick = max(1, 10 ** int(math.log10(y_max)) // 2)
    ticks = [(v, f"{v:,}") for v in range(0, int(y_max) + 1, int(step_tick))]
    panel(pad, "Goodput", [
        ("offered", "#999", "6 3", [(st["rate"], st["rate"]) for st in steps]),
        ("accepted/s", "#1f77b4", None, [(st["rate"], st["accepted_per_s"]) for st in steps]),
        ("completed sagas/s", "#2ca02c", None, [(st["rate"], st.get("completed_per_s")) for st in steps]),
    ], y_max, lambda v: bottom - (bottom - top) * min(v, y_max) / y_max, ticks, "per second")

    # Latency, log scale from 1 ms to the largest p99 seen.
    values = [v for st in steps for v in (st["post_accepted_ms"]["p99"], st["post_refused_ms"]["p99"]) if v]
    hi = max(values + [10.0])
    lo_log, hi_log = 0.0, math.ceil(math.log10(hi))

    def y_log(v):
        v = max(v, 1.0)
        return bottom - (bottom - top) * (math.log10(v) - lo_log) / (hi_log - lo_log)
    ticks = [(10 ** e, f"{10 ** e:,}") for e in range(int(lo_log), int(hi_log) + 1)]
    panel(2 * pad + panel_w, "POST latency p99", [
        ("accepted (202)", "#1f77b4", None, [(st["rate"], st["post_accepted_ms"]["p99"]) for st in steps]),
        ("refused (503 + Retry-After)", "#d62728", None, [(st["rate"], st["post_refused_ms"]["p99"]) for st in steps]),
    ], hi, y_log, ticks, "milliseconds (log scale)")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(rep):
    m, s, lim, c = rep["machine"], rep["settings"], rep["limits"], rep["cost"]
    out = []
    w = out.append
    # Runs from before the choice of generator recorded only k6's version.
    generator = s.get("load_generator") or f"k6 {s.get('k6_version', '?')}"
    w(f"# make bench — {rep['started_at']}")
    w("")
    w(f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, kernel {m['kernel']}; git {s['git_revision']}; "
      f"cargo profile `{s['cargo_profile']}`; everything co-located (services, Kafka, Postgres, load generator); "
      f"load generator **{generator}**.")
    env = s.get("service_env") or {}
    merged = {}
    for name, vars_ in env.items():
        for k, v in vars_.items():
            merged.setdefault(k, set()).add(v)
    env_text = ", ".join(f"`{k}={'/'.join(sorted(v))}`" for k, v in sorted(merged.items())) or "none (defaults)"
    w(f"Service environment: {env_text}; Kafka heap `{s.get('kafka_heap')}`; "
      f"Postgres {s.get('postgres', {}).get('version', '?')} ({s.get('postgres_settings', '?')}); "
      f"Kafka {s.get('kafka_version', '?')}.")
    w("")
    w("## Limits of this machine (measured in this run)")
    w("")
    pg, kf = lim.get("postgres") or {}, lim.get("kafka") or {}
    w("| limit | rate | latency |")
    w("|---|---|---|")
    w(f"| PostgreSQL: one-row INSERT transactions, {pg.get('clients')} clients, {pg.get('seconds')} s, "
      f"synchronous_commit={pg.get('synchronous_commit')} (pgbench) | {num(pg.get('tps'), 0)} tps | "
      f"avg {num(pg.get('latency_avg_ms'), 2)} ms |")
    w(f"| Kafka: acks=all, {kf.get('partitions')} partitions, {kf.get('record_size')} B records "
      f"({kf.get('record_size_source')}), linger.ms={kf.get('linger_ms')}, {num(kf.get('records'))} records "
      f"(kafka-producer-perf-test, unthrottled) | {num(kf.get('records_per_s'), 0)} records/s, "
      f"{num(kf.get('mb_per_s'), 2)} MB/s | p99 {num(kf.get('p99_ms'), 0)} ms (at saturation: queueing) |")
    w("")
    w("## Cost of one saga (measured over the ladder)")
    w("")
    if c.get("transactions_per_saga") is not None:
        by_db = ", ".join(f"{d} {v:.2f}" for d, v in c["transactions_per_saga_by_db"].items())
        net = ""
        if c.get("transactions_per_saga_net") is not None:
            net = (f"; less the background of idle relay polls and metric scrapes "
                   f"(≈{c['background_transactions']:.0f}): **{c['transactions_per_saga_net']:.2f}**")
        w(f"- Postgres transactions: **{c['transactions_per_saga']:.2f} per saga** "
          f"(Δxact_commit {c['transactions']:,} over {c['sagas']:,} sagas; {by_db}){net}")
    else:
        w("- Postgres transactions: not measured")
    if c.get("kafka_records_per_saga") is not None:
        w(f"- Kafka records: **{c['kafka_records_per_saga']:.2f} per saga** "
          f"(Δoutbox_published_total {c['kafka_records']:,.0f} over {c['sagas']:,} sagas)")
    else:
        w("- Kafka records: not measured")
    w("")
    w(f"## Ladder (open model, constant arrival rate by {generator}; {rep['steps'][0]['warmup_s'] if rep['steps'] else '?'} s "
      f"warm-up per step not measured)")
    w("")
    w("| orders/s | accepted/s | completed/s | POST p50/p95/p99 ms | errors (refused+dropped) | saga p50/p95/p99 ms "
      "| done in step+grace | relay p99 ms (order/billing/notif.) | lag at end (s) | DB commits/s | drain s | verdict |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for st in rep["steps"]:
        relay = "/".join(num(st["relay_p99_ms"].get(n), 1) for n in SERVICES)
        p, e = st["post_ms"], st["e2e_ms"]
        w(f"| {st['rate']} | {num(st['accepted_per_s'])} | {num(st['completed_per_s'])} | "
          f"{num(p['p50'], 2)}/{num(p['p95'], 2)}/{num(p['p99'], 2)} | {int(st['errors'])} "
          f"({int(st['rejected'])}+{int(st['dropped_iterations'])}) | {num(e['p50'], 0)}/{num(e['p95'], 0)}/"
          f"{num(e['p99'], 0)} | {st['completed_ratio']:.1%} | {relay} | {num(st['consumer_lag_end'], 0)} "
          f"({num(st.get('consumer_lag_end_s'), 1)}) | "
          f"{num(st['db_commits_per_s'], 0)} | {num(st['drain_s'], 1)} | {st['verdict']} |")
    w("")
    w("Relay p99 \"–\": the service published nothing in the window. Lag: sum of `consumer_lag` at the end of the "
      "window, and in seconds of the services' consumption; it counts from the committed offset, which auto-commit "
      "moves every 5 s (and the gauge is refreshed every 5 s), so up to ~5 s shows even when no consumer is behind.")
    w("")
    cores = m["cores"] or 1
    names = ["order-service", "billing-service", "notification-service", "kafka", "postgres", "k6"]
    w(f"CPU during each step, % of one core ({cores} cores = {cores * 100} %):")
    w("")
    w("| orders/s | " + " | ".join("load generator" if n == "k6" else n for n in names) + " | listed total | whole machine |")
    w("|---|" + "---|" * (len(names) + 2))
    for st in rep["steps"]:
        w(f"| {st['rate']} | " + " | ".join(num(st["cpu_pct"].get(n), 0) for n in names)
          + f" | {num(st['cpu_total_pct'], 0)} | {num(st['machine_busy_pct'], 0)} |")
    w("")
    if rep.get("stopped_early"):
        w(f"Ladder stopped early: {rep['stopped_early']}")
        w("")
    for st in rep["steps"]:
        if st["reasons"]:
            groups = ", ".join(f"{g} {v:,.0f}" for g, v in sorted(st.get("consumer_lag_end_by_group", {}).items(),
                                                                  key=lambda kv: -kv[1]))
            w(f"- {st['rate']}/s {st['verdict']}: {'; '.join(st['reasons'])}"
              + (f" (lag by consumer group: {groups})" if groups else ""))
    if any(st["reasons"] for st in rep["steps"]):
        w("")
    w("## Past capacity")
    w("")
    w("Goodput and refusals at each step (refused = `503` with `Retry-After`, answered before the body is read); "
      "\"every accepted final\": no order of the step's window still `PENDING` after the drain. "
      f"Chart: `{rep.get('chart') or 'not drawn'}`.")
    w("")
    w("| orders/s offered | accepted/s | completed sagas/s | refused | refused p99 ms | accepted p99 ms "
      "| every accepted final | verdict |")
    w("|---|---|---|---|---|---|---|---|")
    for st in rep["steps"]:
        w(f"| {st['rate']} | {num(st['accepted_per_s'])} | {num(st['completed_per_s'])} | "
          f"{st['refused_share']:.1%} | {num(st['post_refused_ms']['p99'], 1)} | "
          f"{num(st['post_accepted_ms']['p99'], 1)} | {'yes' if st['all_accepted_final'] else '**no**'} | "
          f"{st['verdict']} |")
    w("")
    audit = rep.get("audit") or {}
    if rep.get("overload"):
        w(f"At multiples of the sustainable rate: completed ≥ {OVERLOAD['completed_share']:.0%} of it, refusals' p99 "
          f"≤ {OVERLOAD['refused_p99_ms']:.0f} ms, every accepted order final, and `sagactl audit` clean after the run "
          f"({'clean' if audit.get('clean') else 'not clean: ' + str(audit.get('violations')) + ' violations'}):")
        w("")
        w("| offered | completed/s (share of sustainable) | refused | refused p99 ms | accepted p99 ms "
          "| every accepted final | met |")
        w("|---|---|---|---|---|---|---|")
        for row in rep["overload"]:
            if not row["measured"]:
                w(f"| {row['multiple']}× = {row['rate']}/s | not measured | | | | | **missed** |")
                continue
            w(f"| {row['multiple']}× = {row['rate']}/s | {num(row['completed_per_s'])} "
              f"({row['completed_share']:.0%}) | {row['refused_share']:.1%} | {num(row['refused_p99_ms'], 1)} | "
              f"{num(row['accepted_p99_ms'], 1)} | {'yes' if row['all_accepted_final'] else '**no**'} | "
              f"{'met' if row['met'] else '**missed**'} |")
        w("")
    w("## Result")
    w("")
    su = rep["sustainable"]
    if su.get("rate"):
        w(f"**Sustainable saga throughput: {su['rate']:,} sagas/s** (highest step that kept up; "
          f"{num(su['completed_per_s'])} completed/s measured)." + (f" Note: {su['note']}." if su.get("note") else ""))
        if su.get("pg_bound") is not None:
            w(f"Postgres bound = {num(lim['postgres']['tps'], 0)} tps ÷ {c['transactions_per_saga']:.2f} "
              f"transactions/saga = {su['pg_bound']:,.0f} sagas/s; sustainable ÷ bound = **{su['pg_ratio']:.0%}**.")
        if su.get("kafka_bound") is not None:
            w(f"Kafka bound = {num(lim['kafka']['records_per_s'], 0)} records/s ÷ {c['kafka_records_per_saga']:.2f} "
              f"records/saga = {su['kafka_bound']:,.0f} sagas/s.")
    else:
        w("**Sustainable saga throughput: none of the steps kept up.**" + (f" Note: {su['note']}." if su.get("note") else ""))
    if su.get("peak_completed_per_s"):
        w(f"Most sagas completed per second in any step: {su['peak_completed_per_s']:,.0f} (at {su['peak_rate']} orders/s)"
          + (f" = {su['peak_pg_ratio']:.0%} of the Postgres bound ({su['pg_bound_any']:,.0f} sagas/s)"
             if su.get("peak_pg_ratio") is not None else "") + ".")
    w("")
    w("## Performance targets")
    w("")
    w("| target | measured | met |")
    w("|---|---|---|")
    for t in rep["targets"]:
        value = "–" if t["value"] is None else f"{num(t['value'], 1)} {t.get('unit', '')}"
        met = "not measured" if t["met"] is None else ("met" if t["met"] else "**missed**")
        w(f"| {t['target']} | {value} ({t['at']}) | {met} |")
    w("")
    if rep.get("saturation"):
        sat = rep["saturation"]
        w(f"At the highest step ({sat['rate']} orders/s): " + "; ".join(sat["details"]) + ".")
        if sat.get("first"):
            w(f"Saturated first: **{sat['first']}**.")
        w("")
    w("How: saga latency = `orders.updated_at − created_at` (final status) for orders created in the measured window, "
      "by `percentile_cont`; relay p99 from the `outbox_publish_latency_seconds` bucket deltas, interpolated like "
      "`histogram_quantile`; completed/s from `saga_finished_total`; lag = sum of `consumer_lag` (refreshed every "
      "5 s); CPU from /proc/<pid>/stat (Postgres and the load generator with all their children).")
    return "\n".join(out) + "\n"


def load_steps(work):
    steps = []
    for step_dir in sorted(glob.glob(os.path.join(work, "step-*"))):
        result = load(os.path.join(step_dir, "result.json"))
        if result:
            steps.append(result)
    return steps


def cmd_sustainable(args):
    best, _ = sustainable(load_steps(args.work))
    print(best["rate"] if best else "")


def cmd_report(args):
    run = load(os.path.join(args.work, "run.json"), {})
    for key in ("ladder_start", "ladder_end", "idle_start", "idle_end"):
        run[key] = load(os.path.join(args.work, key.replace("_", "-") + ".json"))
    a, b = run["idle_start"] or {}, run["idle_end"] or {}
    if a.get("pg_commits") and b.get("pg_commits") and b["time"] > a["time"]:
        idle = sum(b["pg_commits"].get(d, 0) - a["pg_commits"].get(d, 0) for d in DATABASES)
        run["idle"] = {"commits_per_s": idle / (b["time"] - a["time"]), "seconds": b["time"] - a["time"]}
    steps = load_steps(args.work)
    audit = load(os.path.join(args.work, "audit.json"))
    run["audit"] = {"exit": (run.get("audit") or {}).get("exit"),
                    "violations": len(audit["violations"]) if audit else None}
    run["audit"]["clean"] = run["audit"]["exit"] == 0 and run["audit"]["violations"] == 0
    limits = run.get("limits") or {}
    cost_ = cost(run, steps)
    best, note = sustainable(steps)
    sus = {"rate": best["rate"] if best else None, "completed_per_s": best["completed_per_s"] if best else None,
           "note": note}
    if best and limits.get("postgres", {}).get("tps") and cost_.get("transactions_per_saga"):
        sus["pg_bound"] = limits["postgres"]["tps"] / cost_["transactions_per_saga"]
        sus["pg_ratio"] = best["rate"] / sus["pg_bound"]
    if best and limits.get("kafka", {}).get("records_per_s") and cost_.get("kafka_records_per_saga"):
        sus["kafka_bound"] = limits["kafka"]["records_per_s"] / cost_["kafka_records_per_saga"]
    peak = max((st for st in steps if st.get("completed_per_s")), key=lambda st: st["completed_per_s"], default=None)
    if peak:
        sus["peak_completed_per_s"], sus["peak_rate"] = peak["completed_per_s"], peak["rate"]
        if limits.get("postgres", {}).get("tps") and cost_.get("transactions_per_saga"):
            sus["pg_bound_any"] = limits["postgres"]["tps"] / cost_["transactions_per_saga"]
            sus["peak_pg_ratio"] = peak["completed_per_s"] / sus["pg_bound_any"]
    target_rows, top = targets(steps, best, limits, cost_, run)
    os.makedirs(args.outdir, exist_ok=True)
    stamp = run.get("stamp") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    svg = chart_svg(steps, best["rate"] if best else None)
    if svg:
        for name in (f"{stamp}.svg", "latest.svg"):
            with open(os.path.join(args.outdir, name), "w") as f:
                f.write(svg)
    report = {
        "started_at": run.get("started_at"),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": run.get("machine") or machine(),
        "settings": {
            "cargo_profile": run.get("cargo_profile"),
            "git_revision": run.get("git_revision"),
            "service_env": run.get("service_env"),
            "kafka_heap": run.get("kafka_heap"),
            "postgres": run.get("postgres") or {},
            "postgres_settings": (run.get("postgres") or {}).get("settings"),
            "k6_version": run.get("k6_version"),
            "load_generator": run.get("load_generator"),
            "kafka_version": run.get("kafka_version"),
            "bench": run.get("bench"),
        },
        "limits": limits,
        "cost": cost_,
        "steps": steps,
        "stopped_early": run.get("stopped_early"),
        "sustainable": sus,
        "targets": target_rows,
        "overload": overload(steps, best, run),
        "audit": run.get("audit"),
        "chart": os.path.join(args.outdir, f"{stamp}.svg") if svg else None,
    }
    if top and any(t["met"] is False for t in target_rows):
        details, first = saturation(top, limits, cost_)
        report["saturation"] = {"rate": top["rate"], "details": details, "first": first}
    md = markdown(report)
    dump(os.path.join(args.outdir, f"{stamp}.json"), report)
    dump(os.path.join(args.outdir, "latest.json"), report)
    for name in (f"{stamp}.md", "latest.md"):
        with open(os.path.join(args.outdir, name), "w") as f:
            f.write(md)
    print(md)
    print(f"report: {os.path.join(args.outdir, stamp)}.{{json,md,svg}} (and latest.{{json,md,svg}})")

    problems = []
    if not (limits.get("postgres") or {}).get("tps"):
        problems.append("the PostgreSQL commit rate (pgbench) is missing")
    if not (limits.get("kafka") or {}).get("records_per_s"):
        problems.append("the Kafka produce rate (kafka-producer-perf-test) is missing")
    if not steps:
        problems.append("no ladder step was measured")
    if (run.get("audit") or {}).get("clean") is not True:
        problems.append("`sagactl audit` was not clean after the ladder")
    for st in steps:
        if not st.get("completed"):
            problems.append(f"none of the {st['rate']}/s step's orders completed, even after the drain")
    if cost_.get("transactions_per_saga") is None or cost_.get("kafka_records_per_saga") is None:
        problems.append("the cost of a saga could not be measured")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("put")
    p.add_argument("file")
    p.add_argument("values", nargs="*")
    p = sub.add_parser("settings")
    p.add_argument("file")
    p.add_argument("--proc", action="append")
    p = sub.add_parser("snapshot")
    p.add_argument("file")
    p.add_argument("--tree", action="append")
    p.add_argument("--metrics", action="append")
    p.add_argument("--pg", action="store_true")
    p = sub.add_parser("consumed")
    p.add_argument("--metrics", action="append")
    p = sub.add_parser("step")
    p.add_argument("dir")
    p = sub.add_parser("sustainable")
    p.add_argument("work")
    p = sub.add_parser("report")
    p.add_argument("work")
    p.add_argument("outdir")
    args = parser.parse_args()
    handler = {"put": cmd_put, "settings": cmd_settings, "snapshot": cmd_snapshot, "consumed": cmd_consumed,
               "step": cmd_step, "sustainable": cmd_sustainable,
               "report": cmd_report}[args.command]
    sys.exit(handler(args) or 0)


if __name__ == "__main__":
    main()
