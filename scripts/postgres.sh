#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout, made with Debian's postgresql
# package: data under .local/postgres, listening on the loopback address only (PG_PORT), one
# database and one role per service.
#
#   postgres.sh start    install (as root, if missing), initdb on first start, start, create databases
#   postgres.sh stop     fast shutdown (pass `immediate` to simulate a crash)
#   postgres.sh status
#
# Environment (defaults in scripts/lib.sh): PG_PORT, PG_BIN (newest
# /usr/lib/postgresql/*/bin), PG_DATA_DIR (.local/postgres), PG_SUPERUSER_PASSWORD,
# PG_SERVER_OPTIONS (extra server settings). pg_stat_statements is loaded, tracking only in `make bench`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_DATA_DIR=${PG_DATA_DIR:-$STATE_DIR/postgres}
PG_LOG=$LOG_DIR/postgres.log
find_pg_bin() {
  local pg_ctl
  if [ -z "${PG_BIN:-}" ] && ! pg_program pg_ctl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing PostgreSQL with apt-get (first run only)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctl=$(pg_program pg_ctl) || die "PostgreSQL server binaries not found: install Debian's 'postgresql' package (apt-get install postgresql) or set PG_BIN"
  PG_BIN=$(dirname "$pg_ctl")
}

# PostgreSQL refuses to run as root: as root we run it as the 'postgres' user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

prepare_dirs() {
  mkdir -p "$PG_DATA_DIR"
  touch "$PG_LOG"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres: "$PG_DATA_DIR" "$PG_LOG"
    # The postgres user must be able to reach the data directory: grant search
    # (x) permission on any parent that denies it, and say so.
    local dir
    dir=$(dirname "$PG_DATA_DIR")
    while [ "$dir" != / ]; do
      if ! runuser -u postgres -- test -x "$dir"; then
        say "granting others search permission on $dir so the postgres user can reach $PG_DATA_DIR"
        chmod o+x "$dir"
      fi
      dir=$(dirname "$dir")
    done
  fi
  chmod 700 "$PG_DATA_DIR"
}

psql_admin() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" "$@"; }

running() { as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA_DIR" >/dev/null 2>&1; }

start() {
  find_pg_bin
  prepare_dirs
  if [ -f "$PG_DATA_DIR/PG_VERSION" ] && running; then
    claim_mode postgres running
    say "PostgreSQL already running on $PG_ADDRESS"
  else
    require_free_port "$PG_PORT" "PostgreSQL (PG_PORT)"
    claim_mode postgres
    if [ ! -f "$PG_DATA_DIR/PG_VERSION" ]; then
      say "creating a PostgreSQL cluster in $PG_DATA_DIR (first start only)"
      local pwfile
      pwfile=$(mktemp)
      echo "$PG_SUPERUSER_PASSWORD" >"$pwfile"
      chmod 644 "$pwfile"
      as_pg "$PG_BIN/initdb" -D "$PG_DATA_DIR" -U postgres --pwfile="$pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 ||
        { rm -f "$pwfile"; die "initdb failed, see $PG_LOG"; }
      rm -f "$pwfile"
      echo "pg_stat_statements.track = none # on only while make bench runs" | as_pg tee -a "$PG_DATA_DIR/postgresql.conf" >/dev/null
    fi
    say "starting PostgreSQL on $PG_ADDRESS, log: $PG_LOG"
    # Secured: TLS only; certificate, key and hba file in $PG_DATA_DIR/tls.
    [ "$SECURITY" = off ] || tls=$("$ROOT_DIR/security-setup/secrets.sh" postgres "$PG_DATA_DIR")
    # Loopback TCP only, no Unix socket; WAL and buffers sized for sustained writes (docs/operations.md).
    as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA_DIR" -l "$PG_LOG" -w -t 60 \
      -o "-c listen_addresses=${PG_ADDRESS%:*} -c port=$PG_PORT -c unix_socket_directories= -c max_connections=200 -c shared_preload_libraries=pg_stat_statements -c shared_buffers=1GB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=lz4 ${tls:-} ${PG_SERVER_OPTIONS:-}" >/dev/null ||
      { tail -20 "$PG_LOG" >&2; die "PostgreSQL did not start, see $PG_LOG"; }
  fi
  create_databases
}

# database = role = password for each service locally; production passwords come from a Secret.
create_databases() {
  local name db
  for name in $SERVICES; do
    db=$(service_database "$name")
    psql_admin -v name="$db" -v password="$db" -f "$ROOT_DIR/postgres-setup/service-database.sql"
  done
  say "PostgreSQL databases ready, one per service (role = database = password)"
}

stop() {
  find_pg_bin
  local mode=${1:-fast}
  if [ -f "$PG_DATA_DIR/PG_VERSION" ] && running; then
    say "stopping PostgreSQL ($mode)"
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA_DIR" -m "$mode" -w -t 60 >/dev/null
  else
    say "PostgreSQL is not running (none started from this checkout)"
  fi
}

status() {
  find_pg_bin
  if [ -f "$PG_DATA_DIR/PG_VERSION" ] && running; then
    echo "postgres: running on $PG_ADDRESS"
  else
    echo "postgres: stopped"
    return 1
  fi
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-fast}" ;;
status) status ;;
*) die "usage: postgres.sh start|stop [fast|immediate]|status" ;;
esac
