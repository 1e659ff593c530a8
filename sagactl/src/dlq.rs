//! `sagactl dlq list|show|replay`: the dead-letter topics, read without a
//! consumer group (nothing is committed), and replay to the original topic.
//! Replaying a record twice changes nothing downstream: each consumer finds
//! the event already applied. A copy that was cut to fit the topic ([`dlq::CUT`]) is shown
//! and replayed from the whole original, kept in the `dead_letters` table of
//! the service that refused it.

use crate::Sources;
use contract::envelope::{self, dlq, Header};
use contract::kafka::KafkaConfig;
use contract::topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

fn client(kafka: &KafkaConfig) -> ClientConfig {
    ClientConfig::from_iter(kafka.client_settings("sagactl"))
}

/// A record's headers in order, as the contract reads them.
pub(crate) fn headers(m: &OwnedMessage) -> Vec<Header<'_>> {
    m.headers()
        .map(|h| h.iter().map(|h| (h.key, h.value)).collect())
        .unwrap_or_default()
}

/// Header `name` as text, by the contract's rule.
fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    envelope::header_text(headers(m), name)
}

fn reader(kafka: &KafkaConfig) -> anyhow::Result<BaseConsumer> {
    Ok(client(kafka)
        // Only assign() is used: no group is joined and nothing committed.
        .set("group.id", "sagactl-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?)
}

/// Every record of `topic` (physical name), from the beginning to the end it
/// has now.
pub fn read_all(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<Vec<OwnedMessage>> {
    let consumer = reader(kafka)?;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0i64;
    let mut ends = BTreeMap::new();
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
            remaining += high - low;
            ends.insert(partition, high);
        }
    }
    let mut records = Vec::new();
    if remaining == 0 {
        return Ok(records);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ends.is_empty() && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message?;
        let end = ends.get(&message.partition()).copied().unwrap_or(0);
        if message.offset() >= end - 1 {
            ends.remove(&message.partition());
        }
        if message.offset() < end {
            records.push(message.detach());
        }
    }
    records.sort_by_key(|m| (m.partition(), m.offset()));
    Ok(records)
}

/// Records on each dead-letter topic (high minus low watermark).
pub async fn dead_letter_counts(kafka: &KafkaConfig) -> anyhow::Result<BTreeMap<String, i64>> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || {
        let consumer = reader(&kafka)?;
        let mut counts = BTreeMap::new();
        for name in topics::dlq_topics() {
            let topic = kafka.topic(&name);
            let metadata = consumer.fetch_metadata(Some(&topic), TIMEOUT)?;
            let mut total = 0;
            for t in metadata.topics() {
                for p in t.partitions() {
                    let (low, high) = consumer.fetch_watermarks(&topic, p.id(), TIMEOUT)?;
                    total += high - low;
                }
            }
            counts.insert(name, total);
        }
        Ok(counts)
    })
    .await?
}

/// Records waiting for each consumer group: after its committed offsets, on
/// every partition of the topics it reads (all of a partition when the group
/// has committed nothing there). Committed offsets trail what a consumer has
/// handled by up to its auto-commit interval (5 s).
pub async fn waiting_by_group(kafka: &KafkaConfig) -> anyhow::Result<BTreeMap<String, i64>> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || {
        let mut waiting = BTreeMap::new();
        for (group, consumed) in topics::CONSUMER_GROUPS {
            // Only asks for the group's committed offsets: it never joins the group.
            let consumer: BaseConsumer = client(&kafka)
                .set("group.id", kafka.topic(group))
                .set("enable.auto.commit", "false")
                .create()?;
            let mut partitions = TopicPartitionList::new();
            for topic in consumed.iter().map(|t| kafka.topic(t)) {
                let metadata = consumer.fetch_metadata(Some(&topic), TIMEOUT)?;
                for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
                    partitions.add_partition(&topic, p.id());
                }
            }
            let committed = consumer.committed_offsets(partitions, TIMEOUT)?;
            let mut total = 0;
            for p in committed.elements() {
                let (low, high) = consumer.fetch_watermarks(p.topic(), p.partition(), TIMEOUT)?;
                let next = p.offset().to_raw().filter(|o| *o >= 0).unwrap_or(low);
                total += (high - next.max(low)).max(0);
            }
            waiting.insert(group.to_owned(), total);
        }
        Ok(waiting)
    })
    .await?
}

