#!/usr/bin/env bash
# End-to-end checks of the running stack (`scripts/stack.sh up`), as a user would make them, with
# the real binaries, Kafka tools and Postgres. Part of `make test`; exits non-zero when any fails.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=$ROOT_DIR/kafka-setup/bin
passed=0 failed=0

check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then
    echo "ok   - $what"
    passed=$((passed + 1))
  else
    echo "FAIL - $what"
    failed=$((failed + 1))
  fi
}

# Polls until every service's readiness has status $1 (and, for 503, names
# $2 as down), for $3 seconds at most.
all_ready_status() {
  local want=$1 down=$2 timeout=$3 deadline name code body ok
  deadline=$((SECONDS + timeout))
  while :; do
    ok=1
    for name in $SERVICES; do
      body=$(curl -sS -w '\n%{http_code}' "$(service_url "$name")/health/ready" 2>/dev/null || echo 000)
      code=${body##*$'\n'}
      body=${body%$'\n'*}
      if [ "$code" != "$want" ] || { [ -n "$down" ] && ! grep -q "\"down\":\[[^]]*\"$down\"" <<<"$body"; }; then
        ok=0
      fi
    done
    [ $ok = 1 ] && return 0
    if ((SECONDS > deadline)); then
      echo "  last answer from $name: $code $body" >&2
      return 1
    fi
    sleep 0.5
  done
}

console_round_trip() {
  local topic value got
  topic=smoke-console-$RANDOM$RANDOM
  value="hello from the console producer $(date +%s%N)"
  "$BIN/kafka-topics" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --create --topic "$topic" --partitions 1 --replication-factor 1 >/dev/null
  echo "$value" | "$BIN/kafka-console-producer" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --topic "$topic"
  got=$("$BIN/kafka-console-consumer" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --topic "$topic" \
    --from-beginning --max-messages 1 --timeout-ms 30000 --property print.headers=true 2>/dev/null)
  "$BIN/kafka-topics" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --delete --topic "$topic" >/dev/null
  [ "$got" = "NO_HEADERS	$value" ] || { echo "  consumed: '$got'" >&2; return 1; }
}

up_again_is_harmless() {
  local before after
  before=$(cat "$RUN_DIR"/*.pid | sort | paste -sd' ')
  "$ROOT_DIR/scripts/stack.sh" up >/dev/null
  after=$(cat "$RUN_DIR"/*.pid | sort | paste -sd' ')
  [ "$before" = "$after" ] || { echo "  pids changed: $before -> $after" >&2; return 1; }
}

# Postgres holds its port: a Kafka asked to listen there refuses, naming it.
taken_port_is_named() {
  local out
  out=$(STATE_DIR=$STATE_DIR/taken-port-check KAFKA_PORT=$PG_PORT "$ROOT_DIR/kafka-setup/kafka.sh" start 2>&1) && return 1
  grep -q "port $PG_PORT .* already in use" <<<"$out" || { echo "  got: $out" >&2; return 1; }
}

ORDERS=$(service_url order-service)
ORDER_BODY='{"customerId":"smoke","items":[{"productId":"p-1","name":"Mug","price":4.99,"quantity":2,"subtotal":9.98}],"totalAmount":9.98}'

# Places a small order; prints its id, fails unless the answer is 202.
place_order() {
  local out
  out=$(curl -sS -w '\n%{http_code}' -X POST "$ORDERS/api/orders" -H 'content-type: application/json' -d "$ORDER_BODY")
  [ "${out##*$'\n'}" = 202 ] || { echo "  POST answered: $out" >&2; return 1; }
  sed -n 's/.*"orderId":"\([^"]*\)".*/\1/p' <<<"${out%$'\n'*}"
}

order_status() { curl -sS "$ORDERS/api/orders/$1" | sed -n 's/.*"status":"\([A-Z_]*\)".*/\1/p'; }

# Waits until every order given is PAID, $1 seconds at most.
all_paid() {
  local timeout=$1 id deadline
  shift
  deadline=$((SECONDS + timeout))
  for id in "$@"; do
    until [ "$(order_status "$id")" = PAID ]; do
      if ((SECONDS > deadline)); then
        echo "  order $id is $(order_status "$id")" >&2
        return 1
      fi
      sleep 0.5
    done
  done
}

# The trace id that POST answers with shows up in all three services' logs.
one_trace_in_all_three_logs() {
  local headers id trace name missing=""
  headers=$(curl -sS -D - -o /dev/null -X POST "$ORDERS/api/orders" -H 'content-type: application/json' -d "$ORDER_BODY")
  trace=$(sed -n 's/^traceparent: 00-\([0-9a-f]\{32\}\)-.*/\1/p' <<<"$headers" | tr -d '\r')
  id=$(sed -n 's|^location: /api/orders/\([0-9a-f-]*\).*|\1|p' <<<"$headers" | tr -d '\r')
  [ -n "$trace" ] && [ -n "$id" ] || { echo "  no traceparent/location in: $headers" >&2; return 1; }
  all_paid 30 "$id" || return 1
  sleep 1 # the notification may be stored just after the order is PAID
  for name in $SERVICES; do
    grep -q "$trace" "$LOG_DIR/$name.log" || missing+=" $name"
  done
  [ -z "$missing" ] || { echo "  trace $trace missing from:$missing" >&2; return 1; }
}

orders_are_accepted_while_kafka_is_down_and_complete_after() {
  local ids=() id
  "$ROOT_DIR/kafka-setup/kafka.sh" stop >/dev/null
  for _ in 1 2 3; do
    id=$(place_order) || { "$ROOT_DIR/kafka-setup/kafka.sh" start >/dev/null; return 1; }
    ids+=("$id")
  done
  for id in "${ids[@]}"; do
    [ "$(order_status "$id")" = PENDING ] || { echo "  $id not PENDING while Kafka is down" >&2; return 1; }
  done
  "$ROOT_DIR/kafka-setup/kafka.sh" start >/dev/null
  all_paid 120 "${ids[@]}"
}

trail_tells_the_whole_story() {
  local id out
  id=$(place_order) && all_paid 30 "$id" || return 1
  sleep 1
  out=$(sagactl trail "$id") || return 1
  for expected in "order $id: PAID" "payment: SUCCEEDED" "notifications: 2" "records: 3"; do
    grep -qF "$expected" <<<"$out" || { echo "  trail lacks '$expected':" >&2; sed 's/^/    /' <<<"$out" >&2; return 1; }
  done
}

# Orders keep coming while all three services restart with SIGTERM: every
# order that got a 202 reaches a final status.
sigterm_restarts_under_load_lose_nothing() {
  local accepted=$LOG_DIR/smoke-accepted-ids load n
  : >"$accepted"
  "$(cargo_bin loadgen)" orders --url "$ORDERS" --rate 40 --duration 12 --warmup 0 --cooldown 0 --timeout 5 \
    --fresh-customers --accepted-ids "$accepted" >"$LOG_DIR/smoke-load.log" 2>&1 &
  load=$!
  sleep 3
  "$ROOT_DIR/scripts/stack.sh" down services >/dev/null
  "$ROOT_DIR/scripts/stack.sh" up services >/dev/null
  wait $load || { tail -5 "$LOG_DIR/smoke-load.log" >&2; return 1; }
  n=$(wc -l <"$accepted")
  [ "$n" -gt 20 ] || { echo "  only $n orders accepted" >&2; return 1; }
  sagactl wait-quiet --accepted "$accepted" --timeout 60 >/dev/null || return 1
  echo "  $n accepted orders, all final after SIGTERM restarts of the three services" >&2
}

# A credit limit changes only with the stack's admin token, kept in a file of mode 600.
limit_needs_the_admin_token() {
  local put
  put=(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$(service_url billing-service)/api/accounts/smoke-admin"
    -H 'content-type: application/json' -d '{"creditLimit": 5}')
  [ "$("${put[@]}")" = 401 ] && [ "$("${put[@]}" -H "Authorization: Bearer $(cat "$ADMIN_TOKEN_FILE")")" = 200 ] &&
    [ "$(stat -c %a "$ADMIN_TOKEN_FILE")" = 600 ]
}

echo "# smoke: end-to-end checks against the running stack"
check "all three services answer 200 on /health/ready" all_ready_status 200 "" 60
check "a record from kafka-console-producer comes back through kafka-console-consumer" console_round_trip
check "make up again keeps the same processes" up_again_is_harmless
check "a port taken by another process is named in the error" taken_port_is_named
check "a credit limit changes with the admin token in $ADMIN_TOKEN_FILE (mode 600), not without" limit_needs_the_admin_token
check "an order's trace id is in the log lines of all three services" one_trace_in_all_three_logs

"$ROOT_DIR/scripts/postgres.sh" stop fast >/dev/null
check "with Postgres stopped, every /health/ready answers 503 naming the database" all_ready_status 503 database 15
"$ROOT_DIR/scripts/postgres.sh" start >/dev/null
check "with Postgres back, every /health/ready answers 200 without a restart" all_ready_status 200 "" 30
check "an order placed after Postgres came back completes" all_paid 60 "$(place_order)"
check "with Kafka stopped, orders get 202 and stay PENDING; once it is back they are PAID" \
  orders_are_accepted_while_kafka_is_down_and_complete_after

check "SIGTERM restarts of all three services under load lose no accepted order" sigterm_restarts_under_load_lose_nothing
check "sagactl trail shows an order's status, payment, notifications and records" trail_tells_the_whole_story
check "sagactl audit finds no violation once the stack is quiet" sagactl audit

echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
