//! Idempotent consumers with dead-lettering.
//!
//! Guarantee: a record's offset is stored (and later auto-committed) only
//! after its effects are durable — the handler's state change, the inbox row
//! if the handler uses one, and any outbox rows committed together — or after
//! it was dead-lettered. Auto-commit therefore never acknowledges an
//! unprocessed record. Records are applied in batches (one transaction, in
//! partition order) of what is fetched within a short window of the first
//! record, `CONSUMER_BATCH_WAIT_MS`; a batch that cannot be applied whole is
//! rolled back and its records are handled one at a time.
//!
//! - A record applied before is acknowledged and counted as a duplicate. A
//!   handler that declares [`EventHandler::IDEMPOTENT_BY_KEY`] tells so
//!   itself, from a unique key of its own tables, and no inbox row is
//!   written; for any other handler the inbox does (same consumer group and
//!   event id already recorded: the handler is not called).
//! - A record that can never succeed (bad envelope, not JSON, unknown type or
//!   version, invalid body, a field beyond our limits, a database error the
//!   record's content provokes) goes to `<topic>.dlq` with its key, value and
//!   headers, plus headers naming its origin and the error; see
//!   [`crate::dlq`] for a copy too large for the broker.
//! - A transient failure is retried on the same record with backoff. While
//!   the database does not answer (a real outage) it is never skipped; when
//!   the database answers other work and the record still fails after
//!   `max_attempts`, it is poison and is dead-lettered.
//! - `consumer_stalled_seconds` and `consumer_lag` (from the position the
//!   consumer has reached) make a consumer that waits visible.

use crate::config::KafkaConfig;
use crate::dlq::{bounded, MAX_ERROR_CHARS};
use crate::envelope::IncomingEvent;
use crate::event_set::{DecodeError, EventSet};
use crate::kafka::{client_config, is_denied, KafkaContext, SagaProducer};
use crate::metrics::KafkaClient;
use crate::metrics::StallClock;
use crate::outbox::{Outbox, OutboxBatch};
use async_trait::async_trait;
use futures_util::StreamExt;
use prometheus::IntGaugeVec;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::TopicPartitionList;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
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

impl From<DecodeError> for HandleError {
    /// A type the handler does not accept, or a body that does not fit its
    /// type or our limits, never will.
    fn from(e: DecodeError) -> Self {
        HandleError::Permanent(e.to_string())
    }
}

/// SQLSTATE classes that the record's content provokes, so a retry fails the
/// same way: data exceptions (22), integrity constraints (23), program
/// limits such as an index row too large (54).
const RECORD_CAUSED_SQLSTATE_CLASSES: [&str; 3] = ["22", "23", "54"];

impl From<sqlx::Error> for HandleError {
    /// Errors of [`RECORD_CAUSED_SQLSTATE_CLASSES`] are permanent; anything
    /// else may pass (the database unavailable or busy, a deadlock) and is
    /// retried within the consumer's attempt budget.
    fn from(e: sqlx::Error) -> Self {
        let permanent = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| {
                RECORD_CAUSED_SQLSTATE_CLASSES.contains(&&code[..2.min(code.len())])
            });
        if permanent {
            HandleError::Permanent(e.to_string())
        } else {
            HandleError::Transient(e.to_string())
        }
    }
}

/// What handling an event did: `consumer_records_total{result}` counts an
/// [`Handled::AlreadyApplied`] as a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The event's effect is new.
    Applied,
    /// Its effect was already there (the same event again, or another event
    /// for the same thing): nothing changed.
    AlreadyApplied,
}

