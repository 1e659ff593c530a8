#!/usr/bin/env bash
# `make bench`: how many sagas/s this machine sustains, and what runs out first.
# One run measures, on the local stack (all co-located):
#   1. the machine's own limits: PostgreSQL's commit rate for a one-row INSERT
#      (pgbench, same cluster, same synchronous_commit as the services) and
#      Kafka's acks=all produce rate for records of our size (measured from the
#      outbox) with kafka-producer-perf-test;
#   2. a ladder of open-model steps (constant arrival rate, by loadgen/ or
#      k6/bench.js, see BENCH_LOAD_GENERATOR): per step POST latency, errors,
#      saga end-to-end latency from the orders table,
#      completions, relay p99 from outbox_publish_latency_seconds, consumer lag,
#      CPU of every process; each step drains before the next;
#   3. past capacity: steps at 2× and 4× the sustainable rate (goodput,
#      refused share, refusals' and accepted answers' p99), then sagactl audit;
#   4. the cost of one saga: Postgres transactions (Δxact_commit) and Kafka
#      records (Δoutbox_published_total) over the ladder, per completed saga;
# and prints one report (also $STATE_DIR/bench/<UTC stamp>.{json,md,svg} and
# latest.{json,md,svg}) with the sustainable throughput and the performance targets.
#
# Environment (all optional):
#   CARGO_PROFILE        build profile of the services (default release here)
#   BENCH_RATES          ladder of orders/s (default "250 500 750 1000 1500 2000 4000")
#   BENCH_STEP_SECS      measured seconds per step (default 30)
#   BENCH_WARMUP_SECS    unmeasured seconds at the step's rate before each step (default 5)
#   BENCH_GRACE_SECS     a saga completed "in time" if final by step end + this (default 2)
#   BENCH_DRAIN_SECS     longest wait for a step to drain (default 120)
#   BENCH_DRAINED_OK_SECS  drained within this counts as keeping up (default 10)
#   BENCH_LOAD_GENERATOR loadgen (default: the workspace's own, built with the
#                        services; a few % of a core even past capacity) | k6
#                        (k6/bench.js; needs most of a core past capacity)
#   BENCH_MAX_VUS        cap on requests in flight (loadgen) or k6 VUs per
#                        phase (default 1000); arrivals beyond it are dropped
#   BENCH_ALL_STEPS=1    climb the whole ladder, even past a step that failed or shed load
#   BENCH_PGBENCH_CLIENTS, BENCH_PGBENCH_SECS   pgbench run (default 8 clients, 10 s)
#   BENCH_KAFKA_RECORDS  records for kafka-producer-perf-test (default 300000)
#   BENCH_QUICK=1        tiny run for CI: rates "50 100", 5 s steps, short limits
# Stack: starts what is not running; services of this checkout running in
# another profile are restarted in the bench profile (and restored after);
# stops at the end only what it started. Exits 0 when the report was produced
# (it says which targets were met); non-zero when the benchmark could not run
# or the report lacks a limit, the saga cost, or a step completed no saga, or
# the audit was not clean.
set -euo pipefail
# Load tests measure the optimised build unless told otherwise.
export CARGO_PROFILE=${CARGO_PROFILE:-release}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=k6.sh
source "$ROOT_DIR/scripts/k6.sh"
LOAD_GENERATOR=${BENCH_LOAD_GENERATOR:-loadgen}
case $LOAD_GENERATOR in
loadgen | k6) ;;
*) die "BENCH_LOAD_GENERATOR must be loadgen or k6, got '$LOAD_GENERATOR'" ;;
esac

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  RATES=${BENCH_RATES:-50 100}
  STEP_SECS=${BENCH_STEP_SECS:-5}
  WARMUP_SECS=${BENCH_WARMUP_SECS:-2}
  DRAIN_SECS=${BENCH_DRAIN_SECS:-30}
  PGBENCH_SECS=${BENCH_PGBENCH_SECS:-3}
  KAFKA_RECORDS=${BENCH_KAFKA_RECORDS:-20000}
