#!/usr/bin/env bash
# `make chaos`: a steady stream of orders (`loadgen orders`, fixed arrival
# rate, every 202 recorded) while one fault at a time hits the local stack;
# after each, wait until the system is quiet, and print one row of what
# `sagactl audit --accepted` counts. Every row must show 0 lost, 0 charged
# twice, 0 wrong notifications (other than one of a kind), 0 stuck, and every
# injected malformed record dead-lettered (and nothing else).
#
#   scripts/chaos.sh [scenario...]     default: all twelve, in order
#
# Environment: the CHAOS_* variables below, documented in docs/faults.md.
set -Eeuo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

trap 'echo "chaos: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

RATE=${CHAOS_RATE:-25}
DURATION=${CHAOS_DURATION:-20}
FAULT_AT=${CHAOS_FAULT_AT:-6}
QUIET_TIMEOUT=${CHAOS_QUIET_TIMEOUT:-180}
OUTAGE=${CHAOS_OUTAGE_SECS:-60}
OUTAGE_RECOVERY=${CHAOS_OUTAGE_RECOVERY_SECS:-20}
ORDERS=$(service_url order-service)
LOADGEN=$(cargo_bin loadgen) # built with the services by stack.sh
BIN=$ROOT_DIR/kafka-setup/bin
WORK=$STATE_DIR/chaos
mkdir -p "$WORK"

# Reads fields of a `sagactl audit --json` report: `audit_field FILE EXPR...`,
# each EXPR a Python expression over `counts` and `rules` (violations by rule).
audit_field() {
  python3 - "$@" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
counts = report["counts"]
rules = collections.Counter(v["rule"] for v in report["violations"])
print(" ".join(str(eval(expr)) for expr in sys.argv[2:]))
PY
}

dead_lettered_total() {
  # audit exits 1 on violations; only its counts matter here.
  sagactl audit --json >"$WORK/dlq.audit.json" 2>/dev/null || true
  audit_field "$WORK/dlq.audit.json" 'sum(counts["dead_lettered"].values())'
}

# Quiet (sagactl wait-quiet): every accepted order final, no order PENDING, no
# outbox row waiting, the consumers standing still; and then a clean audit.
is_quiet() { # ids_file
  local metrics
  mapfile -t metrics < <(metrics_args)
  sagactl wait-quiet --accepted "$1" --timeout 5 "${metrics[@]}" >/dev/null 2>&1 && sagactl audit >/dev/null 2>&1
}

ensure_up() { "$ROOT_DIR/scripts/stack.sh" up >/dev/null; }

# After a failed row, what a reader of CI's output needs to tell where the
# saga stopped: each service's readiness body and its last warnings.
explain_failure() {
  local name
  for name in $SERVICES; do
    echo "--- $name: /health/ready"
    curl -sS -m 5 "$(service_url "$name")/health/ready" 2>&1 | cut -c1-600 || true
    echo
    echo "--- $name: last warnings"
    grep -E ' (WARN|ERROR) ' "$LOG_DIR/$name.log" 2>/dev/null | tail -12 | cut -c1-400 || true
  done
}

kill9_service() { kill -9 "$(cat "$RUN_DIR/$1.pid")"; sleep 2; ensure_up; }

# --- the faults -------------------------------------------------------------
fault_kill_order_service() { kill9_service order-service; }
fault_kill_billing_service() { kill9_service billing-service; }
fault_kill_notification_service() { kill9_service notification-service; }

fault_kill_kafka() {
  kill -9 "$(cat "$RUN_DIR/kafka.pid")"
  sleep 3
  "$ROOT_DIR/kafka-setup/kafka.sh" start >/dev/null
}

fault_postgres_immediate() {
  "$ROOT_DIR/scripts/postgres.sh" stop immediate >/dev/null
  sleep 3
  "$ROOT_DIR/scripts/postgres.sh" start >/dev/null
}

# Two more billing processes join the group (rebalances), then leave.
fault_scale_billing() {
  local pids=() i port
  for i in 1 2; do
    port=$(free_port)
    HTTP_PORT=$port DATABASE_URL=$(service_database_url billing-service) \
      "$(cargo_bin billing-service)" >>"$LOG_DIR/chaos-billing-$i.log" 2>&1 &
    pids+=($!)
  done
  sleep 8
  kill -TERM "${pids[@]}"
  wait "${pids[@]}" || true
}

# Full redelivery: billing's offsets back to the beginning of payment-requests.
fault_reset_billing_group() {
  local tries
  stop_pid billing-service "$(cat "$RUN_DIR/billing-service.pid")" 40
  # Offsets move only once the group is empty, which takes a moment after the member leaves.
  for ((tries = 0; tries < 30; tries++)); do
    "$BIN/kafka-consumer-groups" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --group billing-service \
      --topic payment-requests --reset-offsets --to-earliest --execute >"$WORK/reset.out" 2>&1 &&
      ! grep -qi "inactive\|error" "$WORK/reset.out" && break
    sleep 1
  done
  ensure_up
}