/// A service's reaction to the events of its topics.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// The events it accepts (see [`crate::event_set`]): the loop decodes
    /// each record into it and dead-letters any other type or version.
    type Events: EventSet + Send;

    /// True when `handle` itself makes any repeat change nothing, by a unique
    /// key of its own tables, and reports it as [`Handled::AlreadyApplied`]:
    /// the consumer then writes no inbox row for its events (one insert and
    /// its later delete less per record). The key must hold for every way a
    /// repeat arrives: the same event id redelivered, twice in one batch
    /// (one transaction: the key sees the first copy's row), or handled by
    /// two consumers at once around a rebalance (the key's conflict waits for
    /// the other transaction). False: the inbox tells repeats apart.
    const IDEMPOTENT_BY_KEY: bool = false;

    /// Applies the event, decoded into `body`, inside `conn`'s transaction
    /// (which also holds the inbox row, unless [`Self::IDEMPOTENT_BY_KEY`]).
    /// Events pushed to `outbox` are inserted in that same transaction, once
    /// for the whole batch, before it commits.
    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
        body: Self::Events,
        outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError>;

    /// Applies a batch's events, in partition order, inside one transaction
    /// and reports each, with the result [`Self::handle`] would give one
    /// after the other (the default calls it so). A handler may write the
    /// whole batch in fewer statements instead; a batch of one is how a
    /// record is applied on its own.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: Vec<Decoded<'_, Self::Events>>,
        outbox: &mut OutboxBatch,
    ) -> Result<Vec<Handled>, HandleError> {
        let mut handled = Vec::with_capacity(events.len());
        for Decoded { event, body, span } in events {
            let applied = self.handle(conn, event, body, outbox);
            handled.push(applied.instrument(span.clone()).await?);
        }
        Ok(handled)
    }
}

/// [`EventHandler::handle`] of a handler that writes whole batches: the one
/// event as a batch of one, so both paths run the same statements.
pub async fn handle_as_batch<H: EventHandler + ?Sized>(
    handler: &H,
    conn: &mut PgConnection,
    event: &IncomingEvent,
    body: H::Events,
    outbox: &mut OutboxBatch,
) -> Result<Handled, HandleError> {
    let span = tracing::Span::current();
    let one = vec![Decoded {
        event,
        body,
        span: &span,
    }];
    Ok(handler.handle_batch(conn, one, outbox).await?[0])
}

/// One event of a batch, decoded, with the span its log lines belong in.
pub struct Decoded<'a, E> {
    pub event: &'a IncomingEvent,
    pub body: E,
    pub span: &'a tracing::Span,
}

/// An [`EventHandler`] with its event set erased, so one loop runs any
/// service's handler; implemented for every handler and nothing else, so
/// what is accepted always comes from the handler's set.
#[async_trait]
trait AnyHandler: Send + Sync {
    fn accepts(&self, event: &IncomingEvent) -> bool;

    /// Whether repeats are told apart by the inbox (not by the handler's key).
    fn uses_inbox(&self) -> bool;

    /// Decodes the bodies (a mismatch is permanent), then handles them.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[(&IncomingEvent, &tracing::Span)],
        outbox: &mut OutboxBatch,
    ) -> Result<Vec<Handled>, HandleError>;
}

#[async_trait]
impl<H: EventHandler> AnyHandler for H {
    fn accepts(&self, event: &IncomingEvent) -> bool {
        H::Events::accepts(&event.event_type, event.event_version)
    }

    fn uses_inbox(&self) -> bool {
        !H::IDEMPOTENT_BY_KEY
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[(&IncomingEvent, &tracing::Span)],
        outbox: &mut OutboxBatch,
    ) -> Result<Vec<Handled>, HandleError> {
        let mut decoded = Vec::with_capacity(events.len());
        for &(event, span) in events {
            let body = span.in_scope(|| H::Events::decode(event))?;
            decoded.push(Decoded { event, body, span });
        }
        self.handle_batch(conn, decoded, outbox).await
    }
}

/// One consumer group over some of the catalogue's topics.
#[derive(Clone)]
pub struct ConsumerDefinition {
    /// Consumer group id, also the inbox's `consumer_group` (for a handler
    /// that uses the inbox).
    pub group: String,
    /// Logical topic names (the configured prefix is added).
    pub topics: Vec<&'static str>,
    handler: Arc<dyn AnyHandler>,
}

