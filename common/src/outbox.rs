//! Transactional outbox: the only way a service publishes.
//!
//! Writers add rows inside the transaction that changes their state, so an
//! event exists iff the change committed. The relay publishes pending rows in
//! id order, deletes (or, with a retention, marks) them only after the broker
//! acknowledged them, and keeps
//! retrying (rows stay put, order kept) while Kafka is unreachable.
//!
//! Several replicas may run the relay against one database: a transaction-level
//! advisory lock lets one of them relay at a time, so rows are never published
//! twice by design and per-key order holds. A crash between the broker's
//! acknowledgement and the commit re-publishes that transaction's batches:
//! consumers dedupe.

use crate::config::OutboxConfig;
use crate::envelope;
use crate::events::Event;
use crate::kafka::{is_denied, SagaProducer};
use crate::metrics::KafkaClient;
use crate::trace::TraceContext;
use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord, Producer};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// Arbitrary constant naming "the outbox relay" among advisory locks.
const RELAY_LOCK_KEY: i64 = 0x6f75_7462_6f78; // "outbox"

/// Batches one relay transaction chains while a backlog lasts. Reading the
/// next batch (and deleting the last) while the broker acknowledges one, and
/// committing once for all of them, roughly doubled the drain rate; a crash
/// before that commit publishes these batches again, and consumers dedupe.
const BATCHES_PER_TRANSACTION: usize = 8;

/// Handle for writers: adds rows and wakes the relay after commit.
#[derive(Clone)]
pub struct Outbox {
    source: &'static str,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Adds an event inside the caller's transaction (see
    /// [`OutboxBatch::push`]); returns its event id (UUID v7).
    pub async fn add<E: Event>(
        &self,
        conn: &mut PgConnection,
        event: &E,
        cause: Option<&TraceContext>,
    ) -> Result<Uuid, sqlx::Error> {
        let mut batch = self.batch();
        let event_id = batch.push(event, cause)?;
        batch.insert(conn).await?;
        Ok(event_id)
    }

    /// Collects several events to add with one statement (one round trip).
    pub fn batch(&self) -> OutboxBatch {
        OutboxBatch {
            source: self.source,
            event_ids: Vec::new(),
            topics: Vec::new(),
            keys: Vec::new(),
            event_types: Vec::new(),
            event_versions: Vec::new(),
            traceparents: Vec::new(),
            payloads: Vec::new(),
        }
    }

    /// Call after the transaction that added rows committed: the relay wakes
    /// at once instead of at its next poll.
    pub fn committed(&self) {
        self.wake.notify_one();
    }
}

/// Events waiting to be added to the outbox together, see [`Outbox::batch`].
/// Kept as columns: they are bound as arrays and unnested by Postgres.
pub struct OutboxBatch {
    source: &'static str,
    event_ids: Vec<Uuid>,
    topics: Vec<String>,
    keys: Vec<String>,
    event_types: Vec<String>,
    event_versions: Vec<i32>,
    traceparents: Vec<Option<String>>,
    payloads: Vec<String>,
}

impl OutboxBatch {
    /// Serialises the event now; its type, version, topic and key (the
    /// order id) come from its [`Event`] impl. With a `cause` (the trace
    /// context of the request or event that led to it) the event carries a
    /// new span of that trace. Returns its event id (UUID v7).
    pub fn push<E: Event>(
        &mut self,
        event: &E,
        cause: Option<&TraceContext>,
    ) -> Result<Uuid, sqlx::Error> {
        let event_id = Uuid::now_v7();
        let payload = serde_json::to_string(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        self.event_ids.push(event_id);
        self.topics.push(E::TOPIC.to_owned());
        self.keys.push(event.key());
        self.event_types.push(E::TYPE.to_owned());
        self.event_versions.push(E::VERSION);
        self.traceparents
            .push(cause.map(|trace| trace.child().to_string()));
        self.payloads.push(payload);
        Ok(event_id)
    }

    pub fn is_empty(&self) -> bool {
        self.event_ids.is_empty()
    }

    /// Inserts the events, in push order, inside the caller's transaction.
    pub async fn insert(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.is_empty() {
            return Ok(());
        }
        self.bind(sqlx::query(&Self::insert_sql(1)))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The INSERT of [`Self::insert`], its 8 parameters numbered from `$first`:
    /// a writer can make it a data-modifying CTE of its own statement (one
    /// round trip, no explicit transaction) and [`Self::bind`] the values.
    pub fn insert_sql(first: usize) -> String {
        let p: Vec<String> = (first..first + 8).map(|n| format!("${n}")).collect();
        // WITH ORDINALITY + ORDER BY: ids (the relay's order) follow push order.
        format!(
            "INSERT INTO outbox (event_id, topic, message_key, event_type, event_version, source, occurred_at, traceparent, payload)
             SELECT e, t, k, ty, v, {5}::text, now(), tp, p
               FROM UNNEST({0}::uuid[], {1}::text[], {2}::text[], {3}::text[], {4}::int[], {6}::text[], {7}::text[])
                    WITH ORDINALITY AS u(e, t, k, ty, v, tp, p, n)
              ORDER BY n",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
        )
    }

    /// Binds the values for [`Self::insert_sql`], after the query's own.
    pub fn bind<'q, Q: BindArrays<'q>>(self, query: Q) -> Q {
        query
            .bind_value(self.event_ids)
            .bind_value(self.topics)
            .bind_value(self.keys)
            .bind_value(self.event_types)
            .bind_value(self.event_versions)
            .bind_value(self.source)
            .bind_value(self.traceparents)
            .bind_value(self.payloads)
    }
}

/// `bind` of sqlx's `Query` and `QueryAs`, so [`OutboxBatch::bind`] serves both.
pub trait BindArrays<'q>: Sized {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>;
}

impl<'q> BindArrays<'q> for sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.bind(value)
    }
}

