#!/usr/bin/env bash
# Runs the images that k8s/images/build.sh made the way the manifests run them
# (their users, read-only root filesystems, environment and volumes), in a
# private containerd: its own root, state and socket under
# $STATE_DIR/images/verify, no CRI, runc, host network, free ports. Stopped and
# unmounted on exit.
#
#   k8s/images/verify.sh [postgres kafka services sagactl k6]   (default: all;
#                                                     services start postgres and kafka)
#
# postgres: initialised with the init script, pg_isready, password logins;
# kafka: seeded config, KRaft combined node from the StatefulSet's variables,
# the topics Job's two scripts; the services: ready against both, and the
# preStop `sleep`; one without a database fails clearly; sagactl and k6 answer.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"

IMAGES_DIR=$STATE_DIR/images
W=$IMAGES_DIR/verify
COMPONENT=$ROOT_DIR/k8s/components/in-cluster-kafka-postgres
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT_DIR/kafka-setup/pom.xml")
K6_VERSION=$(sed -n 's|.*image: grafana/k6:\([0-9.]*\).*|\1|p' "$ROOT_DIR/k8s/base/k6/cronjob.yaml")
SERVICES_REFS="order-service billing-service notification-service"

[ "$(id -u)" = 0 ] || die "run as root (containerd)"
if grep -q " $W/" /proc/mounts; then die "mounts left under $W from an earlier run; unmount them first"; fi
rm -rf "$W"
mkdir -p "$W"

c() { ctr --address "$W/containerd.sock" --namespace saga-verify "$@"; }
failures=0
pass() { echo "ok   $*"; }
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}

cat >"$W/config.toml" <<EOF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/containerd.sock"
[ttrpc]
  address = "$W/containerd.sock.ttrpc"
EOF
containerd --config "$W/config.toml" >"$W/containerd.log" 2>&1 &
containerd_pid=$!

