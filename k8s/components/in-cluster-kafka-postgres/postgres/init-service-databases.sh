#!/usr/bin/env bash
# Runs once, on the first start of an empty data directory (the postgres
# image's /docker-entrypoint-initdb.d): one role and one database per service,
# as the local stack has them (docs/operations.md: orders, billing, notifications).
# Passwords come from the saga-db Secret through environment variables and are
# passed as psql variables, so they are quoted by psql, never by the shell.
set -euo pipefail

: "${ORDERS_DB_PASSWORD:?}" "${BILLING_DB_PASSWORD:?}" "${NOTIFICATIONS_DB_PASSWORD:?}"

for db in orders billing notifications; do
  case $db in
    orders) password=$ORDERS_DB_PASSWORD ;;
    billing) password=$BILLING_DB_PASSWORD ;;
    notifications) password=$NOTIFICATIONS_DB_PASSWORD ;;
  esac
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v name="$db" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "postgres: role and database $db created"
done
