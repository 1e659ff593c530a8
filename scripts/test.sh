#!/usr/bin/env bash
# `make test`: formatting, clippy, unit and integration tests against the real Kafka
# and Postgres, the end-to-end smoke checks, then the tests of a secured stack. Brings
# up whatever part of the plaintext stack is not running; stops only what it started.
set -euo pipefail
profile_asked=${CARGO_PROFILE:-}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR"
# The dev build (quicker to compile), unless told otherwise or the services
# already run in another profile (after `make run`): those are tested as they are.
if [ -z "$profile_asked" ]; then
  CARGO_PROFILE=dev
  if dir=$(running_profile_dir order-service); then CARGO_PROFILE=$(dir_profile "$dir"); fi
fi
export CARGO_PROFILE

"$ROOT_DIR/scripts/provision.sh"

say "cargo fmt --check"
cargo fmt --all -- --check
say "shellcheck"
shellcheck -x -S warning scripts/*.sh kafka-setup/*.sh kafka-setup/bin/* security-setup/*.sh k8s/schemas/*.sh k8s/apiserver/*.sh k8s/cluster/*.sh k8s/images/*.sh .ci/run
say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "Kubernetes manifests: render both overlays, validate offline, check their promises"
"$ROOT_DIR/scripts/k8s-validate.sh"
say "alert rules (promtool check and test)"
"$ROOT_DIR/scripts/check-monitoring.sh"
say "contract files (AsyncAPI parser, examples against the JSON Schemas)"
"$ROOT_DIR/scripts/check-contracts.sh"

started_infra=0 started_services=0
"$ROOT_DIR/scripts/postgres.sh" status >/dev/null 2>&1 && "$ROOT_DIR/kafka-setup/kafka.sh" status >/dev/null 2>&1 || started_infra=1
"$ROOT_DIR/scripts/stack.sh" status >/dev/null 2>&1 || started_services=1
cleanup() {
  [ $started_services = 1 ] && "$ROOT_DIR/scripts/stack.sh" down services >/dev/null || true
  [ $started_infra = 1 ] && "$ROOT_DIR/scripts/stack.sh" down infra >/dev/null || true
}
trap cleanup EXIT

"$ROOT_DIR/scripts/stack.sh" up infra
say "cargo test (unit and integration tests against the real Kafka and Postgres)"
cargo test --workspace

"$ROOT_DIR/scripts/stack.sh" up services
"$ROOT_DIR/scripts/smoke.sh"
# The benchmark's tiny run on the services already up (fails on an incomplete report).
say "bench, quick: two short steps, the machine's limits, one report"
BENCH_QUICK=1 CARGO_PROFILE=$CARGO_PROFILE "$ROOT_DIR/scripts/bench.sh"
say "chaos, shortened: the twelve fault scenarios at a lower rate and for less time"
CHAOS_RATE=${CHAOS_RATE:-15} CHAOS_DURATION=${CHAOS_DURATION:-8} CHAOS_FAULT_AT=${CHAOS_FAULT_AT:-3} \
  CHAOS_OUTAGE_SECS=${CHAOS_OUTAGE_SECS:-15} \
  "$ROOT_DIR/scripts/chaos.sh"

# A secured Kafka and Postgres (SECURITY=on) beside the plaintext stack; the tests get the admin's
# settings, and SECURED_STACK_DIR (ca.pem, passwords/<principal>) for the services they spawn.
say "secured stack: Kafka over SASL_SSL with SCRAM and ACLs, Postgres over TLS; cargo test secured::"
(
  STATE_DIR=$STATE_DIR/secured KAFKA_PORT=$(free_port) KAFKA_CONTROLLER_PORT=$(free_port) PG_PORT=$(free_port)
  export STATE_DIR KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT SECURITY=on
  unset KAFKA_BOOTSTRAP_SERVERS PG_ADMIN_URL
  trap '"$ROOT_DIR/scripts/stack.sh" down infra >/dev/null' EXIT
  "$ROOT_DIR/scripts/stack.sh" up infra
  # shellcheck source=/dev/null # written by kafka-setup/kafka.sh
  source "$STATE_DIR/security/admin.env"
  SECURED_STACK_DIR=$STATE_DIR/security cargo test -p e2e --test integration -- --ignored secured::
)