# Hostile records into each consumed topic (`loadgen hostile`, see
# docs/faults.md); INJECTED is the dead letters they must make, one per
# consumer group reading the topic.
INJECTED=0
inject() { # kind per-topic
  local out
  out=$("$LOADGEN" hostile "$1" --per-topic "$2")
  INJECTED=${out##* }
}

# One record in ten of the stream: not JSON, wrong types, unknown event
# type, unsupported version, oversized.
fault_malformed_records() { inject malformed $((RATE * DURATION / 10)); }

# The broker stopped for CHAOS_OUTAGE_SECS while orders keep coming (the load
# of this scenario lasts until the broker is back); recovery counts from its
# return and must stay within CHAOS_OUTAGE_RECOVERY_SECS.
fault_kafka_outage() {
  "$ROOT_DIR/kafka-setup/kafka.sh" stop >/dev/null
  sleep "$OUTAGE"
  "$ROOT_DIR/kafka-setup/kafka.sh" start >/dev/null
}

# Three records per consumed topic whose value (1,040,000 bytes) the broker
# takes but whose dead-letter copy cannot fit: each is cut, its original kept.
fault_oversized_records() { inject oversized-records 3; }

# Three records per consumed topic with a 600 KB event-type header.
fault_oversized_headers() { inject oversized-headers 3; }

# One record in ten of the stream: well-formed events whose fields are far
# beyond the API's limits (an 8,000-character customer id, NUL, a third
# decimal), for orders that do not exist. Each is refused when decoded.
fault_out_of_limit_fields() { inject out-of-limit $((RATE * DURATION / 10)); }

# --- running a scenario -----------------------------------------------------
ROWS=()
run() { # name fault
  local name=$1 fault=$2 ids=$WORK/$1.ids load dlq_before dlq_after t0 recovered accepted completed lost
  local twice dup stuck violations dead result duration=$DURATION audit=$WORK/$1.audit.json
  : >"$ids"
  INJECTED=0
  ensure_up
  dlq_before=$(dead_lettered_total)
  # The outage happens under load: orders keep coming until the broker is back.
  [ "$name" = kafka_outage ] && duration=$((FAULT_AT + OUTAGE))
  say "scenario $name: $RATE orders/s for $duration s, fault at ${FAULT_AT}s"
  "$LOADGEN" orders --url "$ORDERS" --rate "$RATE" --duration "$duration" --warmup 0 --cooldown 0 \
    --timeout 10 --fresh-customers --accepted-ids "$ids" >"$WORK/$name.load" 2>&1 &
  load=$!
  sleep "$FAULT_AT"
  "$fault"
  wait $load
  t0=$SECONDS
  until is_quiet "$ids"; do
    if ((SECONDS - t0 > QUIET_TIMEOUT)); then
      warn "$name: not quiet after ${QUIET_TIMEOUT}s"
      break
    fi
    sleep 1
  done
  recovered=$((SECONDS - t0))
  sleep 2 # let the last notifications land
  sagactl audit --json --pending-threshold-secs 60 --accepted "$ids" >"$audit" || true
  # Lost: accepted, yet missing or still not final; the notification rules
  # count an order with other than one notification of a kind.
  read -r accepted completed twice dup stuck violations dlq_after < <(audit_field "$audit" \
    'counts["accepted"]["orders"]' 'counts["accepted"]["final_orders"]' 'rules["duplicate_payment"]' \
    'rules["order_received_notifications"] + rules["payment_result_notifications"]' 'rules["stuck_pending"]' \
    'sum(rules.values())' 'sum(counts["dead_lettered"].values())')
  lost=$((accepted - completed))
  dead=$((dlq_after - dlq_before))
  result=ok
  # Only injected records may be dead-lettered (an outage never is); a full
  # redelivery dead-letters again what earlier runs put on the topic.
  if [ "$lost" != 0 ] || [ "$twice" != 0 ] || [ "$dup" != 0 ] || [ "$stuck" != 0 ] || [ "$violations" != 0 ] || ((dead < INJECTED)) ||
    { [ "$name" != reset_billing_group ] && ((dead > INJECTED)); } || { [ "$name" = kafka_outage ] && ((recovered > OUTAGE_RECOVERY)); }; then
    result=FAIL
  fi
  [ "$result" = ok ] || explain_failure >&2
  ROWS+=("| $name | $accepted | $completed | $lost | $twice | $dup | $stuck | $dead (injected $INJECTED) | $recovered | $violations | $result |")
  echo "${ROWS[-1]}"
}

SCENARIOS=(kill_order_service kill_billing_service kill_notification_service kill_kafka postgres_immediate
  scale_billing reset_billing_group malformed_records oversized_records oversized_headers out_of_limit_fields
  kafka_outage)
[ $# -gt 0 ] && SCENARIOS=("$@")

"$ROOT_DIR/scripts/stack.sh" up
say "chaos: ${#SCENARIOS[@]} scenario(s); wait for each row"
for scenario in "${SCENARIOS[@]}"; do
  run "$scenario" "fault_$scenario"
done

echo
echo "chaos results ($(date -u +%Y-%m-%d), $RATE orders/s, ${DURATION}s per scenario)"
echo "| scenario | accepted | completed | lost | charged twice | wrong notifications | stuck | dead-lettered | seconds to recover | violations | result |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
failed=$(printf '%s\n' "${ROWS[@]}" | grep -c "FAIL |" || true)
echo "chaos: $((${#ROWS[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