cleanup() {
  local task mount
  for task in $(c tasks ls -q 2>/dev/null); do c tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
  sleep 1
  for task in $(c containers ls -q 2>/dev/null); do
    c tasks delete -f "$task" >/dev/null 2>&1 || true
    c containers delete "$task" >/dev/null 2>&1 || true
  done
  kill "$containerd_pid" 2>/dev/null && wait "$containerd_pid" 2>/dev/null
  # Whatever containerd left mounted under W (snapshots, shm), deepest first.
  for mount in $(awk -v w="$W/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$mount" || umount -l "$mount"
  done
  if grep -q " $W/" /proc/mounts; then
    echo "warning: mounts left under $W" >&2
  else
    # The imported copies (about 2 GB); the logs and volumes stay for a look.
    rm -rf "$W/root" "$W/state"
  fi
}
trap cleanup EXIT

for _ in $(seq 50); do [ -S "$W/containerd.sock" ] && break; sleep 0.2; done
[ -S "$W/containerd.sock" ] || die "containerd did not start; log: $W/containerd.log"

start=$SECONDS
for archive in "$IMAGES_DIR"/*.tar; do c images import "$archive" >/dev/null; done

say "imported $(c images ls -q | paste -sd' ') in $((SECONDS - start)) s"

# volume NAME UID [MODE]: a host directory standing in for a volume.
volume() {
  mkdir -p "$W/volumes/$1"
  chown "$2:$2" "$W/volumes/$1"
  chmod "${3:-0755}" "$W/volumes/$1"
  echo "$W/volumes/$1"
}
bind() { echo "type=bind,src=$1,dst=$2,options=rbind:${3:-rw}"; }
# run ID IMAGE [ctr options...] -- [ARGS...]: read-only root, host network, the
# image's own user (ctr 1.6 has no --user): the one the manifests set. ARGS
# replace entry point and command alike, so they start with the entry point.
run() {
  local id=$1 image=$2 options=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    options+=("$1")
    shift
  done
  shift
  # A detached container's output goes to $W/ID.log.
  [[ " ${options[*]} " != *" -d "* ]] || options+=(--log-uri "file://$W/$id.log")
  c run --net-host --read-only --seccomp "${options[@]}" "$image" "$id" "$@"
}
stopped() { c tasks ls | grep -q "^$1 .*STOPPED"; }
wait_for() { # seconds what command...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
  echo "    $what after $((SECONDS - start)) s"
}

# The broker as the StatefulSet runs it (single node, node id from the pod name).
start_kafka() {
  run kafka "$kafka_image" -d \
    --env POD_NAME=kafka-0 --env CLUSTER_ID=cpnJpsZMQ2WsuqY_gwFHUw --env KAFKA_PROCESS_ROLES=broker,controller \
    --env "KAFKA_CONTROLLER_QUORUM_VOTERS=0@localhost:$k_controller" \
    --env "KAFKA_LISTENERS=PLAINTEXT://:$k_port,CONTROLLER://:$k_controller" \
    --env "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:$k_port" \
    --env KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT --env KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
    --env KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT \
    --env KAFKA_LOG_DIRS=/var/lib/kafka/data/kraft-logs --env KAFKA_AUTO_CREATE_TOPICS_ENABLE=false \
    --env KAFKA_NUM_PARTITIONS=6 --env KAFKA_DEFAULT_REPLICATION_FACTOR=1 --env KAFKA_MIN_INSYNC_REPLICAS=1 \
    --env KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 --env KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 \
    --env KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 --env KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1 \
    --env KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1 --env KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0 \
    --env "KAFKA_HEAP_OPTS=-Xms128m -Xmx384m" --env LOG_DIR=/opt/kafka/logs \
    --mount "$(bind "$(volume kafka-data 1000)" /var/lib/kafka/data)" \
    --mount "$(bind "$config" /opt/kafka/config)" \
    --mount "$(bind "$(volume kafka-logs 1000)" /opt/kafka/logs)" \
    --mount "$(bind "$(volume kafka-tmp 0 1777)" /tmp)" \
    -- bash -c 'export KAFKA_NODE_ID="${POD_NAME##*-}"; exec /etc/kafka/docker/run'
}

# --- postgres, as postgres.yaml runs it
verify_postgres() {
  pg_port=$(free_port)
  init=$W/postgres-init
  mkdir -p "$init"
  install -m 0555 "$COMPONENT/postgres/init-service-databases.sh" "$init/"
  pg_env=(--env POSTGRES_USER=postgres --env POSTGRES_PASSWORD=dev-postgres
    --env PGDATA=/var/lib/postgresql/data/pgdata --env ORDERS_DB_PASSWORD=dev-orders
    --env BILLING_DB_PASSWORD=dev-billing --env NOTIFICATIONS_DB_PASSWORD=dev-notifications)
  start=$SECONDS
  run postgres docker.io/saga/postgres:15-local -d "${pg_env[@]}" \
    --mount "$(bind "$(volume pg-data 999)" /var/lib/postgresql/data)" \
    --mount "$(bind "$init" /docker-entrypoint-initdb.d ro)" \
    --mount "$(bind "$(volume pg-run 999)" /var/run/postgresql)" \
    --mount "$(bind "$(volume pg-tmp 0 1777)" /tmp)" \
    -- postgres-entrypoint.sh -c max_connections=200 -c "port=$pg_port" >/dev/null
  pg() { c tasks exec --exec-id "pg$RANDOM" postgres "$@"; }
  if wait_for 120 "postgres answers pg_isready on 127.0.0.1:$pg_port" pg pg_isready -h 127.0.0.1 -p "$pg_port" -U postgres; then
    pass "postgres: initdb, init script, pg_isready -h 127.0.0.1 (as the probes) in $((SECONDS - start)) s"
  else
    fail "postgres: no answer to pg_isready; $(c tasks ls | grep postgres)"
  fi
  uid=$(pg id -u)
  [ "$uid" = 999 ] && pass "postgres: runs as uid 999" || fail "postgres: runs as uid $uid"
  for login in postgres:dev-postgres:postgres orders:dev-orders:orders billing:dev-billing:billing notifications:dev-notifications:notifications; do
    IFS=: read -r user password db <<<"$login"
    if got=$(pg psql -tA "postgresql://$user:$password@127.0.0.1:$pg_port/$db" -c 'select current_user, current_setting($$max_connections$$)' 2>&1) &&
      [ "$got" = "$user|200" ]; then
      pass "postgres: $user logs in over TCP with its password (scram), max_connections 200"
    else
      fail "postgres: $user login: $got"
    fi
  done
  if pg psql -tA "postgresql://orders:wrong@127.0.0.1:$pg_port/orders" -c 'select 1' >/dev/null 2>&1; then
    fail "postgres: a wrong password was accepted"
  else
    pass "postgres: a wrong password is refused"
  fi
}

# --- kafka, as kafka.yaml runs it (the init container, then the broker)
verify_kafka() {
  k_port=$(free_port)
  k_controller=$(free_port)
  kafka_image=docker.io/saga/kafka:$KAFKA_VERSION-local
  config=$(volume kafka-config 1000)
  start=$SECONDS
  if run kafka-seed "$kafka_image" --rm --mount "$(bind "$config" /seed)" -- cp -a /opt/kafka/config/. /seed/ &&
    [ -s "$config/server.properties" ]; then
    pass "kafka: init container seeded $(ls "$config" | paste -sd' ')"
  else
    fail "kafka: init container did not seed the config volume"
  fi
  start_kafka
  if wait_for 120 "kafka accepts connections on $k_port" port_open "$k_port"; then
    pass "kafka: formatted and started (KRaft, combined, node 0) in $((SECONDS - start)) s"
  else
    fail "kafka: no listener on $k_port; $W/kafka.log: $(tail -n 5 "$W/kafka.log")"
  fi
  grep -q '^node.id=0$' "$config/server.properties" && grep -q '^auto.create.topics.enable=false$' "$config/server.properties" &&
    pass "kafka: server.properties from the KAFKA_* variables (node.id=0, auto.create.topics.enable=false)" ||
    fail "kafka: server.properties lacks the StatefulSet's settings"

  # A restart (new container, same volumes): storage already formatted.
  start=$SECONDS
  c tasks kill -s SIGTERM kafka
  wait_for 60 "kafka stopped" stopped kafka || fail "kafka: still running 60 s after SIGTERM"
  c tasks delete kafka >/dev/null
  c containers delete kafka
  start_kafka
  if wait_for 120 "kafka accepts connections again" port_open "$k_port"; then
    pass "kafka: restarted on its formatted storage in $((SECONDS - start)) s"
  else
    fail "kafka: no listener after the restart; $(tail -n 5 "$W/kafka.log")"
  fi

  # --- the topics Job: its init container, then ensure-topics.sh, twice
  scripts=$W/kafka-topics
  mkdir -p "$scripts"
  cp "$COMPONENT/generated/topics.conf" "$COMPONENT/generated/ensure-topics.sh" "$COMPONENT/kafka/wait-for-brokers.sh" "$scripts/"
  job_env=(--env "KAFKA_BOOTSTRAP_SERVERS=localhost:$k_port" --env TOPIC_REPLICATION_FACTOR=1
    --env LOG_DIR=/tmp/kafka-logs --env KAFKA_HEAP_OPTS=-Xmx128m --env TOPIC_CATALOGUE=/etc/kafka-topics/topics.conf
    --env KAFKA_TOPICS_CMD=/opt/kafka/bin/kafka-topics.sh --env KAFKA_CONFIGS_CMD=/opt/kafka/bin/kafka-configs.sh)
  job_mounts=(--mount "$(bind "$scripts" /etc/kafka-topics ro)" --mount "$(bind "$(volume job-tmp 0 1777)" /tmp)")
  start=$SECONDS
  if out=$(run wait-for-kafka "$kafka_image" --rm "${job_env[@]}" "${job_mounts[@]}" -- bash /etc/kafka-topics/wait-for-brokers.sh 2>&1); then
    pass "kafka-topics Job: wait-for-brokers.sh: ${out##*$'\n'} ($((SECONDS - start)) s)"
  else
    fail "kafka-topics Job: wait-for-brokers.sh: $out"
  fi
  for round in first second; do
    start=$SECONDS
    if out=$(run "ensure-topics-$round" "$kafka_image" --rm "${job_env[@]}" "${job_mounts[@]}" -- bash /etc/kafka-topics/ensure-topics.sh 2>&1); then
      pass "kafka-topics Job, $round run: ${out##*$'\n'} ($((SECONDS - start)) s)"
    else
      fail "kafka-topics Job, $round run: $out"
    fi
  done
}

# --- the services against both, as their Deployments run them
verify_services() {
  declare -A db=([order-service]=orders [billing-service]=billing [notification-service]=notifications)
  for service in $SERVICES_REFS; do
    port=$(free_port)
    start=$SECONDS
    run "$service" "docker.io/saga/$service:local" -d \
      --env HTTP_HOST=0.0.0.0 --env "HTTP_PORT=$port" --env LOG_FORMAT=json --env "RUST_LOG=info,sqlx=warn" \
      --env "KAFKA_BOOTSTRAP_SERVERS=localhost:$k_port" \
      --env "DATABASE_URL=postgres://${db[$service]}:dev-${db[$service]}@127.0.0.1:$pg_port/${db[$service]}" \
      --
    if wait_for 90 "$service ready on $port" curl -fsS "http://127.0.0.1:$port/health/ready"; then
      pass "$service: /health/ready 200 with postgres and kafka ($((SECONDS - start)) s)"
    else
      fail "$service: not ready; $(tail -n 3 "$W/$service.log")"
    fi
    if c tasks exec --exec-id prestop "$service" sleep 1; then
      pass "$service: the preStop hook's sleep runs"
    else
      fail "$service: no sleep for the preStop hook"
    fi
    start=$SECONDS
    c tasks kill -s SIGTERM "$service"
    wait_for 30 "$service stopped" stopped "$service" &&
      pass "$service: SIGTERM stops it in $((SECONDS - start)) s" || fail "$service: still running 30 s after SIGTERM"
    c tasks delete "$service" >/dev/null 2>&1 || true
    c containers delete "$service"
  done
  # Without a database a service stays up (liveness needs only HTTP, so an
  # outage restarts no pod) and reports itself not ready, saying why.
  port=$(free_port)
  run no-db docker.io/saga/order-service:local -d --env HTTP_HOST=0.0.0.0 --env "HTTP_PORT=$port" \
    --env "DATABASE_URL=postgres://orders:x@127.0.0.1:$(free_port)/orders" --env "KAFKA_BOOTSTRAP_SERVERS=localhost:$k_port" --
  if wait_for 30 "order-service without a database live" curl -fsS "http://127.0.0.1:$port/health/live" &&
    ready=$(curl -sS -w ' (HTTP %{http_code})' "http://127.0.0.1:$port/health/ready") && [[ $ready != *"(HTTP 200)" ]]; then
    pass "order-service without a database: live, not ready: $(cut -c1-160 <<<"$ready")"
  else
    fail "order-service without a database: ${ready:-not live}; $(tail -n 3 "$W/no-db.log")"
  fi
  c tasks kill -s SIGKILL no-db
}

# --- sagactl and k6
verify_sagactl() {
  if out=$(run sagactl docker.io/saga/sagactl:local --rm -- sagactl --help 2>&1); then
    pass "sagactl: --help: ${out%%$'\n'*}"
  else
    fail "sagactl --help: $out"
  fi
}
verify_k6() {
  if out=$(run k6 "docker.io/saga/k6:$K6_VERSION-local" --rm --mount "$(bind "$(volume k6-tmp 0 1777)" /tmp)" -- k6 version 2>&1) &&
    [[ $out == *"v$K6_VERSION"* ]]; then
    pass "k6: ${out%%$'\n'*}"
  else
    fail "k6 version: $out"
  fi
}

checks=" ${*:-postgres kafka services sagactl k6} "
[[ $checks != *" services "* ]] || checks=" postgres kafka $checks"
for check in postgres kafka services sagactl k6; do
  [[ $checks != *" $check "* ]] || "verify_$check"
done

[ "$failures" -eq 0 ] || die "$failures check(s) failed"
say "all images behave as the manifests expect"