/// One dead-lettered record and where it came from.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub dlq_topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub event_type: Option<String>,
    pub event_version: Option<String>,
    pub event_id: Option<String>,
    pub original_topic: Option<String>,
    pub original_partition: Option<String>,
    pub original_offset: Option<String>,
    pub consumer_group: Option<String>,
    pub error: Option<String>,
    pub failed_at: Option<String>,
    /// The copy was cut to fit; the whole original is stored as `stored_id`.
    pub cut: bool,
    pub stored_id: Option<String>,
    pub original_value_bytes: Option<String>,
    pub original_value_sha256: Option<String>,
    pub value: String,
}

impl Entry {
    pub fn from_record(m: &OwnedMessage) -> Self {
        let text = |name: &str| header(m, name).map(str::to_owned);
        Entry {
            dlq_topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            event_type: text(envelope::EVENT_TYPE),
            event_version: text(envelope::EVENT_VERSION),
            event_id: text(envelope::EVENT_ID),
            original_topic: text(dlq::ORIGINAL_TOPIC),
            original_partition: text(dlq::ORIGINAL_PARTITION),
            original_offset: text(dlq::ORIGINAL_OFFSET),
            consumer_group: text(dlq::CONSUMER_GROUP),
            error: text(dlq::ERROR),
            failed_at: text(dlq::FAILED_AT),
            cut: header(m, dlq::CUT) == Some("true"),
            stored_id: text(dlq::STORED_ID),
            original_value_bytes: text(dlq::ORIGINAL_VALUE_BYTES),
            original_value_sha256: text(dlq::ORIGINAL_VALUE_SHA256),
            value: m
                .payload()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default(),
        }
    }

    pub fn line(&self) -> String {
        let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let cut = match (&self.stored_id, &self.original_value_bytes) {
            (Some(id), Some(bytes)) if self.cut => {
                format!(" (cut copy; {bytes}-byte original stored as {id})")
            }
            _ => String::new(),
        };
        format!(
            "{} {}@{} key={} type={} v{} from {}[{}]@{} group={} at {}{cut} error: {}",
            self.dlq_topic,
            self.partition,
            self.offset,
            or(&self.key),
            or(&self.event_type),
            or(&self.event_version),
            or(&self.original_topic),
            or(&self.original_partition),
            or(&self.original_offset),
            or(&self.consumer_group),
            or(&self.failed_at),
            or(&self.error)
        )
    }
}

/// Which dead-lettered records to act on.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// A DLQ topic (logical name, with or without `.dlq`); all when `None`.
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub from_offset: Option<i64>,
    pub to_offset: Option<i64>,
    pub event_type: Option<String>,
}

impl Selection {
    fn topics(&self, kafka: &KafkaConfig) -> Vec<String> {
        match &self.topic {
            Some(t) => vec![kafka.topic(&topics::as_dlq(t))],
            None => topics::dlq_topics()
                .iter()
                .map(|t| kafka.topic(t))
                .collect(),
        }
    }

    fn matches(&self, m: &OwnedMessage) -> bool {
        self.partition.is_none_or(|p| p == m.partition())
            && self.from_offset.is_none_or(|o| m.offset() >= o)
            && self.to_offset.is_none_or(|o| m.offset() <= o)
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| header(m, envelope::EVENT_TYPE) == Some(t))
    }
}

pub fn list(kafka: &KafkaConfig, selection: &Selection) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut selected = Vec::new();
    for topic in selection.topics(kafka) {
        selected.extend(
            read_all(kafka, &topic)?
                .into_iter()
                .filter(|m| selection.matches(m)),
        );
    }
    Ok(selected)
}

/// The whole original of a cut copy, from the database of the service that
/// refused it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredOriginal {
    /// Which of the three databases holds it.
    pub database: &'static str,
    #[serde(skip)]
    pub key: Option<Vec<u8>>,
    #[serde(skip)]
    pub value: Option<Vec<u8>>,
    #[serde(skip)]
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub value_bytes: usize,
    /// Header names with their value sizes.
    pub header_bytes: Vec<(String, usize)>,
}

type StoredRow = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<Vec<u8>>,
    Vec<Option<Vec<u8>>>,
);

