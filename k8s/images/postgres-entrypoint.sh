#!/usr/bin/env bash
# Entry point of the saga postgres image, keeping the postgres:15 image's
# conventions that the manifests rely on: POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB and PGDATA; on an empty PGDATA, initdb, then the scripts in
# /docker-entrypoint-initdb.d against a temporary server that listens on the
# Unix socket only (TCP, which the probes use, answers once they are done);
# then postgres itself, in the foreground, with the container's arguments.
set -Eeuo pipefail
shopt -s nullglob

# Options alone (args: ["-c", "max_connections=200"]) are postgres's.
if [[ ${1:-} == -* ]]; then set -- postgres "$@"; fi
[ "${1:-}" = postgres ] || exec "$@"
# Runs as the image's user; it has no root step to hand over from.
if [ "$(id -u)" = 0 ]; then
  echo "postgres-entrypoint: run as user 999 (postgres), not as root" >&2
  exit 1
fi

: "${PGDATA:?}"
export POSTGRES_USER=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$POSTGRES_USER}
psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER")

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?postgres-entrypoint: set POSTGRES_PASSWORD, the password of POSTGRES_USER over TCP}"
  echo "postgres-entrypoint: initialising $PGDATA"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  # The socket is reachable from this container only; TCP needs the password.
  printf '%s\n' 'local all all trust' 'host all all all scram-sha-256' >"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
  if [ "$database" != postgres ]; then
    "${psql[@]}" --dbname postgres -v name="$database" <<<'CREATE DATABASE :"name";'
  fi
  for script in /docker-entrypoint-initdb.d/*; do
    echo "postgres-entrypoint: running $script"
    case $script in
    *.sh) if [ -x "$script" ]; then "$script"; else
      # shellcheck source=/dev/null
      . "$script"
    fi ;;
    *.sql) "${psql[@]}" --dbname "$database" -f "$script" ;;
    *.sql.gz) gzip -dc "$script" | "${psql[@]}" --dbname "$database" ;;
    *) echo "postgres-entrypoint: $script ignored (not .sh, .sql or .sql.gz)" ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  echo "postgres-entrypoint: initialised; starting postgres"
fi
exec "$@"
