//! Kafka client construction and the cluster probe used by readiness.

use crate::config::KafkaConfig;
use crate::envelope::{self, Header, Record};
use crate::throttle::LogThrottle;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::TopicPartitionList;

use std::time::Duration;

/// The producer every service uses (outbox relay, dead letters, readiness).
pub type SagaProducer = FutureProducer<KafkaContext>;

/// Routes librdkafka's logs and errors into `tracing`. While a broker is
/// down librdkafka reports the same failure many times a second; the
/// warning is throttled (`common::throttle`), saying how many were
/// suppressed, so an outage is visible without drowning the log.
pub struct KafkaContext {
    reports: LogThrottle,
}

impl Default for KafkaContext {
    fn default() -> Self {
        Self {
            reports: LogThrottle::new("kafka_client"),
        }
    }
}

impl KafkaContext {
    /// Logs `message` as a warning unless one was logged within the
    /// interval; then only counts it.
    pub fn report(&self, message: &str) {
        self.reports.warn(message);
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => self.report(&format!("{facility}: {message}")),
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "{facility}: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{facility}: {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", "{facility}: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.report(&format!("{error}: {reason}"));
    }
}

impl ConsumerContext for KafkaContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions assigned")
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed; records since the last commit may be redelivered");
        }
    }
}

fn describe(partitions: &TopicPartitionList) -> String {
    partitions
        .elements()
        .iter()
        .map(|p| format!("{}[{}]", p.topic(), p.partition()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Base client configuration shared by every producer and consumer.
pub fn client_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    ClientConfig::from_iter(kafka.client_settings(client_id))
}

/// A record's headers in order, as the contract reads them.
pub fn headers<M: Message>(message: &M) -> Vec<Header<'_>> {
    message
        .headers()
        .map(|h| h.iter().map(|h| (h.key, h.value)).collect())
        .unwrap_or_default()
}

/// A consumed record as the contract's envelope reads it.
pub fn record<M: Message>(message: &M) -> Record<'_> {
    Record {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key(),
        headers: headers(message),
        value: message.payload(),
    }
}

/// Header `name` of `message` as text, by the contract's rule
/// ([`envelope::header_text`]).
pub fn header_text<'a, M: Message>(message: &'a M, name: &str) -> Option<&'a str> {
    envelope::header_text(headers(message), name)
}

/// A producer with the durability the outbox relies on: `acks=all` and
/// idempotence, so a retried send never duplicates or reorders a record.
pub fn create_producer(kafka: &KafkaConfig, client_id: &str) -> Result<SagaProducer, KafkaError> {
    client_config(kafka, client_id)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        // Fail a send after 15 s instead of librdkafka's 5 minutes, so the
        // outbox row is retried (and the failure is visible) promptly.
        .set("message.timeout.ms", "15000")
        .create_with_context(KafkaContext::default())
}

/// Whether a failed send can never succeed as it is (too large, invalid,
/// not allowed): retrying it would wait forever while the broker is healthy.
/// Anything else (timeouts, brokers or leaders unavailable) is an outage.
pub fn is_permanent_produce_error(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidArgument
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::PolicyViolation
        )
    )
}

/// Asks the cluster for its metadata: succeeds only when a broker answers
/// within `timeout`. librdkafka's call blocks, so it runs off the async threads.
pub async fn probe_cluster(producer: &SagaProducer, timeout: Duration) -> Result<(), String> {
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
