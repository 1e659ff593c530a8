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

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The producer every service uses (outbox relay, dead letters, readiness).
pub type SagaProducer = FutureProducer<KafkaContext>;

/// Routes librdkafka's logs and errors into `tracing`. While a broker is
/// down librdkafka reports the same failure many times a second; the
/// warning is throttled (`common::throttle`), saying how many were
/// suppressed, so an outage is visible without drowning the log.
///
/// It also keeps the last authentication or TLS failure: librdkafka only
/// reports those through this callback, while the request that needed the
/// connection merely times out, so readiness adds it to say why.
pub struct KafkaContext {
    reports: LogThrottle,
    refusals: Refusals,
}

impl Default for KafkaContext {
    fn default() -> Self {
        Self {
            reports: LogThrottle::new("kafka_client"),
            refusals: Refusals::default(),
        }
    }
}

/// The last authentication or TLS failure a client's context saw since the
/// cluster last answered; a handle kept outside the client, which hides its
/// context.
#[derive(Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<String>>>);

impl Refusals {
    pub fn last(&self) -> Option<String> {
        self.0.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.0.lock().unwrap().take();
    }
}

impl KafkaContext {
    /// Logs `message` as a warning unless one was logged within the
    /// interval; then only counts it.
    pub fn report(&self, message: &str) {
        self.reports.warn(message);
    }

    /// A handle on the failures this context will see.
    pub fn refusals(&self) -> Refusals {
        self.refusals.clone()
    }
}

/// Whether the broker refused who we are (credentials, certificates), as
/// opposed to being unreachable.
fn is_refusal(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::SSL
        )
    )
}

/// Whether the broker's ACLs deny what was asked (produce, read, join a
/// group): a matter of configuration, so the work waits instead of being
/// dead-lettered, and the denial is shown (`kafka_access_denied`).
pub fn is_denied(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    )
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
        if is_refusal(&error) {
            *self.refusals.0.lock().unwrap() = Some(format!("{error}: {reason}"));
        }
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

/// How long librdkafka waits for more records before it sends a request.
const PRODUCER_LINGER_MS: &str = "1";

/// A producer with the durability the outbox relies on: `acks=all` and
/// idempotence, so a retried send never duplicates or reorders a record.
pub fn create_producer(kafka: &KafkaConfig, client_id: &str) -> Result<SagaProducer, KafkaError> {
    create_producer_with(kafka, client_id, KafkaContext::default())
}

/// [`create_producer`] with a context whose [`Refusals`] the caller kept.
pub fn create_producer_with(
    kafka: &KafkaConfig,
    client_id: &str,
    context: KafkaContext,
) -> Result<SagaProducer, KafkaError> {
    client_config(kafka, client_id)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        // Fail a send after 15 s instead of librdkafka's 5 minutes, so the
        // outbox row is retried (and the failure is visible) promptly.
        .set("message.timeout.ms", "15000")
        // The relay hands over a whole batch at once and then waits for its
        // acknowledgements: lingering longer than librdkafka needs to take
        // them in (its default is 5 ms) gathers nothing more, it only adds
        // latency to every event.
        .set("linger.ms", PRODUCER_LINGER_MS)
        .create_with_context(context)
}

/// Whether a failed send can never succeed as it is (too large, invalid,
/// refused by a policy): retrying it would wait forever while the broker is
/// healthy. Anything else (timeouts, brokers or leaders unavailable, ACLs
/// that deny it: [`is_denied`]) is waited out.
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
                | RDKafkaErrorCode::PolicyViolation
        )
    )
}

/// Asks the cluster for its metadata: succeeds only when a broker answers
/// within `timeout`; a failure names the authentication or TLS error behind
/// it, if there was one. librdkafka's call blocks, so it runs off the async
/// threads.
pub async fn probe_cluster(
    producer: &SagaProducer,
    refusals: &Refusals,
    timeout: Duration,
) -> Result<(), String> {
    let client = producer.clone();
    let result = tokio::task::spawn_blocking(move || {
        client
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
    });
    match result {
        Ok(()) => {
            refusals.clear();
            Ok(())
        }
        Err(e) => Err(match refusals.last() {
            Some(refusal) => format!("{e}; the broker refused the connection: {refusal}"),
            None => e,
        }),
    }
}
