#!/usr/bin/env bash
# Checks the monitoring material in k8s/monitoring: the alert rules load
# (`promtool check rules`), their unit tests pass (`promtool test rules`), the
# dashboard is valid JSON with a query in every panel, and the operator's
# ServiceMonitor selects the three services. (That every metric name used
# exists is checked by e2e/tests/integration/saga.rs against live services.)
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
check "dashboard.json: every panel has a query" python3 -c '
import json, sys
d = json.load(open("dashboard.json"))
bad = [p.get("title") for p in d["panels"] if not all(t.get("expr") for t in p.get("targets", [])) or not p.get("targets")]
sys.exit(f"panels without a query: {bad}" if bad else 0)'
check "ServiceMonitor selects the three services on port http" python3 -c '
import sys
text = open("operator/servicemonitor.yaml").read()
missing = [s for s in ("order-service", "billing-service", "notification-service", "port: http", "path: /metrics") if s not in text]
sys.exit(f"missing: {missing}" if missing else 0)'

echo "monitoring: $passed passed, $failed failed"
[ "$failed" = 0 ]
