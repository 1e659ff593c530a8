#!/usr/bin/env bash
# Init step of the kafka-topics Job: blocks until at least
# TOPIC_REPLICATION_FACTOR brokers answer, so that ensure-topics.sh can create
# topics with that many replicas (on a fresh 3-broker cluster the first broker
# is up long before the other two).
set -uo pipefail
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?KAFKA_BOOTSTRAP_SERVERS is required}
want=${TOPIC_REPLICATION_FACTOR:-1}
api_versions=${KAFKA_BROKER_API_VERSIONS_CMD:-/opt/kafka/bin/kafka-broker-api-versions.sh}

while :; do
  # One line per live broker: "<host>:9092 (id: 0 rack: null ...) -> (".
  brokers=$(timeout 60 "$api_versions" --bootstrap-server "$bootstrap" 2>/dev/null | grep -c '(id: ')
  if ((brokers >= want)); then
    echo "kafka: $brokers broker(s) answer at $bootstrap"
    exit 0
  fi
  echo "waiting for kafka at $bootstrap: $brokers of $want broker(s) answer"
  sleep 5
done