/// Looks `id` up in the three databases' `dead_letters` tables.
pub async fn stored_original(sources: &Sources, id: &str) -> anyhow::Result<StoredOriginal> {
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| anyhow::anyhow!("{} is not a UUID: {id}", dlq::STORED_ID))?;
    for (database, pool) in sources.databases() {
        let row: Option<StoredRow> = sqlx::query_as(
            "SELECT message_key, message_value, header_names, header_values
               FROM dead_letters WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|e| anyhow::anyhow!("reading dead_letters in {database}: {e}"))?;
        if let Some((key, value, names, values)) = row {
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = names.into_iter().zip(values).collect();
            return Ok(StoredOriginal {
                database,
                value_bytes: value.as_ref().map_or(0, Vec::len),
                header_bytes: headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).into_owned(),
                            v.as_ref().map_or(0, Vec::len),
                        )
                    })
                    .collect(),
                key,
                value,
                headers,
            });
        }
    }
    anyhow::bail!("dead letter {id} is in none of the three databases")
}

/// The stored original of `entry` when it is a cut copy.
pub async fn stored_if_cut(
    sources: &Sources,
    entry: &Entry,
) -> anyhow::Result<Option<StoredOriginal>> {
    match (&entry.stored_id, entry.cut) {
        (Some(id), true) => Ok(Some(stored_original(sources, id).await?)),
        _ => Ok(None),
    }
}

/// What replay sends for a dead letter: its key, value and original headers
/// (those the dead-lettering added dropped), from the stored original when
/// the copy was cut.
pub struct Original<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(std::borrow::Cow<'a, str>, Option<&'a [u8]>)>,
}

impl<'a> Original<'a> {
    pub fn of(record: &'a OwnedMessage, stored: Option<&'a StoredOriginal>) -> Self {
        let (key, value, headers): (_, _, Vec<_>) = match stored {
            Some(s) => (
                s.key.as_deref(),
                s.value.as_deref(),
                s.headers
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), v.as_deref()))
                    .collect(),
            ),
            None => (
                record.key(),
                record.payload(),
                headers(record)
                    .into_iter()
                    .map(|(k, v)| (k.into(), v))
                    .collect(),
            ),
        };
        Self {
            key,
            value,
            headers: headers
                .into_iter()
                .filter(|(name, _)| !dlq::is_added_header(name))
                .collect(),
        }
    }

    /// As the consumers of `topic` would read it, replayed.
    pub fn record(&self, topic: &'a str) -> envelope::Record<'_> {
        envelope::Record {
            topic,
            partition: 0,
            offset: 0,
            key: self.key,
            headers: self.headers.iter().map(|(k, v)| (k.as_ref(), *v)).collect(),
            value: self.value,
        }
    }
}

/// Whether one consumer group would accept a replayed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub group: &'static str,
    /// The reason the group's consumer would dead-letter it again.
    pub refused: Option<String>,
}

impl Verdict {
    pub fn line(&self) -> String {
        match &self.refused {
            None => format!("accepted by {}", self.group),
            Some(reason) => format!("refused by {}: {reason}", self.group),
        }
    }
}

/// For each consumer group reading `topic` (logical name), whether it would
/// accept `record` now: its envelope read and its event decoded within our
/// limits by the group's [`EventSet`](contract::event_set::EventSet), as its
/// consumer does before any handler runs.
pub fn check(topic: &str, record: &envelope::Record<'_>) -> Vec<Verdict> {
    let event = envelope::IncomingEvent::from_record(record);
    contract::accepts::GROUP_SETS
        .iter()
        .filter(|set| topics::consumed_by(set.group).contains(&topic))
        .map(|set| Verdict {
            group: set.group,
            refused: match &event {
                Err(e) => Some(e.to_string()),
                Ok(event) => (set.decode)(event).err().map(|e| e.to_string()),
            },
        })
        .collect()
}