else
  RATES=${BENCH_RATES:-250 500 750 1000 1500 2000 4000}
  STEP_SECS=${BENCH_STEP_SECS:-30}
  WARMUP_SECS=${BENCH_WARMUP_SECS:-5}
  DRAIN_SECS=${BENCH_DRAIN_SECS:-120}
  PGBENCH_SECS=${BENCH_PGBENCH_SECS:-10}
  KAFKA_RECORDS=${BENCH_KAFKA_RECORDS:-300000}
fi
GRACE_SECS=${BENCH_GRACE_SECS:-2}
DRAINED_OK_SECS=${BENCH_DRAINED_OK_SECS:-10}
MAX_VUS=${BENCH_MAX_VUS:-1000}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-8}
# librdkafka's default, which the services' producers use.
KAFKA_LINGER_MS=5
# PostgreSQL flushes a backend's statistics at most once a second, and an idle
# backend's only after 10 s: commit counters are read 11 s after the last load.
STATS_SETTLE_MS=11000

read -r -a RATE_LIST <<<"$RATES"
for rate in "${RATE_LIST[@]}"; do
  [[ $rate =~ ^[1-9][0-9]*$ ]] || die "BENCH_RATES must be positive integers, got '$RATES'"
done
[ ${#RATE_LIST[@]} -gt 0 ] || die "BENCH_RATES is empty"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
BENCH_DIR=$STATE_DIR/bench
WORK=$BENCH_DIR/run-$STAMP
mkdir -p "$WORK"
RUN=$WORK/run.json
BIN=$ROOT_DIR/kafka-setup/bin
PG_DATA_DIR=${PG_DATA_DIR:-$STATE_DIR/postgres}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PSQL=$PG_BIN/psql
PGBENCH=$PG_BIN/pgbench
[ -x "$PSQL" ] || PSQL=$(command -v psql) || die "psql not found (Debian: apt-get install postgresql-client)"
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench) || die "pgbench not found (Debian: apt-get install postgresql-contrib)"
export PSQL PG_ADMIN_URL
SCRATCH_DB=bench_scratch
PERF_TOPIC=bench-perf
T0=$SECONDS

now_ms() { date +%s%3N; }
elapsed() { printf '%dm%02ds' $(((SECONDS - T0) / 60)) $(((SECONDS - T0) % 60)); }
helper() { python3 "$ROOT_DIR/scripts/bench_report.py" "$@"; }
put() { helper put "$RUN" "$@"; }

sleep_until_ms() {
  local wait=$(($1 - $(now_ms)))
  ((wait > 0)) && sleep "$((wait / 1000)).$(printf '%03d' $((wait % 1000)))"
  return 0
}

sql() { # database query: as the service's own role
  "$PSQL" -X -q -t -A -v ON_ERROR_STOP=1 "postgres://$1:$1@127.0.0.1:$PG_PORT/$1" -c "$2"
}

# The superuser URL with another database in it.
admin_url() { local base=${PG_ADMIN_URL%%\?*}; echo "${base%/*}/$1"; }
admin_sql() { # database query
  PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -t -A -v ON_ERROR_STOP=1 "$(admin_url "$1")" -c "$2"
}


# --- the stack: start what is missing, stop at the end only that --------------
started_infra=0 started_services=0 restore_profile="" LOAD_PID=""
cleanup() {
  local rc=$?
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  admin_sql postgres "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [ $started_services = 1 ]; then
    say "stopping the services this benchmark started"
    "$ROOT_DIR/scripts/stack.sh" down services >/dev/null || true
  fi
  if [ -n "$restore_profile" ]; then
    say "restarting the services in their previous profile ($restore_profile)"
    CARGO_PROFILE=$restore_profile "$ROOT_DIR/scripts/stack.sh" up services >/dev/null || warn "could not restore the $restore_profile services"
  fi
  if [ $started_infra = 1 ]; then
    say "stopping Kafka and PostgreSQL (started by this benchmark)"
    "$ROOT_DIR/scripts/stack.sh" down infra >/dev/null || true
  fi
  exit $rc
}
trap cleanup EXIT

prepare_stack() {
  local name dir other="" all=1
  "$ROOT_DIR/scripts/postgres.sh" status >/dev/null 2>&1 && "$ROOT_DIR/kafka-setup/kafka.sh" status >/dev/null 2>&1 || started_infra=1
  for name in $SERVICES; do
    if dir=$(running_profile_dir "$name"); then
      [ "$dir" = "$(profile_dir "$CARGO_PROFILE")" ] || other=$(dir_profile "$dir")
    else
      all=0
    fi
  done
  if [ -n "$other" ]; then
    say "the services run in the $other profile; restarting them in $CARGO_PROFILE for the benchmark (restored at the end)"
    CARGO_PROFILE=$other "$ROOT_DIR/scripts/stack.sh" down services
    restore_profile=$other
    started_services=1
  elif [ $all = 0 ]; then
    started_services=1
  fi
  "$ROOT_DIR/scripts/stack.sh" up
}

# --- the load generator ------------------------------------------------------------
# Starts one run of the load generator in the background (warm-up, measured
# window, cool-down at one constant rate) and waits for its start line; sets
# LOAD_PID and LOAD_START_MS (when its schedule began). Either generator writes
# a k6-shaped summary, named k6.json because bench_report.py reads that name.
start_load() { # rate duration warmup cooldown summary log
  local deadline=$((SECONDS + 60)) line log=$6 url
  url=http://127.0.0.1:$(service_port order-service)
  if [ "$LOAD_GENERATOR" = k6 ]; then
    RATE=$1 DURATION=$2 WARMUP=$3 COOLDOWN=$4 MAX_VUS=$MAX_VUS BENCH_SUMMARY=$5 \
      ORDER_SERVICE_URL=$url K6_NO_USAGE_REPORT=true \
      "$LOAD_BIN" run --quiet --no-color "$ROOT_DIR/k6/bench.js" >"$log" 2>&1 &
  else
    "$LOAD_BIN" --url "$url" --rate "$1" --duration "$2" --warmup "$3" --cooldown "$4" \
      --max-in-flight "$MAX_VUS" --summary "$5" >"$log" 2>&1 &
  fi
  LOAD_PID=$!
  until line=$(grep -o 'bench-start [0-9]*' "$log" 2>/dev/null); do
    kill -0 "$LOAD_PID" 2>/dev/null || { tail -20 "$log" >&2; die "$LOAD_GENERATOR exited before its load started; log: $log"; }
    ((SECONDS < deadline)) || die "$LOAD_GENERATOR did not start within 60 s; log: $log"
    sleep 0.1
  done
  LOAD_START_MS=${line#bench-start }
}

wait_load() { # log
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  [ $rc = 0 ] || { tail -20 "$1" >&2; die "$LOAD_GENERATOR exited with status $rc; log: $1"; }
}

# Drained: every order placed since the benchmark began is final, no outbox
# row waits, and the consumers have stopped: their consumer_records_total
# stood still for half a second (notification-service, for one, still works
# off its backlog after the orders are final). Prints the seconds until then;
# fails after $1 seconds.
SINCE_MS=$(now_ms)
wait_drained() { # timeout_s
  local t0 db busy consumed last="" quiet_ms=0
  t0=$(now_ms)
  while :; do
    busy=$(sql orders "SELECT count(*) FROM orders WHERE status = 'PENDING' AND created_at >= to_timestamp($SINCE_MS / 1000.0)")
    for db in orders billing notifications; do
      [ "$busy" = 0 ] || break
      busy=$(sql $db "SELECT count(*) FROM outbox WHERE published_at IS NULL AND created_at >= to_timestamp($SINCE_MS / 1000.0)")
    done
    if [ "$busy" = 0 ]; then
      consumed=$(helper consumed "${METRICS[@]}")
      if [ "$consumed" = "$last" ]; then
        echo "$(((quiet_ms - t0) / 1000)).$(printf '%03d' $(((quiet_ms - t0) % 1000)))"
        return 0
      fi
      last=$consumed quiet_ms=$(now_ms)
    else
      last=""
    fi
    if (($(now_ms) - t0 > $1 * 1000)); then
      echo "$1"
      return 1
    fi
    if [ -n "$last" ]; then sleep 0.5; else sleep 0.25; fi
  done
}

# Process trees whose CPU the report shows, and the services' metrics.
TREES=() METRICS=()
collect_targets() {
  local name pid
  TREES=() METRICS=()
  for name in $SERVICES; do
    pid=$(pid_of "$name" "$(cargo_bin "$name")") || die "$name is not running"
    TREES+=(--tree "$name=$pid")
    METRICS+=(--metrics "$name=http://127.0.0.1:$(service_port "$name")/metrics")
  done
  pid=$(pid_of kafka kafka.Kafka) || die "Kafka is not running"
  TREES+=(--tree "kafka=$pid")
  pid=$(head -1 "$PG_DATA_DIR/postmaster.pid" 2>/dev/null) || die "no postmaster.pid in $PG_DATA_DIR"
  TREES+=(--tree "postgres=$pid")
}

snapshot() { # file [extra args]
  local file=$1
  shift
  helper snapshot "$file" "${TREES[@]}" "${METRICS[@]}" --pg "$@"
}

# --- 0. stack, settings ------------------------------------------------------------
say "bench: ladder ${RATE_LIST[*]} orders/s, ${STEP_SECS}s per step (+${WARMUP_SECS}s warm-up), profile $CARGO_PROFILE, work dir $WORK"
if [ "$LOAD_GENERATOR" = k6 ]; then
  LOAD_BIN=$(k6_binary)
fi
prepare_stack
if [ "$LOAD_GENERATOR" = loadgen ]; then
  # Built with the services by stack.sh (cargo build --bins).
  LOAD_BIN=$(cargo_bin loadgen)
  [ -x "$LOAD_BIN" ] || die "$LOAD_BIN is missing: cargo build --profile $CARGO_PROFILE -p loadgen"
fi
collect_targets

# The generator's version alone ("v1.1.0" for k6, "0.1.0" for loadgen).
load_generator_version() {
  if [ "$LOAD_GENERATOR" = k6 ]; then
    "$LOAD_BIN" version | head -1 | cut -d' ' -f2
  else
    "$LOAD_BIN" --version | cut -d' ' -f2
  fi
}
put started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)" stamp="$STAMP" cargo_profile="$CARGO_PROFILE" \
  git_revision="$(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT_DIR" diff --quiet HEAD 2>/dev/null || echo -dirty)" \
  load_generator="$LOAD_GENERATOR $(load_generator_version)" \
  kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT_DIR/kafka-setup/pom.xml")" \
  bench.rates:="[$(IFS=,; echo "${RATE_LIST[*]}")]" bench.step_secs:="$STEP_SECS" bench.warmup_secs:="$WARMUP_SECS" \
  bench.grace_secs:="$GRACE_SECS" bench.drain_secs:="$DRAIN_SECS" bench.quick="${BENCH_QUICK:-0}" bench.max_vus:="$MAX_VUS" \
  bench.all_steps="${BENCH_ALL_STEPS:-0}"
procs=()
for name in $SERVICES; do procs+=(--proc "$name=$(pid_of "$name" "$(cargo_bin "$name")")"); done
helper settings "$RUN" "${procs[@]}" --proc "kafka=$(pid_of kafka kafka.Kafka)"
# The durability the services get: what their own role sees (role or database
# settings would show here), used again for pgbench.
SYNC_COMMIT=$(sql orders "SHOW synchronous_commit")
put postgres.version="$(admin_sql postgres "SHOW server_version")" \
  postgres.settings="$(admin_sql postgres "SELECT string_agg(name || '=' || setting || COALESCE(unit, ''), ', ' ORDER BY name)
     FROM pg_settings WHERE name IN ('fsync', 'wal_sync_method', 'shared_buffers', 'max_connections', 'commit_delay', 'full_page_writes')"), synchronous_commit=$SYNC_COMMIT"

# Bytes in the log segments of the saga's three topics on the local broker.
topic_log_bytes() {
  local t f total=0
  for t in order-created payment-requests notification-events; do
    for f in "$STATE_DIR/kafka/data/${KAFKA_TOPIC_PREFIX:-}$t"-[0-9]*/*.log; do
      [ -f "$f" ] && total=$((total + $(stat -c %s "$f")))
    done
  done
  echo "$total"
}

# Records the three relays have published (outbox_published_total).
published_records() {
  local name total=0 n
  for name in $SERVICES; do
    n=$(curl -fsS "http://127.0.0.1:$(service_port "$name")/metrics" |
      awk '$1 ~ /^outbox_published_total/ { s += $2 } END { printf "%d", s }')
    total=$((total + n))
  done
  echo "$total"
}

# --- 1. warm-up: primes connections and caches, and gives us real records -----
say "warm-up: ${RATE_LIST[0]} orders/s for ${WARMUP_SECS}s ($(elapsed))"
published_before=$(published_records) log_bytes_before=$(topic_log_bytes)
start_load "${RATE_LIST[0]}" "$((WARMUP_SECS > 0 ? WARMUP_SECS : 1))" 0 0 "$WORK/warmup-k6.json" "$WORK/warmup-load.log"
wait_load "$WORK/warmup-load.log"
wait_drained "$DRAIN_SECS" >/dev/null || warn "the warm-up did not drain within ${DRAIN_SECS}s"
LAST_LOAD_MS=$(now_ms)

# The size of our records as Kafka stores them (key + value + headers, with
# their share of batch overhead): bytes the warm-up added to the saga's topic
# logs ÷ records the relays published meanwhile. Measured on the broker: the
# relays delete published outbox rows, so the database no longer has them.
record_count=$(($(published_records) - published_before))
record_bytes=$(($(topic_log_bytes) - log_bytes_before))
[ "$record_bytes" -gt 0 ] || record_count=0
if [ "$record_count" -gt 0 ]; then
  RECORD_SIZE=$(((record_bytes + record_count / 2) / record_count))
  record_source="measured: Kafka log bytes per record over $record_count warm-up records"
else
  RECORD_SIZE=500
  record_source="assumed: the broker's log directory is not local, or the warm-up published nothing"
  warn "cannot measure the record size; assuming $RECORD_SIZE-byte records"
fi

# --- 2. limits: Kafka, then Postgres -------------------------------------------
PARTITIONS=$(awk '$1 == "order-created" { print $2 }' "$ROOT_DIR/kafka-setup/topics.conf")
say "limit: Kafka acks=all, $KAFKA_RECORDS records of $RECORD_SIZE B to $PARTITIONS partitions ($(elapsed))"
"$BIN/kafka-topics" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --create --if-not-exists --topic "$PERF_TOPIC" \
  --partitions "$PARTITIONS" --replication-factor 1 >"$WORK/kafka-topic.out" 2>&1 ||
  { cat "$WORK/kafka-topic.out" >&2; die "could not create the scratch topic $PERF_TOPIC"; }
"$BIN/kafka-producer-perf-test" --topic "$PERF_TOPIC" --num-records "$KAFKA_RECORDS" --record-size "$RECORD_SIZE" \
  --throughput -1 --producer-props bootstrap.servers="$KAFKA_BOOTSTRAP_SERVERS" acks=all linger.ms=$KAFKA_LINGER_MS \
  enable.idempotence=true >"$WORK/kafka-perf.out" 2>&1 || warn "kafka-producer-perf-test failed; see $WORK/kafka-perf.out"
"$BIN/kafka-topics" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --delete --topic "$PERF_TOPIC" >/dev/null 2>&1 ||
  warn "could not delete the scratch topic $PERF_TOPIC"
# "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, a ms 50th, b ms 95th, c ms 99th, d ms 99.9th."
perf=$(grep -E '^[0-9]+ records sent, ' "$WORK/kafka-perf.out" | tail -1 |
  sed -E 's/^([0-9]+) records sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, ([0-9]+) ms 50th, ([0-9]+) ms 95th, ([0-9]+) ms 99th.*/\1 \2 \3 \4 \6 \8/')
if [ -n "$perf" ]; then
  read -r k_n k_rate k_mb k_avg k_p50 k_p99 <<<"$perf"
  put limits.kafka.records:="$k_n" limits.kafka.records_per_s:="$k_rate" limits.kafka.mb_per_s:="$k_mb" \
    limits.kafka.latency_avg_ms:="$k_avg" limits.kafka.p50_ms:="$k_p50" limits.kafka.p99_ms:="$k_p99"
  say "  Kafka: $k_rate records/s ($k_mb MB/s), p99 $k_p99 ms"
else
  warn "no result line in $WORK/kafka-perf.out"
fi
put limits.kafka.record_size:="$RECORD_SIZE" limits.kafka.record_size_source="$record_source" \
  limits.kafka.partitions:="$PARTITIONS" limits.kafka.linger_ms:="$KAFKA_LINGER_MS" limits.kafka.acks=all

# Commits of the three databases while nothing but the services' background
# work (relay polls, cleanup) runs: subtracted from the saga's cost. pgbench
# writes to its own database, so its commits are not among them.
sleep_until_ms $((LAST_LOAD_MS + STATS_SETTLE_MS))
snapshot "$WORK/idle-start.json"
say "limit: PostgreSQL one-row INSERT commits, $PGBENCH_CLIENTS clients, ${PGBENCH_SECS}s, synchronous_commit=$SYNC_COMMIT ($(elapsed))"
admin_sql postgres "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" >/dev/null
admin_sql postgres "CREATE DATABASE $SCRATCH_DB" >/dev/null
admin_sql "$SCRATCH_DB" "CREATE TABLE bench_commit (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())" >/dev/null
echo "INSERT INTO bench_commit (payload) VALUES (repeat('x', 200));" >"$WORK/pgbench.sql"
PGOPTIONS="-c synchronous_commit=$SYNC_COMMIT" "$PGBENCH" -n -M prepared -c "$PGBENCH_CLIENTS" -j 2 -T "$PGBENCH_SECS" \
  -f "$WORK/pgbench.sql" "$(admin_url "$SCRATCH_DB")" >"$WORK/pgbench.out" 2>&1 || warn "pgbench failed; see $WORK/pgbench.out"
admin_sql postgres "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" >/dev/null
pg_tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$WORK/pgbench.out")
pg_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$WORK/pgbench.out")
if [ -n "$pg_tps" ]; then
  put limits.postgres.tps:="$pg_tps" limits.postgres.latency_avg_ms:="${pg_lat:-null}"
  say "  PostgreSQL: $pg_tps tps, average latency ${pg_lat:-?} ms"
else
  warn "no tps line in $WORK/pgbench.out"
fi
put limits.postgres.clients:="$PGBENCH_CLIENTS" limits.postgres.seconds:="$PGBENCH_SECS" \
  limits.postgres.synchronous_commit="$SYNC_COMMIT"
snapshot "$WORK/idle-end.json"

# --- 3. the ladder ---------------------------------------------------------------
cp "$WORK/idle-end.json" "$WORK/ladder-start.json"
LADDER_FROM_MS=$(now_ms)
# One measured step; sets VERDICT (ok | behind | shed | failed).
step=0
run_step() { # rate
  local rate=$1 dir from_ms to_ms drained drain_s
  step=$((step + 1))
  dir=$WORK/step-$(printf '%02d' $step)-$rate
  mkdir -p "$dir"
  say "step $step: $rate orders/s for ${STEP_SECS}s (+${WARMUP_SECS}s warm-up), elapsed $(elapsed)"
  # 2 s of load after the window keep the generator (and the load) alive for
  # the end snapshot. Its CPU shows in the report's k6 column, whichever it is.
  start_load "$rate" "$STEP_SECS" "$WARMUP_SECS" 2 "$dir/k6.json" "$dir/load.log"
  TREES_LOAD=(--tree "k6=$LOAD_PID")
  from_ms=$((LOAD_START_MS + WARMUP_SECS * 1000))
  to_ms=$((from_ms + STEP_SECS * 1000))
  sleep_until_ms "$from_ms"
  snapshot "$dir/start.json" "${TREES_LOAD[@]}"
  sleep_until_ms "$to_ms"
  snapshot "$dir/end.json" "${TREES_LOAD[@]}"
  wait_load "$dir/load.log"
  drained=true
  drain_s=$(wait_drained "$DRAIN_SECS") || drained=false
  LAST_LOAD_MS=$(now_ms)
  helper put "$dir/drain.json" drained:=$drained seconds:="$drain_s"
  helper put "$dir/window.json" rate:="$rate" duration:="$STEP_SECS" warmup:="$WARMUP_SECS" start_ms:="$from_ms" \
    end_ms:="$to_ms" grace:="$GRACE_SECS" drained_ok:="$DRAINED_OK_SECS"
  # Saga latency from the services' own timestamps, for the orders created in
  # the measured window; after the drain, so slow sagas are not left out.
  sql orders "SELECT json_build_object(
      'created', count(*),
      'paid', count(*) FILTER (WHERE status = 'PAID'),
      'payment_failed', count(*) FILTER (WHERE status = 'PAYMENT_FAILED'),
      'pending', count(*) FILTER (WHERE status = 'PENDING'),
      'in_time', count(*) FILTER (WHERE status <> 'PENDING' AND updated_at <= to_timestamp(($to_ms + $GRACE_SECS * 1000) / 1000.0)),
      'e2e_p50_ms', percentile_cont(0.50) WITHIN GROUP (ORDER BY e2e) FILTER (WHERE status <> 'PENDING'),
      'e2e_p95_ms', percentile_cont(0.95) WITHIN GROUP (ORDER BY e2e) FILTER (WHERE status <> 'PENDING'),
      'e2e_p99_ms', percentile_cont(0.99) WITHIN GROUP (ORDER BY e2e) FILTER (WHERE status <> 'PENDING'),
      'e2e_max_ms', max(e2e) FILTER (WHERE status <> 'PENDING'))
    FROM (SELECT status, updated_at, (1000 * extract(epoch FROM updated_at - created_at))::float8 AS e2e
            FROM orders
           WHERE created_at >= to_timestamp($from_ms / 1000.0) AND created_at < to_timestamp($to_ms / 1000.0)) o" \
    >"$dir/sql.json"
  VERDICT=$(helper step "$dir")
}

# The ladder climbs until a step clearly fails or has to shed load (unless
# BENCH_ALL_STEPS=1); then come the steps past capacity, at 2× and 4× the
# sustainable rate, where goodput must hold and the excess be refused fast.
MEASURED=" "
for index in "${!RATE_LIST[@]}"; do
  rate=${RATE_LIST[$index]}
  run_step "$rate"
  verdict=$VERDICT
  MEASURED+="$rate "
  if [[ $verdict =~ ^(failed|shed)$ ]] && [ "$index" -lt $((${#RATE_LIST[@]} - 1)) ] && [ "${BENCH_ALL_STEPS:-0}" != 1 ]; then
    skipped="${RATE_LIST[*]:$((index + 1))}"
    put stopped_early="after the $rate/s step ($verdict); not run: ${skipped// //s, }/s"
    say "the $rate/s step: $verdict; the ladder stops climbing (skipping ${skipped// //s, }/s)"
    break
  fi
done
SUSTAINABLE=$(helper sustainable "$WORK")
if [ -n "$SUSTAINABLE" ]; then
  for multiple in 2 4; do
    rate=$((SUSTAINABLE * multiple))
    [[ $MEASURED == *" $rate "* ]] && continue
    say "past capacity: $multiple × the sustainable $SUSTAINABLE/s"
    run_step "$rate"
    MEASURED+="$rate "
  done
else
  warn "no step kept up: no sustainable rate, so no step past capacity"
fi

# Every saga of the ladder, and the counters after them (statistics settled).
sleep_until_ms $((LAST_LOAD_MS + STATS_SETTLE_MS))
helper snapshot "$WORK/ladder-end.json" "${METRICS[@]}" --pg
put ladder_sagas:="$(sql orders "SELECT count(*) FROM orders WHERE status <> 'PENDING'
  AND created_at >= to_timestamp($LADDER_FROM_MS / 1000.0)")"

# Every money rule holds after all of it.
say "sagactl audit ($(elapsed))"
audit_rc=0
sagactl audit --json >"$WORK/audit.json" 2>"$WORK/audit.err" || audit_rc=$?
put audit.exit:="$audit_rc"

say "report ($(elapsed))"
helper report "$WORK" "$BENCH_DIR" || die "the benchmark ran but its report is incomplete (see above); raw data in $WORK"
