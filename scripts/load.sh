#!/usr/bin/env bash
# Load tests with k6 against the local stack (what `make load` runs).
#
#   scripts/load.sh [script] [k6 run options...]
#
# script: a file in k6/ — load-test.js (default, or $K6_SCRIPT), throughput.js,
# saga.js ("saga" and "k6/saga.js" work too); extra arguments go to `k6 run`.
# Installs k6 on first use (scripts/k6.sh), starts what is not running, runs k6 against
# the local order-service and exits with k6's status (99: a threshold failed). The scripts'
# variables (K6_QUICK, RATE, DURATION, VUS, ORDER_SERVICE_URL...): the head of each k6/ file.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=k6.sh
source "$ROOT_DIR/scripts/k6.sh"

script=${K6_SCRIPT:-load-test.js}
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
  script=$1
  shift
fi
script=${script#k6/}
[[ $script == *.js ]] || script=$script.js
if [ ! -f "$ROOT_DIR/k6/$script" ]; then
  choices=$(cd "$ROOT_DIR/k6" && printf '%s ' *.js)
  die "no k6 script k6/$script; choose one of: ${choices/orders.js /}" # orders.js is the shared module
fi

K6=$(k6_binary)
"$ROOT_DIR/scripts/stack.sh" up

# Always the local order-service: this script just made sure that one is up.
ORDER_SERVICE_URL=$(service_url order-service)
export ORDER_SERVICE_URL
# k6 otherwise phones home with usage statistics after each run.
export K6_NO_USAGE_REPORT=${K6_NO_USAGE_REPORT:-true}

say "k6 run k6/$script against $ORDER_SERVICE_URL${K6_QUICK:+ (K6_QUICK=$K6_QUICK)}"
cd "$ROOT_DIR"
rc=0
"$K6" run "$@" "k6/$script" || rc=$?
case $rc in
0) say "k6 run k6/$script: all thresholds passed" ;;
99) warn "k6 run k6/$script: thresholds crossed (see the summary above)" ;;
*) warn "k6 run k6/$script exited with status $rc" ;;
esac
exit $rc
