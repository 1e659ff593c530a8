//! Kafka client construction and the cluster probe used by readiness.

use crate::config::KafkaConfig;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, Producer};
use std::time::Duration;

/// Base client configuration shared by every producer and consumer.
pub fn client_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", client_id);
    config
}

/// A producer with the durability the outbox relies on: `acks=all` and
/// idempotence, so a retried send never duplicates or reorders a record.
pub fn create_producer(
    kafka: &KafkaConfig,
    client_id: &str,
) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    client_config(kafka, client_id)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        // Fail a send after 15 s instead of librdkafka's 5 minutes, so the
        // outbox row is retried (and the failure is visible) promptly.
        .set("message.timeout.ms", "15000")
        .create()
}

/// Asks the cluster for its metadata: succeeds only when a broker answers
/// within `timeout`. librdkafka's call blocks, so it runs off the async threads.
pub async fn probe_cluster(producer: &FutureProducer, timeout: Duration) -> Result<(), String> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(None, timeout)
            .map(|metadata| metadata.brokers().len())
    })
    .await
    .map_err(|e| format!("probe task failed: {e}"))?
    .map_err(|e| e.to_string())
    .and_then(|brokers| {
        if brokers > 0 {
            Ok(())
        } else {
            Err("no brokers in metadata".into())
        }
    })
}
