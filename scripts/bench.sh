#!/usr/bin/env bash
# `make bench`: how many sagas/s this machine sustains, what each part costs, and
# what runs out first (what is measured, the BENCH_* variables, the exit status:
# docs/performance.md). This script starts and stops processes; `sagactl bench`
# measures, judges and writes the report in $STATE_DIR/bench/. Starts what is not
# running (services of another profile are restarted in this one and restored
# after); stops at the end only what it started.
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

# Each default: the tiny run's (BENCH_QUICK=1), else the full run's.
quick_or() { if [ "${BENCH_QUICK:-0}" = 1 ]; then echo "$1"; else echo "$2"; fi; }
RATES=${BENCH_RATES:-$(quick_or "50 100" "250 500 750 1000 1500 2000 4000")}
STEP_SECS=${BENCH_STEP_SECS:-$(quick_or 5 30)}
WARMUP_SECS=${BENCH_WARMUP_SECS:-$(quick_or 2 5)}
DRAIN_SECS=${BENCH_DRAIN_SECS:-$(quick_or 30 120)}
PGBENCH_SECS=${BENCH_PGBENCH_SECS:-$(quick_or 3 10)}
KAFKA_RECORDS=${BENCH_KAFKA_RECORDS:-$(quick_or 20000 300000)}
COMPONENT_RATE=${BENCH_COMPONENT_RATE:-$(quick_or 200 1000)} COMPONENT_SECS=${BENCH_COMPONENT_SECS:-$(quick_or 3 20)}
FLAME_RATE=${BENCH_FLAME_RATE:-$(quick_or 100 500)} FLAME_SECS=${BENCH_FLAME_SECS:-$(quick_or 3 10)}
GRACE_SECS=${BENCH_GRACE_SECS:-2}
DRAINED_OK_SECS=${BENCH_DRAINED_OK_SECS:-10}
MAX_VUS=${BENCH_MAX_VUS:-1000}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-8}
# librdkafka's default, for the broker's limit with full batches (the services' relays linger 1 ms).
KAFKA_LINGER_MS=5
# PostgreSQL flushes a backend's statistics at most once a second, and an idle
# backend's only after 10 s: commit counters are read 11 s after the last load.
STATS_SETTLE_MS=11000

[[ " $RATES " =~ ^(\ +[1-9][0-9]*)+\ +$ ]] || die "BENCH_RATES must be one or more positive integers, got '$RATES'"
read -r -a RATE_LIST <<<"$RATES"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
BENCH_DIR=$STATE_DIR/bench
WORK=$BENCH_DIR/run-$STAMP
mkdir -p "$WORK"
RUN=$WORK/run.json
BIN=$ROOT_DIR/kafka-setup/bin
PG_DATA_DIR=${PG_DATA_DIR:-$STATE_DIR/postgres}
PGBENCH=$(pg_program pgbench) || die "pgbench not found (Debian: apt-get install postgresql-contrib)"
PERF_TOPIC=bench-perf
T0=$SECONDS

now_ms() { date +%s%3N; }
elapsed() { printf '%dm%02ds' $(((SECONDS - T0) / 60)) $(((SECONDS - T0) % 60)); }
bench() { sagactl bench "$@"; }
put() { bench put "$RUN" "$@"; }

sleep_until_ms() {
  local wait=$(($1 - $(now_ms)))
  ((wait > 0)) && sleep "$((wait / 1000)).$(printf '%03d' $((wait % 1000)))"
  return 0
}

