# shellcheck shell=bash
# Shared helpers for the local-stack scripts. Source it; do not run it.
# Everything the stack writes lives under $STATE_DIR (git-ignored), so a
# checkout's stack never touches another checkout's.

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${STATE_DIR:-$ROOT_DIR/.local}
LOG_DIR=$STATE_DIR/logs
RUN_DIR=$STATE_DIR/run
mkdir -p "$LOG_DIR" "$RUN_DIR"
# shellcheck source=../security-setup/lib.sh # SECURITY=on|off, PG_TLS, kafka_env
source "$ROOT_DIR/security-setup/lib.sh"

# The stack's addresses, written here and nowhere else in the scripts (a test
# in make test checks it, and that they match contract/src/local.rs): every
# port can be moved from the environment. Everything listens on loopback only.
LOOPBACK=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$LOOPBACK:$KAFKA_PORT}
PG_PORT=${PG_PORT:-15432}
PG_ADDRESS=$LOOPBACK:$PG_PORT
PG_SUPERUSER_PASSWORD=${PG_SUPERUSER_PASSWORD:-postgres}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres:$PG_SUPERUSER_PASSWORD@$PG_ADDRESS/postgres$PG_TLS}
export KAFKA_BOOTSTRAP_SERVERS PG_ADMIN_URL
# The token credit-limit changes need (the services get ADMIN_TOKEN_FILE); stack.sh makes it.
ADMIN_TOKEN_FILE=${ADMIN_TOKEN_FILE:-$STATE_DIR/admin-token}

# shellcheck disable=SC2034 # used by the scripts that source this file
SERVICES="order-service billing-service notification-service"

service_port() {
  case $1 in
  order-service) echo "${ORDER_SERVICE_PORT:-8080}" ;;
  billing-service) echo "${BILLING_SERVICE_PORT:-8081}" ;;
  notification-service) echo "${NOTIFICATION_SERVICE_PORT:-8082}" ;;
  *) die "unknown service '$1'" ;;
  esac
}
local_url() { echo "http://$LOOPBACK:$1"; }
service_url() { local_url "$(service_port "$1")"; }

# Each service's own database; its role and password share the name locally.
service_database() {
  case $1 in
  order-service) echo orders ;;
  billing-service) echo billing ;;
  notification-service) echo notifications ;;
  *) die "unknown service '$1'" ;;
  esac
}
database_url() { echo "postgres://$1:$1@$PG_ADDRESS/$1$PG_TLS"; }
service_database_url() { database_url "$(service_database "$1")"; }

# The workspace's binaries, built by `cargo build --profile $CARGO_PROFILE`:
# the release build by default, as users run it (`make test` uses dev).
CARGO_PROFILE=${CARGO_PROFILE:-release}
cargo_bin() { echo "${CARGO_TARGET_DIR:-$ROOT_DIR/target}/$(profile_dir "$CARGO_PROFILE")/$1"; }

# `--metrics NAME=URL` for each service, one word a line (for sagactl).
metrics_args() {
  local name
  for name in $SERVICES; do printf -- '--metrics\n%s=%s/metrics\n' "$name" "$(service_url "$name")"; done
}

# sagactl of this profile against this stack's databases (as admin when secured).
sagactl() {
  local kafka; mapfile -t kafka < <(kafka_env admin)
  ORDERS_DATABASE_URL=$(service_database_url order-service) \
    BILLING_DATABASE_URL=$(service_database_url billing-service) \
    NOTIFICATIONS_DATABASE_URL=$(service_database_url notification-service) \
    env "${kafka[@]}" "$(cargo_bin sagactl)" "$@"
}

# PostgreSQL's programs: PG_BIN, else the newest Debian cluster's, else the PATH's.
pg_program() {
  local dir=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
  if [ -n "$dir" ] && [ -x "$dir/$1" ]; then
    echo "$dir/$1"
  elif [ -z "${PG_BIN:-}" ]; then
    command -v "$1"
  else
    return 1
  fi
}

# A TCP port nothing listens on now, chosen by the kernel.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Matches a service of this checkout built in any profile, so `down` and
# `status` find it whatever CARGO_PROFILE it was started with.
service_pattern() { echo "${CARGO_TARGET_DIR:-$ROOT_DIR/target}/*/$1"; }

# The target directory (debug, release, ...) of the running binary of a service.
running_profile_dir() {
  local pid exe
  pid=$(pid_of "$1" "$(service_pattern "$1")") || return 1
  exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)
  basename "$(dirname "$exe")"
}

profile_dir() { if [ "$1" = dev ]; then echo debug; else echo "$1"; fi; }
dir_profile() { if [ "$1" = debug ]; then echo dev; else echo "$1"; fi; }

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Describes who listens on a port, for error messages.
port_owner() {
  local owner=""
  command -v ss >/dev/null && owner=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1)
  printf '%s' "${owner:-an unknown process}"
}

# Fails with a clear message when a port we are about to bind is taken.
require_free_port() { # port what
  if port_open "$1"; then
    die "port $1 (wanted by $2) is already in use by $(port_owner "$1"); stop it or choose another port (see docs/operations.md, Configuration)"
  fi
}

# pidfile helpers: a component is "ours and running" only when its pidfile
# names a live process whose command line still matches what we started.
pid_of() { # name pattern -> prints pid if running
  local f=$RUN_DIR/$1.pid pid cmd i
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  for i in 1 2 3 4 5 6 7 8 9 10; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    if [ -n "$cmd" ]; then
      # shellcheck disable=SC2053 # $2 is a glob on purpose (see service_pattern)
      if [[ $cmd == *${2:-}* ]]; then
        echo "$pid"
        return 0
      fi
      break # a different program reuses the pid
    fi
    # The command line reads empty while the process is in exec (longer on a
    # busy machine): alive and still unreadable after a second, it is ours.
    [ "$i" = 10 ] && { echo "$pid"; return 0; }
    sleep 0.1
  done
  rm -f "$f"
  return 1
}

# Sends SIGTERM, waits up to $3 seconds, then SIGKILL.
stop_pid() { # name pid timeout
  local name=$1 pid=$2 timeout=${3:-30} i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$RUN_DIR/$name".{pid,security}; return 0; }
    sleep 0.25
  done
  warn "$name (pid $pid) did not stop within ${timeout}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN_DIR/$name".{pid,security}
}
