//! Idempotent consumers with dead-lettering.
//!
//! Guarantee: a record's offset is stored (and later auto-committed) only
//! after its effects are durable — the handler's state change, the inbox row
//! and any outbox rows committed together — or after it was dead-lettered.
//! Auto-commit therefore never acknowledges an unprocessed record. Records
//! already fetched are applied in batches (one transaction, in partition
//! order); a batch that cannot be applied whole is rolled back and its records
//! are handled one at a time.
//!
//! - A record seen before (same consumer group and event id in the inbox) is
//!   acknowledged and skipped.
//! - A record that can never succeed (bad envelope, not JSON, unknown type or
//!   version, invalid body) goes to `<topic>.dlq` with its key, value and
//!   headers, plus headers naming its origin and the error.
//! - A transient failure (database or broker unavailable) is retried on the
//!   same record with backoff: never skipped, never dead-lettered.

use crate::config::KafkaConfig;
use crate::envelope::{dlq, IncomingEvent};
use crate::kafka::SagaProducer;
use crate::kafka::{client_config, KafkaContext};
use crate::outbox::{Outbox, OutboxBatch};
use crate::topics::DLQ_SUFFIX;
use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use futures_util::{FutureExt, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// How handling a record failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// No retry can fix it: dead-letter the record.
    #[error("{0}")]
    Permanent(String),
    /// Worth retrying the same record (database or broker unavailable).
    #[error("{0}")]
    Transient(String),
}

impl From<sqlx::Error> for HandleError {
    /// Data and constraint errors (SQLSTATE classes 22 and 23) come from the
    /// record itself and would fail forever; anything else is the database
    /// being unavailable or busy, which passes.
    fn from(e: sqlx::Error) -> Self {
        let permanent = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23"));
        if permanent {
            HandleError::Permanent(e.to_string())
        } else {
            HandleError::Transient(e.to_string())
        }
    }
}

/// A service's reaction to the events of its topics.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Whether this event type and version is understood; others are dead-lettered.
    fn accepts(&self, event_type: &str, event_version: i32) -> bool;

    /// Applies the event inside `conn`'s transaction (which also holds the
    /// inbox row). Events pushed to `outbox` are inserted in that same
    /// transaction, once for the whole batch, before it commits.
    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
        outbox: &mut OutboxBatch,
    ) -> Result<(), HandleError>;
}

/// One consumer group over some of the catalogue's topics.
#[derive(Clone)]
pub struct ConsumerDefinition {
    /// Consumer group id, also the inbox's `consumer_group`.
    pub group: String,
    /// Logical topic names (the configured prefix is added).
    pub topics: Vec<&'static str>,
    pub handler: Arc<dyn EventHandler>,
}

/// What a running consumer needs from its service.
pub struct ConsumerRuntime {
    pub pool: PgPool,
    pub producer: SagaProducer,
    pub outbox: Outbox,
    pub kafka: KafkaConfig,
    pub client_id: String,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Most records applied in one transaction.
    pub batch_size: usize,
}

enum Outcome {
    Processed,
    Duplicate,
    DeadLettered,
    /// Shutdown came while retrying: leave the offset unstored.
    Interrupted,
}