# --- the stack: start what is missing, stop at the end only that --------------
started_infra=0 started_services=0 restore_profile="" LOAD_PID=""
cleanup() {
  local rc=$?
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  { bench scratch drop && bench statements stop; } >/dev/null 2>&1 || true
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
# a k6-shaped summary, named k6.json because `sagactl bench step` reads that name.
start_load() { # rate duration warmup cooldown summary log
  local deadline=$((SECONDS + 60)) line log=$6 url
  url=$(service_url order-service)
  if [ "$LOAD_GENERATOR" = k6 ]; then
    RATE=$1 DURATION=$2 WARMUP=$3 COOLDOWN=$4 MAX_VUS=$MAX_VUS BENCH_SUMMARY=$5 \
      ORDER_SERVICE_URL=$url K6_NO_USAGE_REPORT=true \
      "$LOAD_BIN" run --quiet --no-color "$ROOT_DIR/k6/bench.js" >"$log" 2>&1 &
  else
    "$LOAD_BIN" orders --url "$url" --rate "$1" --duration "$2" --warmup "$3" --cooldown "$4" \
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

# Process trees whose CPU the report shows, and the services' metrics.
TREES=() METRICS=()
collect_targets() {
  local name pid
  mapfile -t METRICS < <(metrics_args)
  for name in $SERVICES; do
    pid=$(pid_of "$name" "$(cargo_bin "$name")") || die "$name is not running"
    TREES+=(--tree "$name=$pid")
  done
  pid=$(pid_of kafka kafka.Kafka) || die "Kafka is not running"
  TREES+=(--tree "kafka=$pid")
  pid=$(head -1 "$PG_DATA_DIR/postmaster.pid" 2>/dev/null) || die "no postmaster.pid in $PG_DATA_DIR"
  TREES+=(--tree "postgres=$pid")
}

snapshot() { # file [extra args]
  local file=$1
  shift
  bench snapshot "$file" "${TREES[@]}" "${METRICS[@]}" --pg "$@"
}

# --- 0. stack, settings ------------------------------------------------------------
say "bench: ladder ${RATE_LIST[*]} orders/s, ${STEP_SECS}s per step (+${WARMUP_SECS}s warm-up), profile $CARGO_PROFILE, work dir $WORK"
if [ "$LOAD_GENERATOR" = k6 ]; then
  LOAD_BIN=$(k6_binary)
  LOAD_VERSION=$("$LOAD_BIN" version | head -1 | cut -d' ' -f2)
fi
prepare_stack
if [ "$LOAD_GENERATOR" = loadgen ]; then
  # Built with the services by stack.sh (cargo build --bins).
  LOAD_BIN=$(cargo_bin loadgen)
  [ -x "$LOAD_BIN" ] || die "$LOAD_BIN is missing: cargo build --profile $CARGO_PROFILE -p loadgen"
  LOAD_VERSION=$("$LOAD_BIN" --version | cut -d' ' -f2)
fi
collect_targets
SINCE_MS=$(now_ms)

put started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)" stamp="$STAMP" cargo_profile="$CARGO_PROFILE" \
  git_revision="$(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT_DIR" diff --quiet HEAD 2>/dev/null || echo -dirty)" \
  load_generator="$LOAD_GENERATOR $LOAD_VERSION" \
  kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT_DIR/kafka-setup/pom.xml")" \
  bench.rates:="[$(IFS=,; echo "${RATE_LIST[*]}")]" bench.step_secs:="$STEP_SECS" bench.warmup_secs:="$WARMUP_SECS" \
  bench.grace_secs:="$GRACE_SECS" bench.drain_secs:="$DRAIN_SECS" bench.quick="${BENCH_QUICK:-0}" bench.max_vus:="$MAX_VUS" \
  bench.all_steps="${BENCH_ALL_STEPS:-0}"
# The durability the services' roles get, used again for pgbench.
SYNC_COMMIT=$(bench settings "$RUN" "${TREES[@]/--tree/--proc}")

# --- 1. warm-up: primes connections and caches, and gives us real records -----
say "warm-up: ${RATE_LIST[0]} orders/s for ${WARMUP_SECS}s ($(elapsed))"
KAFKA_LOGS=(--kafka-logs "$STATE_DIR/kafka/data")
bench snapshot "$WORK/warmup-start.json" "${METRICS[@]}" "${KAFKA_LOGS[@]}"
start_load "${RATE_LIST[0]}" "$((WARMUP_SECS > 0 ? WARMUP_SECS : 1))" 0 0 "$WORK/warmup-k6.json" "$WORK/warmup-load.log"
wait_load "$WORK/warmup-load.log"
sagactl wait-quiet --since-ms "$SINCE_MS" --timeout "$DRAIN_SECS" "${METRICS[@]}" >/dev/null ||
  warn "the warm-up did not drain within ${DRAIN_SECS}s"
LAST_LOAD_MS=$(now_ms)
bench snapshot "$WORK/warmup-end.json" "${METRICS[@]}" "${KAFKA_LOGS[@]}"
RECORD_SIZE=$(bench record-size "$RUN" "$WORK/warmup-start.json" "$WORK/warmup-end.json")

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
bench limits "$RUN" --kafka-perf "$WORK/kafka-perf.out"
put limits.kafka.partitions:="$PARTITIONS" limits.kafka.linger_ms:="$KAFKA_LINGER_MS" limits.kafka.acks=all

# Commits of the three databases while nothing but the services' background
# work (relay polls, cleanup) runs: subtracted from the saga's cost. pgbench
# writes to its own database, so its commits are not among them.
sleep_until_ms $((LAST_LOAD_MS + STATS_SETTLE_MS))
snapshot "$WORK/idle-start.json"
say "limit: PostgreSQL one-row INSERT commits, $PGBENCH_CLIENTS clients, ${PGBENCH_SECS}s, synchronous_commit=$SYNC_COMMIT ($(elapsed))"
scratch_url=$(bench scratch create "$WORK/pgbench.sql")
PGOPTIONS="-c synchronous_commit=$SYNC_COMMIT" "$PGBENCH" -n -M prepared -c "$PGBENCH_CLIENTS" -j 2 -T "$PGBENCH_SECS" \
  -f "$WORK/pgbench.sql" "$scratch_url" >"$WORK/pgbench.out" 2>&1 || warn "pgbench failed; see $WORK/pgbench.out"
bench scratch drop
bench limits "$RUN" --pgbench "$WORK/pgbench.out"
put limits.postgres.clients:="$PGBENCH_CLIENTS" limits.postgres.seconds:="$PGBENCH_SECS" \
  limits.postgres.synchronous_commit="$SYNC_COMMIT"
snapshot "$WORK/idle-end.json"

# --- 3. the ladder ---------------------------------------------------------------
cp "$WORK/idle-end.json" "$WORK/ladder-start.json"
bench statements start || warn "no statement statistics: Postgres runs without pg_stat_statements (restart it: make down && make up)"
LADDER_FROM_MS=$(now_ms)
# One measured step; sets VERDICT (ok | behind | shed | failed).
step=0
run_step() { # rate
  local rate=$1 dir from_ms
  step=$((step + 1))
  dir=$WORK/step-$(printf '%02d' $step)-$rate
  mkdir -p "$dir"
  say "step $step: $rate orders/s for ${STEP_SECS}s (+${WARMUP_SECS}s warm-up), elapsed $(elapsed)"
  # 2 s of load after the window keep the generator (and the load) alive for
  # the end snapshot. Its CPU shows in the report's load generator column.
  start_load "$rate" "$STEP_SECS" "$WARMUP_SECS" 2 "$dir/k6.json" "$dir/load.log"
  from_ms=$((LOAD_START_MS + WARMUP_SECS * 1000))
  sleep_until_ms "$from_ms"
  snapshot "$dir/start.json" --tree "k6=$LOAD_PID"
  sleep_until_ms $((from_ms + STEP_SECS * 1000))
  snapshot "$dir/end.json" --tree "k6=$LOAD_PID"
  wait_load "$dir/load.log"
  # Drains, reads the window's orders and judges the step.
  VERDICT=$(bench step "$dir" --rate "$rate" --secs "$STEP_SECS" --warmup "$WARMUP_SECS" --start-ms "$from_ms" \
    --grace "$GRACE_SECS" --drained-ok "$DRAINED_OK_SECS" --drain-secs "$DRAIN_SECS" --since-ms "$SINCE_MS" "${METRICS[@]}")
  LAST_LOAD_MS=$(now_ms)
}

# The ladder climbs until a step clearly fails or has to shed load (unless
# BENCH_ALL_STEPS=1); then come the steps past capacity, at 2× and 4× the
# sustainable rate, where goodput must hold and the excess be refused fast.
MEASURED=" "
for index in "${!RATE_LIST[@]}"; do
  rate=${RATE_LIST[$index]}
  run_step "$rate"
  MEASURED+="$rate "
  if [[ $VERDICT =~ ^(failed|shed)$ ]] && [ "$index" -lt $((${#RATE_LIST[@]} - 1)) ] && [ "${BENCH_ALL_STEPS:-0}" != 1 ]; then
    skipped="${RATE_LIST[*]:$((index + 1))}"
    put stopped_early="after the $rate/s step ($VERDICT); not run: ${skipped// //s, }/s"
    say "the $rate/s step: $VERDICT; the ladder stops climbing (skipping ${skipped// //s, }/s)"
    break
  fi
done
SUSTAINABLE=$(bench sustainable "$WORK")
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
bench snapshot "$WORK/ladder-end.json" "${METRICS[@]}" --pg
put ladder_sagas:="$(bench sagas --since-ms "$LADDER_FROM_MS")"
bench statements read "$WORK/statements.json" || warn "could not read pg_stat_statements"

# Each part alone (the services restart here), then flame graphs. TREES ends with kafka and postgres.
say "components: POST path at $COMPONENT_RATE orders/s for ${COMPONENT_SECS}s, each relay and consumer on its backlog; flame graphs at $FLAME_RATE/s ($(elapsed))"
bench components "$WORK" --stack "$ROOT_DIR/scripts/stack.sh" --run-dir "$RUN_DIR" --loadgen "$(cargo_bin loadgen)" \
  --rate "$COMPONENT_RATE" --secs "$COMPONENT_SECS" --flame-rate "$FLAME_RATE" --flame-secs "$FLAME_SECS" \
  --out-dir "$BENCH_DIR" --stamp "$STAMP" "${TREES[@]: -4}" "${METRICS[@]}"

# Every money rule holds after all of it.
say "sagactl audit ($(elapsed))"
audit_rc=0
sagactl audit --json >"$WORK/audit.json" 2>"$WORK/audit.err" || audit_rc=$?
put audit.exit:="$audit_rc"

say "report ($(elapsed))"
bench report "$WORK" "$BENCH_DIR" || die "the benchmark ran but its report is incomplete (see above); raw data in $WORK"