impl<'q, O> BindArrays<'q>
    for sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
{
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.bind(value)
    }
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: i64,
    event_id: Uuid,
    topic: String,
    message_key: String,
    event_type: String,
    event_version: i32,
    source: String,
    occurred_at: DateTime<Utc>,
    traceparent: Option<String>,
    payload: String,
    created_at: DateTime<Utc>,
}

/// The one place where the envelope's headers are stamped.
fn record_headers(row: &PendingRow) -> OwnedHeaders {
    let event_id = row.event_id.to_string();
    let version = row.event_version.to_string();
    let occurred_at = row.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut headers = OwnedHeaders::new_with_capacity(7);
    for (key, value) in [
        (envelope::EVENT_ID, event_id.as_str()),
        (envelope::EVENT_TYPE, row.event_type.as_str()),
        (envelope::EVENT_VERSION, version.as_str()),
        (envelope::SOURCE, row.source.as_str()),
        (envelope::OCCURRED_AT, occurred_at.as_str()),
        (envelope::CONTENT_TYPE, envelope::JSON),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    if let Some(traceparent) = &row.traceparent {
        headers = headers.insert(Header {
            key: envelope::TRACEPARENT,
            value: Some(traceparent.as_str()),
        });
    }
    headers
}

/// The background publisher.
pub struct Relay {
    pub pool: PgPool,
    pub producer: SagaProducer,
    pub outbox: Outbox,
    pub config: OutboxConfig,
    pub topic_prefix: String,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// To build a new producer after a fatal error.
    pub kafka: crate::config::KafkaConfig,
    pub client_id: String,
}

impl Relay {
    /// Publishes until `shutdown` turns true, finishing the batch under way.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        // The failure last logged: a retry failing the same way is not logged
        // again, so an hour-long outage or denial is one line, not a thousand.
        let mut failing: Option<String> = None;
        while !*shutdown.borrow() {
            let result = self.publish().await;
            if result.is_ok() && failing.take().is_some() {
                tracing::info!("outbox relay publishes again");
            }
            match result {
                Ok(true) => continue,
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        () = self.outbox.wake.notified() => {
                            // The commits that follow this one join its batch.
                            tokio::select! {
                                () = tokio::time::sleep(self.config.batch_wait) => {}
                                _ = shutdown.changed() => {}
                            }
                        }
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    let cause = e.root_cause().to_string();
                    if failing.as_ref() != Some(&cause) {
                        tracing::warn!(error = format!("{e:#}"), "outbox relay could not publish; rows stay pending and it retries, logging again when the cause changes");
                        failing = Some(cause);
                    }
                    self.renew_producer_after_fatal_error();
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// After a fatal error (e.g. the idempotent producer lost track of its
    /// sequence numbers) librdkafka fails every later send of that producer:
    /// only a new one publishes again. The rows stay pending meanwhile, and
    /// the broker's idempotence does not span producers, so a row may be
    /// published twice: the consumers find the copy already applied.
    fn renew_producer_after_fatal_error(&mut self) {
        let Some((code, reason)) = self.producer.client().fatal_error() else {
            return;
        };
        tracing::error!(?code, %reason, "the Kafka producer hit a fatal error; the relay starts a new one");
        match crate::kafka::create_producer(&self.kafka, &self.client_id) {
            Ok(producer) => self.producer = producer,
            Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer; will retry"),
        }
    }

    /// Publishes pending rows in one transaction: one batch, or while a
    /// backlog lasts up to [`BATCHES_PER_TRANSACTION`] of them, each read
    /// (and the one before deleted) while the broker acknowledges the last.
    /// Returns whether rows were left pending behind the last batch.
    async fn publish(&self) -> anyhow::Result<bool> {
        // The outbox is nearly empty whenever it is analyzed, so the planner
        // would fetch every pending row and sort them, a backlog's worth per
        // batch; without sorting it walks the unpublished rows' index in id
        // order and stops after a batch.
        let mut tx = self
            .pool
            .begin_with("BEGIN; SET LOCAL enable_sort = off")
            .await?;
        let mut rows = self.pending(&mut tx, i64::MIN).await?;
        // When each row acknowledged in this transaction was written, for the
        // metrics after the commit; `unsettled`: ids still to delete (or mark).
        let mut acknowledged: Vec<DateTime<Utc>> = Vec::new();
        let mut unsettled: Vec<i64> = Vec::new();
        let mut failure = None;
        let mut backlog = false;
        for round in 1..=BATCHES_PER_TRANSACTION {
            if rows.is_empty() {
                break;
            }
            let full = rows.len() as i64 >= self.config.batch_size;
            let read_next = full && round < BATCHES_PER_TRANSACTION;
            let after = rows.last().map_or(i64::MIN, |row| row.id);
            // Enqueue the whole batch in id order, then collect acknowledgements.
            // The idempotent producer keeps per-partition order across its retries.
            let (deliveries, enqueue_error) = self.enqueue(&rows);
            let settling = std::mem::take(&mut unsettled);
            let database = async {
                self.settle(&mut tx, &settling).await?;
                if read_next {
                    self.pending(&mut tx, after).await
                } else {
                    Ok(Vec::new())
                }
            };
            let (results, next) =
                tokio::join!(futures_util::future::join_all(deliveries), database);
            // Mark only the acknowledged prefix: a later row of the same key
            // must never be marked while an earlier one still waits.
            let prefix = results.iter().take_while(|r| matches!(r, Ok(Ok(_))));
            let acked = &rows[..prefix.count()];
            unsettled = acked.iter().map(|row| row.id).collect();
            acknowledged.extend(acked.iter().map(|row| row.created_at));
            if acked.len() < rows.len() {
                failure = Some(self.describe_failure(&rows, &results, acked.len(), enqueue_error));
                break;
            }
            // A read that failed leaves the whole transaction undone: what was
            // acknowledged is published again, and the consumers dedupe.
            rows = next?;
            backlog = full && !read_next;
        }
        self.settle(&mut tx, &unsettled).await?;
        tx.commit().await?;
        let now = Utc::now();
        for created_at in &acknowledged {
            let latency = (now - *created_at).to_std().unwrap_or_default();
            self.metrics
                .outbox_publish_latency
                .observe(latency.as_secs_f64());
        }
        self.metrics
            .outbox_published
            .inc_by(acknowledged.len() as u64);
        if let Some(failure) = failure {
            self.metrics.outbox_publish_errors.inc();
            return Err(failure);
        }
        if !acknowledged.is_empty() && self.metrics.access_granted(KafkaClient::OutboxRelay) {
            tracing::info!("the broker lets the outbox relay publish again");
        }
        tracing::debug!(published = acknowledged.len(), "outbox rows published");
        Ok(backlog)
    }

    /// Up to one batch of pending rows after id `after`, in id order. The
    /// one-time filter takes the leader's lock first: a replica that does not
    /// get it sees no rows (another one is relaying right now).
    async fn pending(&self, tx: &mut PgConnection, after: i64) -> sqlx::Result<Vec<PendingRow>> {
        sqlx::query_as(
            "SELECT id, event_id, topic, message_key, event_type, event_version, source, occurred_at, traceparent, payload, created_at
               FROM outbox WHERE (SELECT pg_try_advisory_xact_lock($2)) AND published_at IS NULL AND id > $3
              ORDER BY id LIMIT $1",
        )
        .bind(self.config.batch_size)
        .bind(RELAY_LOCK_KEY)
        .bind(after)
        .fetch_all(tx)
        .await
    }

    /// Hands `rows` to the producer in order, stopping at the first it
    /// refuses (whose reason is returned).
    fn enqueue(&self, rows: &[PendingRow]) -> (Vec<DeliveryFuture>, Option<String>) {
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in rows {
            let topic = format!("{}{}", self.topic_prefix, row.topic);
            let record = FutureRecord::to(&topic)
                .key(&row.message_key)
                .payload(&row.payload)
                .headers(record_headers(row));
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((e, _)) => return (deliveries, Some(e.to_string())),
            }
        }
        (deliveries, None)
    }

    /// Deletes the published rows (or, with a retention, marks them).
    async fn settle(&self, tx: &mut PgConnection, ids: &[i64]) -> sqlx::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // Without retention a published row is deleted at once: cheaper
        // than marking it (no new row version) and deleting it later.
        let sql = if self.config.outbox_retention.is_zero() {
            "DELETE FROM outbox WHERE id = ANY($1)"
        } else {
            "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1)"
        };
        sqlx::query(sql).bind(ids).execute(tx).await?;
        Ok(())
    }

    /// The error for a batch of which only the first `acknowledged` rows
    /// were, naming the first failure; a denial by the broker's ACLs is also
    /// counted.
    fn describe_failure(
        &self,
        rows: &[PendingRow],
        results: &[<DeliveryFuture as std::future::Future>::Output],
        acknowledged: usize,
        enqueue_error: Option<String>,
    ) -> anyhow::Error {
        let failed = rows.iter().zip(results).find_map(|(row, r)| match r {
            Ok(Err((e, _))) => Some((row, Some(e), e.to_string())),
            Err(_) => Some((row, None, "delivery cancelled".to_owned())),
            Ok(Ok(_)) => None,
        });
        let cause = match failed {
            Some((row, Some(e), cause)) if is_denied(e) => {
                let why = format!("publishing to {}{}: {cause}", self.topic_prefix, row.topic);
                self.metrics.access_denied(KafkaClient::OutboxRelay, why);
                cause
            }
            Some((_, _, cause)) => cause,
            None => enqueue_error.unwrap_or_default(),
        };
        anyhow::anyhow!(cause).context(format!("published {acknowledged} of {} rows", rows.len()))
    }
}

/// Deletes published outbox rows and inbox rows older than their retention,
/// in batches, so neither table grows without bound.
pub async fn run_cleanup(pool: PgPool, config: OutboxConfig, mut shutdown: watch::Receiver<bool>) {
    const BATCH: i64 = 5000;
    let statements = [
        (
            "outbox",
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)",
            config.outbox_retention,
        ),
        (
            "inbox",
            "DELETE FROM inbox WHERE (consumer_group, event_id) IN (SELECT consumer_group, event_id FROM inbox WHERE received_at < now() - make_interval(secs => $1) LIMIT $2)",
            config.inbox_retention,
        ),
    ];
    while !*shutdown.borrow() {
        for (table, sql, retention) in &statements {
            loop {
                match sqlx::query(sql)
                    .bind(retention.as_secs_f64())
                    .bind(BATCH)
                    .execute(&pool)
                    .await
                {
                    Ok(done) if done.rows_affected() as i64 == BATCH => continue,
                    Ok(done) => {
                        if done.rows_affected() > 0 {
                            tracing::info!(
                                table,
                                deleted = done.rows_affected(),
                                "expired rows removed"
                            );
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(table, error = %e, "cleanup failed; will retry");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(config.cleanup_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OutboxBatch;

    #[test]
    fn the_insert_fragment_numbers_its_eight_parameters_from_the_given_one() {
        let sql = OutboxBatch::insert_sql(11);
        for n in 11..=18 {
            assert!(sql.contains(&format!("${n}")), "${n} missing in {sql}");
        }
        for n in [1, 10, 19] {
            assert!(!sql.contains(&format!("${n}:")), "${n} unexpected in {sql}");
            assert!(!sql.contains(&format!("${n},")), "${n} unexpected in {sql}");
        }
    }
}
