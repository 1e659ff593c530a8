#!/usr/bin/env bash
# The contract files are valid: contracts/asyncapi.yaml parsed by the official
# AsyncAPI parser, its $refs to contracts/schemas/ resolved, and each message's
# examples checked against its schemas (contracts/check-asyncapi.cjs). The npm
# packages go into .local/asyncapi on first use. That the files match the Rust
# types is the contract crate's test (docs/messaging.md, "Contract files").
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

prefix=$STATE_DIR/asyncapi
packages=(@asyncapi/parser@3.6.6 ajv@8.20.0 ajv-formats@2.1.1)
command -v npm >/dev/null || die "node and npm not found: install Debian's 'nodejs npm' (scripts/provision.sh does as root)"
if [ "$(cat "$prefix/installed" 2>/dev/null)" != "${packages[*]}" ]; then
  say "installing ${packages[*]} from npm into $prefix (first run only)"
  nice npm install --prefix "$prefix" --no-audit --no-fund --silent "${packages[@]}"
  echo "${packages[*]}" >"$prefix/installed"
fi
NODE_PATH=$prefix/node_modules node "$ROOT_DIR/contracts/check-asyncapi.cjs" "$@"
