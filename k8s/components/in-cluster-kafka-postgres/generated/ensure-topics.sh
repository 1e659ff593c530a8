#!/usr/bin/env bash
# Makes the cluster's topics match the catalogue (topics.conf), idempotently:
# creates missing topics, grows partition counts, and sets retention.ms and
# min.insync.replicas where they differ. Never deletes a topic or shrinks one.
#
# Runs locally (kafka.sh start) and in the Kubernetes topics Job, so it only
# needs bash and Kafka's two CLIs. Environment:
#   KAFKA_BOOTSTRAP_SERVERS   required (kafka.sh passes the local stack's)
#   TOPIC_CATALOGUE           default topics.conf beside this script
#   TOPIC_REPLICATION_FACTOR  replicas for new topics, default 1
#   KAFKA_TOPICS_CMD          default bin/kafka-topics beside this script
#   KAFKA_CONFIGS_CMD         default bin/kafka-configs beside this script
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?set KAFKA_BOOTSTRAP_SERVERS, e.g. host:port}
catalogue=${TOPIC_CATALOGUE:-$here/topics.conf}
replication=${TOPIC_REPLICATION_FACTOR:-1}
topics_cmd=${KAFKA_TOPICS_CMD:-$here/bin/kafka-topics}
configs_cmd=${KAFKA_CONFIGS_CMD:-$here/bin/kafka-configs}

[ -r "$catalogue" ] || { echo "error: topic catalogue $catalogue not readable" >&2; exit 1; }

# One describe for the whole cluster; its summary lines look like
# "Topic: x<TAB>TopicId: ..<TAB>PartitionCount: 6<TAB>ReplicationFactor: 1<TAB>Configs: a=b,c=d".
declare -A existing_partitions existing_configs
while IFS=$'\t' read -r topic _ partitions _ configs _; do
  name=${topic#Topic: }
  existing_partitions[$name]=${partitions#PartitionCount: }
  existing_configs[$name]=${configs#Configs: }
done < <($topics_cmd --bootstrap-server "$bootstrap" --describe --exclude-internal | grep '^Topic:')

created=0 updated=0 unchanged=0
while read -r name partitions retention min_isr _; do
  case "$name" in '' | '#'*) continue ;; esac
  ((min_isr > replication)) && min_isr=$replication
  wanted="min.insync.replicas=$min_isr,retention.ms=$retention"

  if [ -z "${existing_partitions[$name]:-}" ]; then
    $topics_cmd --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$name" \
      --partitions "$partitions" --replication-factor "$replication" \
      --config "min.insync.replicas=$min_isr" --config "retention.ms=$retention" >/dev/null
    echo "topic $name: created ($partitions partitions, $wanted)"
    created=$((created + 1))
    continue
  fi

  changed=""
  have=${existing_partitions[$name]}
  if ((have < partitions)); then
    $topics_cmd --bootstrap-server "$bootstrap" --alter --topic "$name" --partitions "$partitions" >/dev/null
    changed="partitions $have -> $partitions"
  elif ((have > partitions)); then
    echo "warning: topic $name has $have partitions, the catalogue says $partitions; Kafka cannot shrink a topic, left as is" >&2
  fi
  # Compare as sorted key=value sets: only our two keys matter.
  current=$(tr ',' '\n' <<<"${existing_configs[$name]}" | { grep -E '^(min\.insync\.replicas|retention\.ms)=' || true; } | sort | paste -sd, -)
  if [ "$current" != "$wanted" ]; then
    $configs_cmd --bootstrap-server "$bootstrap" --alter --entity-type topics --entity-name "$name" \
      --add-config "$wanted" >/dev/null
    changed="${changed:+$changed, }configs {$current} -> {$wanted}"
  fi
  if [ -n "$changed" ]; then
    echo "topic $name: updated ($changed)"
    updated=$((updated + 1))
  else
    unchanged=$((unchanged + 1))
  fi
done <"$catalogue"

echo "topics: $created created, $updated updated, $unchanged already as the catalogue says"