impl ConsumerDefinition {
    pub fn new(group: String, topics: Vec<&'static str>, handler: impl EventHandler) -> Self {
        Self {
            group,
            topics,
            handler: Arc::new(handler),
        }
    }
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
    /// How long a batch waits for more records after its first (see
    /// `CONSUMER_BATCH_WAIT_MS`).
    pub batch_wait: Duration,
    /// Attempts on a record that fails transiently while the database
    /// answers, before it is dead-lettered as poison.
    pub max_attempts: u32,
}

/// The next offset to handle, per partition this consumer has handled.
type Positions = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// How often `consumer_lag` is computed.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// librdkafka queues an error for every failed connection attempt while the
/// brokers are down. They are drained without waiting, so records flow as
/// soon as the broker is back; only a long unbroken run of errors pauses.
const ERRORS_BEFORE_PAUSE: u32 = 1000;

/// An idle consumer polls its queue again this often even without a
/// wake-up: librdkafka wakes a waiting stream only when the queue turns
/// non-empty, and one missed wake-up (around a rebalance or a broker's
/// return) would otherwise park the consumer for good with records waiting.
const IDLE_REPOLL: Duration = Duration::from_secs(1);

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
        let consumer: Arc<StreamConsumer<KafkaContext>> = match client_config(
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
        // A subscribed topic that does not exist yet (a service started
        // beside the Job creating the topics) is looked up again after this,
        // not librdkafka's 5 minutes, during which its records wait unread.
        .set("topic.metadata.refresh.interval.ms", "10000")
        .create_with_context(KafkaContext::default())
        {
            Ok(c) => Arc::new(c),
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

        let clock = self.metrics.stall_clock(&definition.group);
        let positions = Positions::default();
        tokio::spawn(report_lag(
            consumer.clone(),
            positions.clone(),
            self.metrics.consumer_lag.clone(),
            definition.group.clone(),
            shutdown.clone(),
        ));
        let mut stream = consumer.stream();
        let mut errors_in_a_row = 0u32;
        loop {
            let first = tokio::select! {
                m = tokio::time::timeout(IDLE_REPOLL, stream.next()) => match m {
                    Ok(m) => m.expect("Kafka streams never end"),
                    Err(_) => continue,
                },
                _ = shutdown.changed() => break,
            };
            let first = match first {
                Ok(m) => m,
                Err(e) => {
                    if is_denied(&e)
                        && self
                            .metrics
                            .access_denied(KafkaClient::Consumer, e.to_string())
                    {
                        tracing::warn!(group = %definition.group, error = %e, "the broker denies this consumer what it needs; records wait until its ACLs allow it");
                    }
                    consumer.context().report(&format!("consumer error: {e}"));
                    errors_in_a_row += 1;
                    if errors_in_a_row.is_multiple_of(ERRORS_BEFORE_PAUSE) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            };
            errors_in_a_row = 0;
            if self.metrics.access_granted(KafkaClient::Consumer) {
                tracing::info!(group = %definition.group, "the broker lets this consumer read again");
            }
            // The batching window: what arrives within `batch_wait` of the
            // first record joins its batch. One transaction of many records
            // costs far less per record than one each; the price is at most
            // `batch_wait` more latency on this hop.
            let mut batch = vec![first];
            let window_ends = tokio::time::Instant::now() + self.batch_wait;
            while batch.len() < self.batch_size {
                match tokio::time::timeout_at(window_ends, stream.next()).await {
                    Ok(Some(Ok(m))) => batch.push(m),
                    Ok(Some(Err(e))) => {
                        consumer.context().report(&format!("consumer error: {e}"));
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            clock.busy();
            let started = std::time::Instant::now();
            let outcomes = self
                .process_batch(&definition, &batch, &clock, &mut shutdown)
                .await;
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
                match consumer.store_offset_from_message(message) {
                    Ok(()) => {
                        positions.lock().unwrap().insert(
                            (message.topic().to_owned(), message.partition()),
                            message.offset() + 1,
                        );
                    }
                    // Only fails when the partition was revoked meanwhile;
                    // the new owner will redeliver, and the inbox or the
                    // handler's key tells the repeat.
                    Err(e) => tracing::warn!(error = %e, "could not store offset"),
                }
            }
            clock.idle();
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
        clock: &StallClock,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Vec<Outcome> {
        if batch.len() > 1 {
            let events: Option<Vec<IncomingEvent>> = batch
                .iter()
                .map(|m| {
                    IncomingEvent::from_record(&crate::kafka::record(m))
                        .ok()
                        .filter(|e| definition.handler.accepts(e))
                })
                .collect();
            if let Some(events) = events {
                let spans: Vec<tracing::Span> = events.iter().map(event_span).collect();
                match self.apply_batch(definition, &events, &spans).await {
                    Ok(handled) => {
                        return handled
                            .into_iter()
                            .zip(&spans)
                            .map(|(handled, span)| {
                                let _entered = span.enter();
                                outcome_of(handled, &definition.group)
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
            clock.progressed();
            let stop = matches!(outcome, Outcome::Interrupted);
            outcomes.push(outcome);
            if stop {
                break;
            }
        }
        outcomes
    }

    /// One transaction for the whole batch: the inbox rows in one statement
    /// (for a handler that uses the inbox), then the handler for each event
    /// not seen before, in order.
    async fn apply_batch(
        &self,
        definition: &ConsumerDefinition,
        events: &[IncomingEvent],
        spans: &[tracing::Span],
    ) -> Result<Vec<Handled>, HandleError> {
        let mut tx = self.pool.begin().await?;
        // Without the inbox every event reaches the handler, whose key tells
        // a repeat, a second copy within this batch included.
        let mut new_ids = if definition.handler.uses_inbox() {
            let refs: Vec<&IncomingEvent> = events.iter().collect();
            Some(crate::inbox::record_batch(&mut tx, &definition.group, &refs).await?)
        } else {
            None
        };
        // `remove`: a second copy of an id within the batch is a duplicate.
        let seen: Vec<bool> = events
            .iter()
            .map(|event| {
                new_ids
                    .as_mut()
                    .is_some_and(|ids| !ids.remove(&event.event_id))
            })
            .collect();
        let unseen: Vec<(&IncomingEvent, &tracing::Span)> = events
            .iter()
            .zip(spans)
            .zip(&seen)
            .filter(|(_, seen)| !**seen)
            .map(|(pair, _)| pair)
            .collect();
        let mut outbox = self.outbox.batch();
        let mut applied = definition
            .handler
            .apply(&mut tx, &unseen, &mut outbox)
            .await?
            .into_iter();
        let handled = seen
            .into_iter()
            .map(|seen| match seen {
                true => Handled::AlreadyApplied,
                false => applied.next().expect("one result per event handled"),
            })
            .collect();
        outbox.insert(&mut tx).await?;
        tx.commit().await?;
        self.outbox.committed();
        Ok(handled)
    }

    async fn process(
        &self,
        definition: &ConsumerDefinition,
        message: &BorrowedMessage<'_>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let event = match IncomingEvent::from_record(&crate::kafka::record(message)) {
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
        if !definition.handler.accepts(event) {
            let reason = DecodeError::unsupported(event).to_string();
            return self
                .dead_letter(definition, message, &reason, shutdown)
                .await;
        }
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            match self.apply(definition, event).await {
                Ok(handled) => return outcome_of(handled, &definition.group),
                Err(HandleError::Permanent(reason)) => {
                    return self
                        .dead_letter(definition, message, &reason, shutdown)
                        .await;
                }
                Err(HandleError::Transient(reason)) => {
                    // Only a failure while the database answers counts: an
                    // outage is waited out, however long.
                    if self.database_answers().await {
                        attempts += 1;
                    }
                    if attempts >= self.max_attempts {
                        let reason = format!(
                            "still failing after {attempts} attempts while the database answers: {reason}"
                        );
                        return self
                            .dead_letter(definition, message, &reason, shutdown)
                            .await;
                    }
                    let reason = bounded(&reason, MAX_ERROR_CHARS);
                    self.metrics
                        .consumer_records
                        .with_label_values(&[message.topic(), definition.group.as_str(), "retried"])
                        .inc();
                    tracing::warn!(group = %definition.group, error = %reason, attempts, retry_in_ms = backoff.as_millis() as u64, "transient failure; retrying the same record");
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
    /// span.
    async fn apply(
        &self,
        definition: &ConsumerDefinition,
        event: &IncomingEvent,
    ) -> Result<Handled, HandleError> {
        let handled = self
            .apply_batch(
                definition,
                std::slice::from_ref(event),
                &[tracing::Span::none()],
            )
            .await?;
        Ok(handled[0])
    }

    /// Whether the database answers a trivial query now.
    async fn database_answers(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }

    /// Dead-letters the record (see [`crate::dlq::write`]).
    async fn dead_letter(
        &self,
        definition: &ConsumerDefinition,
        message: &BorrowedMessage<'_>,
        reason: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let written = crate::dlq::write(
            &self.pool,
            &self.producer,
            message,
            &definition.group,
            reason,
            shutdown,
        )
        .await;
        match written {
            Ok(()) => Outcome::DeadLettered,
            Err(crate::dlq::Interrupted) => Outcome::Interrupted,
        }
    }
}

/// The outcome a handled record is counted as, logged in the event's span.
fn outcome_of(handled: Handled, group: &str) -> Outcome {
    match handled {
        Handled::Applied => {
            tracing::debug!(group, "event processed");
            Outcome::Processed
        }
        Handled::AlreadyApplied => {
            tracing::debug!(group, "duplicate event skipped");
            Outcome::Duplicate
        }
    }
}

/// Sets `consumer_lag` every [`LAG_INTERVAL`] for the partitions assigned
/// now: the high watermark minus the next offset this consumer will handle
/// (the committed one for a partition it has not handled yet). Runs beside
/// the consumer loop, so a consumer stuck on a record still reports a
/// growing lag. While the broker is down the last values stay.
async fn report_lag(
    consumer: Arc<StreamConsumer<KafkaContext>>,
    positions: Positions,
    gauge: IntGaugeVec,
    group: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut reported: HashSet<(String, i32)> = HashSet::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(LAG_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let (consumer, positions) = (consumer.clone(), positions.clone());
        let Ok(Ok(lags)) =
            tokio::task::spawn_blocking(move || partition_lags(&consumer, &positions)).await
        else {
            continue;
        };
        let now: HashSet<(String, i32)> = lags.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        for (topic, partition) in reported.difference(&now) {
            let _ = gauge.remove_label_values(&[topic, &partition.to_string(), &group]);
        }
        for (topic, partition, lag) in &lags {
            gauge
                .with_label_values(&[topic, &partition.to_string(), &group])
                .set(*lag);
        }
        reported = now;
    }
}

fn partition_lags(
    consumer: &StreamConsumer<KafkaContext>,
    positions: &Positions,
) -> Result<Vec<(String, i32, i64)>, KafkaError> {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let assignment = consumer.assignment()?;
    let assigned: HashSet<(String, i32)> = assignment
        .elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect();
    // A partition that moved away may come back after others handled it.
    positions
        .lock()
        .unwrap()
        .retain(|key, _| assigned.contains(key));
    let known = positions.lock().unwrap().clone();
    let mut unknown = TopicPartitionList::new();
    for (topic, partition) in assigned.iter().filter(|k| !known.contains_key(*k)) {
        unknown.add_partition(topic, *partition);
    }
    let committed = if unknown.count() > 0 {
        consumer.committed_offsets(unknown, TIMEOUT)?
    } else {
        TopicPartitionList::new()
    };
    let mut lags = Vec::with_capacity(assigned.len());
    for (topic, partition) in assigned {
        let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
        let next = known
            .get(&(topic.clone(), partition))
            .copied()
            .or_else(|| {
                committed
                    .find_partition(&topic, partition)
                    .and_then(|p| p.offset().to_raw())
            })
            .filter(|offset| *offset >= 0)
            .unwrap_or(low);
        lags.push((topic, partition, (high - next.max(low)).max(0)));
    }
    Ok(lags)
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
