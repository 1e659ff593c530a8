#!/usr/bin/env bash
# /etc/kafka/docker/run of the saga kafka image, the apache/kafka convention:
# KAFKA_<PROPERTY> variables (dots as underscores) become
# /opt/kafka/config/server.properties, written by Kafka's own
# kafka.docker.KafkaDockerWrapper, which also formats the storage with
# CLUSTER_ID on the first start; then the broker runs in the foreground.
set -euo pipefail
# NAME=VALUE arguments override the environment, as in the official image.
for assignment in "$@"; do export "${assignment?}"; done
# Fixed, so that a restarted container finds the storage it formatted.
export CLUSTER_ID=${CLUSTER_ID:-MLvGIeuERua5zDqEIG2byw}
echo "kafka: node ${KAFKA_NODE_ID:-1}, cluster $CLUSTER_ID, as user $(id -u)"
# Formatting storage that already is formatted fails; that is the normal restart.
if ! output=$(/opt/kafka/bin/kafka-run-class.sh kafka.docker.KafkaDockerWrapper setup \
  --default-configs-dir /etc/kafka/docker \
  --mounted-configs-dir /mnt/shared/config \
  --final-configs-dir /opt/kafka/config 2>&1); then
  grep -qi 'already formatted' <<<"$output" || { echo "$output" >&2 && exit 1; }
fi
echo "$output"
exec /opt/kafka/bin/kafka-server-start.sh /opt/kafka/config/server.properties
