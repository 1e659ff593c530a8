#!/usr/bin/env bash
# /opt/kafka/bin of the saga kafka image: the jars come from Maven Central
# (kafka-setup/pom.xml), not from a distribution, so its bin/*.sh scripts are
# this one file, installed as kafka-run-class.sh and linked under each tool's
# name. It reads the variables the distribution's scripts read: KAFKA_HEAP_OPTS,
# KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS, KAFKA_OPTS and LOG_DIR.
set -euo pipefail
home=/opt/kafka
config=$home/config/tools-log4j2.yaml
heap=-Xmx256m
case $(basename "$0") in
kafka-run-class.sh)
  [ $# -ge 1 ] || { echo "usage: kafka-run-class.sh CLASS [ARGS...]" >&2 && exit 1; }
  class=$1
  shift
  ;;
kafka-server-start.sh)
  class=kafka.Kafka config=$home/config/log4j2.yaml heap="-Xmx1G -Xms1G"
  ;;
kafka-storage.sh) class=kafka.tools.StorageTool ;;
kafka-topics.sh) class=org.apache.kafka.tools.TopicCommand ;;
kafka-configs.sh) class=kafka.admin.ConfigCommand ;;
kafka-acls.sh) class=org.apache.kafka.tools.AclCommand ;;
kafka-broker-api-versions.sh) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
kafka-metadata-quorum.sh) class=org.apache.kafka.tools.MetadataQuorumCommand ;;
kafka-consumer-groups.sh) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
kafka-console-consumer.sh) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
kafka-console-producer.sh) class=org.apache.kafka.tools.ConsoleProducer ;;
kafka-producer-perf-test.sh) class=org.apache.kafka.tools.ProducerPerformance ;;
*) echo "$(basename "$0"): not a tool of this image" >&2 && exit 1 ;;
esac
LOG_DIR=${LOG_DIR:-$home/logs}
mkdir -p "$LOG_DIR"
# shellcheck disable=SC2086 # each variable holds several JVM options
exec java ${KAFKA_HEAP_OPTS:-$heap} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$config} -Dkafka.logs.dir="$LOG_DIR" \
  ${KAFKA_OPTS:-} -cp "$home/libs/*" "$class" "$@"
