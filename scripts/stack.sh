#!/usr/bin/env bash
# The whole local stack: PostgreSQL, Kafka and the three services, in the background.
#
#   stack.sh up [infra|services|all|SERVICE]     start what is not running yet (default all)
#   stack.sh down [infra|services|all|SERVICE]   stop what this checkout started (data kept)
#   stack.sh status
#
# Re-running `up` is harmless; a port taken by something else is an error naming it.
# Environment: ORDER_SERVICE_PORT, BILLING_SERVICE_PORT, NOTIFICATION_SERVICE_PORT
# (defaults in scripts/lib.sh), CARGO_PROFILE (release | dev, default release), ADMIN_TOKEN_FILE
# (default $STATE_DIR/admin-token), plus what scripts/postgres.sh and kafka-setup/kafka.sh read.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
  say "building the services (cargo build --profile $CARGO_PROFILE; the first build takes a few minutes)"
  (cd "$ROOT_DIR" && cargo build --profile "$CARGO_PROFILE" --bins)
}

start_service() {
  local name=$1 port pid kafka exe
  port=$(service_port "$name")
  if pid=$(pid_of "$name" "$(service_pattern "$name")"); then
    claim_mode "$name" running
    exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)
    [ "$exe" = "$(cargo_bin "$name")" ] ||
      die "$name is running another build ($exe, pid $pid), not CARGO_PROFILE=$CARGO_PROFILE; stop it first: scripts/stack.sh down services"
    say "$name already running (pid $pid) on $(service_url "$name")"
    return 0
  fi
  require_free_port "$port" "$name"
  claim_mode "$name"
  mapfile -t kafka < <(kafka_env "$name") # secured: its own principal
  # Services inherit the caller's environment (RUST_LOG, LOG_FORMAT, ...); the
  # addresses below follow the ports this script was given.
  HTTP_PORT=$port \
    DATABASE_URL=$(service_database_url "$name") \
    KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS ADMIN_TOKEN_FILE=$ADMIN_TOKEN_FILE \
    setsid nohup env "${kafka[@]}" "$(cargo_bin "$name")" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  say "started $name (pid $!) on $(service_url "$name"), log: $LOG_DIR/$name.log"
}

# Waits until every service named (default all) answers 200 on /health/ready.
wait_ready() {
  local name url deadline=$((SECONDS + ${READY_TIMEOUT_SECS:-90}))
  for name in ${1:-$SERVICES}; do
    url=$(service_url "$name")
    until curl -fsS -o /dev/null "$url/health/ready" 2>/dev/null; do
      if ! pid_of "$name" "$(cargo_bin "$name")" >/dev/null; then
        tail -20 "$LOG_DIR/$name.log" >&2
        die "$name exited; log: $LOG_DIR/$name.log"
      fi
      if ((SECONDS > deadline)); then
        curl -sS "$url/health/ready" >&2 || true
        echo >&2
        die "$name not ready after ${READY_TIMEOUT_SECS:-90}s; log: $LOG_DIR/$name.log"
      fi
      sleep 0.5
    done
    say "$name ready"
  done
}

up() {
  local what=${1:-all} names=$SERVICES
  [[ " $SERVICES " == *" $what "* ]] && names=$what what=services
  if [ "$what" = all ] || [ "$what" = infra ]; then
    "$ROOT_DIR/scripts/postgres.sh" start
    "$ROOT_DIR/kafka-setup/kafka.sh" start
  fi
  if [ "$what" = all ] || [ "$what" = services ]; then
    build
    # A random admin token on first use, readable by this user only (mode 600).
    [ -s "$ADMIN_TOKEN_FILE" ] || (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$ADMIN_TOKEN_FILE")
    local name
    for name in $names; do start_service "$name"; done
    wait_ready "$names"
  fi
}

down() {
  local what=${1:-all} name pid names=$SERVICES
  [[ " $SERVICES " == *" $what "* ]] && names=$what what=services
  if [ "$what" = all ] || [ "$what" = services ]; then
    for name in $names; do
      if pid=$(pid_of "$name" "$(service_pattern "$name")"); then
        say "stopping $name (pid $pid)"
        stop_pid "$name" "$pid" 40
      fi
    done
  fi
  if [ "$what" = all ] || [ "$what" = infra ]; then
    "$ROOT_DIR/kafka-setup/kafka.sh" stop
    "$ROOT_DIR/scripts/postgres.sh" stop
  fi
}

status() {
  local name pid rc=0
  "$ROOT_DIR/scripts/postgres.sh" status || rc=1
  "$ROOT_DIR/kafka-setup/kafka.sh" status || rc=1
  for name in $SERVICES; do
    if pid=$(pid_of "$name" "$(service_pattern "$name")"); then
      echo "$name: running (pid $pid) on $(service_url "$name")"
    else
      echo "$name: stopped"
      rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
up) up "${2:-all}" ;;
down) down "${2:-all}" ;;
status) status ;;
wait-ready) wait_ready ;;
*) die "usage: stack.sh up|down [infra|services|all|SERVICE] | status" ;;
esac