impl ConsumerRuntime {
    /// Consumes until `shutdown` turns true, finishing the record under way
    /// and committing stored offsets before returning.
    pub async fn run(self, definition: ConsumerDefinition, mut shutdown: watch::Receiver<bool>) {
        let consumer: StreamConsumer<KafkaContext> = match client_config(
            &self.kafka,
            &self.client_id,
        )
        .set("group.id", self.kafka.topic(&definition.group))
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // A crashed member's partitions move after 10 s, not librdkafka's 45 s.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "3000")
        // Statistics feed the consumer_lag gauge.
        .set("statistics.interval.ms", "5000")
        .create_with_context(KafkaContext::with_lag_metric(
            self.metrics.consumer_lag.clone(),
            definition.group.clone(),
        )) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(group = %definition.group, error = %e, "cannot create Kafka consumer");
                return;
            }
        };
        let topics: Vec<String> = definition
            .topics
            .iter()
            .map(|t| self.kafka.topic(t))
            .collect();
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&topic_refs) {
            tracing::error!(group = %definition.group, error = %e, "cannot subscribe");
            return;
        }
        tracing::info!(group = %definition.group, topics = ?topics, "consumer started");

        let mut stream = consumer.stream();
        loop {
            let first = tokio::select! {
                m = stream.next() => m.expect("Kafka streams never end"),
                _ = shutdown.changed() => break,
            };
            let first = match first {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(group = %definition.group, error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            // Whatever else is already fetched joins the batch; nothing waits for more.
            let mut batch = vec![first];
            while batch.len() < self.batch_size {
                match stream.next().now_or_never() {
                    Some(Some(Ok(m))) => batch.push(m),
                    Some(Some(Err(e))) => {
                        tracing::warn!(group = %definition.group, error = %e, "consumer error");
                        break;
                    }
                    _ => break,
                }
            }
            let started = std::time::Instant::now();
            let outcomes = self.process_batch(&definition, &batch, &mut shutdown).await;
            let elapsed = started.elapsed().as_secs_f64();
            let mut interrupted = false;
            for (message, outcome) in batch.iter().zip(&outcomes) {
                let labels = [message.topic(), definition.group.as_str()];
                self.metrics
                    .consumer_duration
                    .with_label_values(&labels)
                    .observe(elapsed);
                let result = match outcome {
                    Outcome::Processed => "processed",
                    Outcome::Duplicate => "duplicate",
                    Outcome::DeadLettered => "dead_lettered",
                    Outcome::Interrupted => {
                        interrupted = true;
                        break;
                    }
                };
                self.metrics
                    .consumer_records
                    .with_label_values(&[labels[0], labels[1], result])
                    .inc();
                if let Err(e) = consumer.store_offset_from_message(message) {
                    // Only fails when the partition was revoked meanwhile;
                    // the new owner will redeliver and the inbox dedupes.
                    tracing::warn!(error = %e, "could not store offset");
                }
            }
            if interrupted {
                break;
            }
        }
        drop(stream);
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final commit skipped");
        }
        tracing::info!(group = %definition.group, "consumer stopped");
    }

    /// Applies a batch of valid records in one transaction. Any record that
    /// needs special handling (dead-lettering, a failing handler, a transient
    /// error) sends the whole batch, rolled back, through the one-record path,
    /// which keeps partition order and each record's own fate.
    async fn process_batch(
        &self,
        definition: &ConsumerDefinition,
        batch: &[BorrowedMessage<'_>],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Vec<Outcome> {
        if batch.len() > 1 {
            let events: Option<Vec<IncomingEvent>> = batch
                .iter()
                .map(|m| {
                    IncomingEvent::from_message(m)
                        .ok()
                        .filter(|e| definition.handler.accepts(&e.event_type, e.event_version))
                })
                .collect();
            if let Some(events) = events {
                let spans: Vec<tracing::Span> = events.iter().map(event_span).collect();
                match self.apply_batch(definition, &events, &spans).await {
                    Ok(first_times) => {
                        return first_times
                            .into_iter()
                            .zip(&spans)
                            .map(|(first_time, span)| {
                                let _entered = span.enter();
                                if first_time {
                                    tracing::debug!(group = %definition.group, "event processed");
                                    Outcome::Processed
                                } else {
                                    tracing::debug!(group = %definition.group, "duplicate event skipped");
                                    Outcome::Duplicate
                                }
                            })
                            .collect();
                    }
                    Err(e) => {
                        tracing::warn!(group = %definition.group, records = batch.len(), error = %e, "batch rolled back; applying its records one at a time");
                    }
                }
            }
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        for message in batch {
            let outcome = self.process(definition, message, shutdown).await;
            let stop = matches!(outcome, Outcome::Interrupted);
            outcomes.push(outcome);
            if stop {
                break;
            }
        }
        outcomes
    }

    /// One transaction for the whole batch: the inbox rows in one statement,
    /// then the handler for each event seen for the first time, in order.
    async fn apply_batch(
        &self,
        definition: &ConsumerDefinition,
        events: &[IncomingEvent],
        spans: &[tracing::Span],
    ) -> Result<Vec<bool>, HandleError> {
        let mut tx = self.pool.begin().await?;
        let refs: Vec<&IncomingEvent> = events.iter().collect();
        let mut new_ids = crate::inbox::record_batch(&mut tx, &definition.group, &refs).await?;
        let mut outbox = self.outbox.batch();
        let mut first_times = Vec::with_capacity(events.len());
        for (event, span) in events.iter().zip(spans) {
            // `remove`: a second copy of an id within the batch is a duplicate.
            let first_time = new_ids.remove(&event.event_id);
            if first_time {
                definition
                    .handler
                    .handle(&mut tx, event, &mut outbox)
                    .instrument(span.clone())
                    .await?;
            }
            first_times.push(first_time);
        }
        outbox.insert(&mut tx).await?;
        tx.commit().await?;
        self.outbox.committed();
        Ok(first_times)
    }

    async fn process(
        &self,
        definition: &ConsumerDefinition,
        message: &BorrowedMessage<'_>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let event = match IncomingEvent::from_message(message) {
            Ok(e) => e,
            Err(e) => {
                return self
                    .dead_letter(definition, message, &e.to_string(), shutdown)
                    .await
            }
        };
        let span = event_span(&event);
        self.process_event(definition, message, &event, shutdown)
            .instrument(span)
            .await
    }

    async fn process_event(
        &self,
        definition: &ConsumerDefinition,
        message: &BorrowedMessage<'_>,
        event: &IncomingEvent,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        if !definition
            .handler
            .accepts(&event.event_type, event.event_version)
        {
            let reason = format!(
                "unsupported event {} version {}",
                event.event_type, event.event_version
            );
            return self
                .dead_letter(definition, message, &reason, shutdown)
                .await;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.apply(definition, event).await {
                Ok(true) => {
                    tracing::debug!(group = %definition.group, "event processed");
                    return Outcome::Processed;
                }
                Ok(false) => {
                    tracing::debug!(group = %definition.group, "duplicate event skipped");
                    return Outcome::Duplicate;
                }
                Err(HandleError::Permanent(reason)) => {
                    return self
                        .dead_letter(definition, message, &reason, shutdown)
                        .await;
                }
                Err(HandleError::Transient(reason)) => {
                    self.metrics
                        .consumer_records
                        .with_label_values(&[message.topic(), definition.group.as_str(), "retried"])
                        .inc();
                    tracing::warn!(group = %definition.group, error = %reason, retry_in_ms = backoff.as_millis() as u64, "transient failure; retrying the same record");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return Outcome::Interrupted,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One transaction for one record: a batch of one, already inside its
    /// span. `Ok(false)` = duplicate.
    async fn apply(
        &self,
        definition: &ConsumerDefinition,
        event: &IncomingEvent,
    ) -> Result<bool, HandleError> {
        let first_times = self
            .apply_batch(
                definition,
                std::slice::from_ref(event),
                &[tracing::Span::none()],
            )
            .await?;
        Ok(first_times[0])
    }

    /// Copies the record to `<topic>.dlq` with provenance headers, retrying
    /// until the broker acknowledges it (or shutdown).
    async fn dead_letter(
        &self,
        definition: &ConsumerDefinition,
        message: &BorrowedMessage<'_>,
        reason: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let dlq_topic = format!("{}{DLQ_SUFFIX}", message.topic());
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let failed_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut headers = OwnedHeaders::new();
            if let Some(original) = message.headers() {
                for h in original.iter() {
                    headers = headers.insert(h);
                }
            }
            for (key, value) in [
                (dlq::ORIGINAL_TOPIC, message.topic()),
                (dlq::ORIGINAL_PARTITION, partition.as_str()),
                (dlq::ORIGINAL_OFFSET, offset.as_str()),
                (dlq::CONSUMER_GROUP, definition.group.as_str()),
                (dlq::ERROR, reason),
                (dlq::FAILED_AT, failed_at.as_str()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&dlq_topic).headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => {
                    tracing::warn!(group = %definition.group, topic = message.topic(), partition = message.partition(), offset = message.offset(), error = reason, dlq = %dlq_topic, "record dead-lettered");
                    return Outcome::DeadLettered;
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, dlq = %dlq_topic, "could not dead-letter yet; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return Outcome::Interrupted,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The span every log line about an event is written in.
fn event_span(event: &IncomingEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        order_id = event.key.as_deref().unwrap_or(""),
        event_id = %event.event_id,
        event_type = %event.event_type,
        trace_id = %event.trace.trace_id,
    );
    crate::telemetry::link_to_trace(&span, &event.trace);
    span
}
