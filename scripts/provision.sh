#!/usr/bin/env bash
# Installs what the local stack needs and a bare Debian machine may lack:
# a JDK (Kafka), Maven (Kafka's jars), PostgreSQL, curl, a C toolchain
# (librdkafka is compiled by the rdkafka crate) with libssl-dev and pkg-config
# (rdkafka and sqlx link OpenSSL), openssl (certificates of SECURITY=on), python3,
# promtool (from Debian's prometheus package), node with npm (the AsyncAPI parser), perf.
# Rust itself must be present.
# Installs with apt-get when run as root; otherwise says what to install.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || [ -n "${KAFKA_HOME:-}" ] || missing+=(maven)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || [ -n "${PG_BIN:-}" ] || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v cc >/dev/null || missing+=(build-essential)
command -v make >/dev/null || missing+=(make)
command -v perl >/dev/null || missing+=(perl)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v openssl >/dev/null || missing+=(openssl)
command -v promtool >/dev/null || missing+=(prometheus) # promtool checks the alert rules
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v npm >/dev/null || missing+=(nodejs npm) # scripts/check-contracts.sh
command -v perf >/dev/null || missing+=(linux-perf)  # make bench's flame graphs

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing packages: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})"
  fi
fi
command -v cargo >/dev/null || die "cargo not found: install Rust 1.85 or newer (https://rustup.rs)"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