/// Sends each selected record back to its original topic with its key, value
/// and original headers (those the dead-lettering added dropped); a cut copy is replaced by
/// its stored original. Returns what was replayed.
pub async fn replay(
    sources: &Sources,
    selection: &Selection,
) -> anyhow::Result<Vec<(Entry, String)>> {
    let kafka = &sources.kafka;
    let records = {
        let (kafka, selection) = (kafka.clone(), selection.clone());
        tokio::task::spawn_blocking(move || list(&kafka, &selection)).await??
    };
    let producer: FutureProducer = client(kafka)
        // A stored original may be as large as the broker accepts.
        .set("message.max.bytes", "1048576")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()?;
    let mut replayed = Vec::new();
    for record in &records {
        let entry = Entry::from_record(record);
        let target = entry
            .original_topic
            .clone()
            .unwrap_or_else(|| topics::dlq_origin(record.topic()).to_owned());
        let stored = stored_if_cut(sources, &entry).await?;
        let original = Original::of(record, stored.as_ref());
        let mut kept = OwnedHeaders::new();
        for (name, value) in original.headers {
            kept = kept.insert(rdkafka::message::Header {
                key: name.as_ref(),
                value,
            });
        }
        let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&target).headers(kept);
        if let Some(key) = original.key {
            out = out.key(key);
        }
        if let Some(value) = original.value {
            out = out.payload(value);
        }
        producer.send(out, TIMEOUT).await.map_err(|(e, _)| {
            anyhow::anyhow!(
                "replaying {}@{} to {target}: {e}",
                record.partition(),
                record.offset()
            )
        })?;
        replayed.push((entry, target));
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::envelope::{EVENT_ID, EVENT_TYPE, EVENT_VERSION};

    const EVENT: &str = "0193a0b2-7c1e-7000-8000-000000000001";

    fn request(customer_id: &str, description: Option<&str>) -> Vec<u8> {
        let mut body = serde_json::json!({"orderId": uuid::Uuid::nil(), "customerId": customer_id,
                                          "amount": "9.98", "currency": "USD"});
        if let Some(description) = description {
            body["description"] = description.into();
        }
        body.to_string().into_bytes()
    }

    /// `record` of PaymentRequested at `version`, checked on payment-requests.
    fn check_payment_request(version: &str, value: &[u8]) -> Vec<Verdict> {
        let record = envelope::Record {
            topic: topics::PAYMENT_REQUESTS,
            partition: 0,
            offset: 0,
            key: None,
            headers: vec![
                (EVENT_ID, Some(EVENT.as_bytes())),
                (EVENT_TYPE, Some(b"PaymentRequested".as_slice())),
                (EVENT_VERSION, Some(version.as_bytes())),
            ],
            value: Some(value),
        };
        check(topics::PAYMENT_REQUESTS, &record)
    }

    fn lines(verdicts: &[Verdict]) -> Vec<String> {
        verdicts.iter().map(Verdict::line).collect()
    }

    #[test]
    fn billing_accepts_either_version_of_a_payment_request() {
        for (version, description) in [("1", None), ("2", Some("2 x book"))] {
            let verdicts = check_payment_request(version, &request("c-1", description));
            assert_eq!(
                lines(&verdicts),
                ["accepted by billing-service"],
                "v{version}"
            );
        }
    }

    #[test]
    fn an_unknown_version_is_refused_with_the_consumers_reason() {
        let verdicts = check_payment_request("3", &request("c-1", None));
        assert_eq!(
            lines(&verdicts),
            ["refused by billing-service: unsupported event PaymentRequested version 3"]
        );
    }

    #[test]
    fn a_body_beyond_the_limits_is_refused_naming_the_field() {
        let long_id = "c".repeat(contract::limits::MAX_ID_CHARS + 1);
        let verdicts = check_payment_request("1", &request(&long_id, None));
        let refused = verdicts[0].refused.as_deref().unwrap_or_default();
        assert!(
            refused.starts_with("PaymentRequested v1 body: customerId "),
            "{refused}"
        );
    }

    #[test]
    fn a_broken_envelope_is_refused_by_every_group_reading_the_topic() {
        let record = envelope::Record {
            topic: topics::NOTIFICATION_EVENTS,
            partition: 0,
            offset: 0,
            key: None,
            headers: vec![],
            value: Some(b"{}"),
        };
        let verdicts = check(topics::NOTIFICATION_EVENTS, &record);
        assert_eq!(
            lines(&verdicts),
            [
                "refused by order-service: missing header event-id",
                "refused by notification-service: missing header event-id"
            ]
        );
    }
}
