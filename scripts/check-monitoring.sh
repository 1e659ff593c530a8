#!/usr/bin/env bash
# The alert rules in k8s/monitoring load (`promtool check rules`) and their
# unit tests pass (`promtool test rules`). The dashboard, the ServiceMonitor and
# every metric name they use are checked in e2e/tests/integration/saga.rs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR/k8s/monitoring"

command -v promtool >/dev/null || die "promtool not found: install Debian's 'prometheus' package (scripts/provision.sh does as root)"
passed=0 failed=0
check() {
  local what=$1
  shift
  if "$@" >"$LOG_DIR/check-monitoring.out" 2>&1; then
    echo "ok   - $what"
    passed=$((passed + 1))
  else
    echo "FAIL - $what"
    sed 's/^/    /' "$LOG_DIR/check-monitoring.out"
    failed=$((failed + 1))
  fi
}

check "promtool check rules alert-rules.yaml" promtool check rules alert-rules.yaml
check "promtool test rules alert-rules.test.yaml" promtool test rules alert-rules.test.yaml

echo "monitoring: $passed passed, $failed failed"
[ "$failed" = 0 ]
