//! Dead letters: what a consumer writes for a record it can never process.
//!
//! The copy on `<topic>.dlq` carries the record's key, value and headers
//! plus the headers of `envelope::dlq` naming its origin and the error. When that copy is
//! refused for good (larger than the broker takes, or any other permanent
//! produce error), the whole original is first stored in the service's own
//! `dead_letters` table, then a copy cut to a fixed budget is written: value
//! and header values truncated, with headers giving the original sizes, the
//! SHA-256 of the original value and the id of the stored original.
//! Dead-lettering therefore always ends, and nothing is lost.
//!
//! Reading and replaying them is `sagactl dlq`'s job; it takes the header
//! names and the rule for dropping them from the contract, as this module does.

use crate::envelope::dlq;
use crate::kafka::{is_permanent_produce_error, SagaProducer};
use crate::topics;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Longest error text in a [`dlq::ERROR`] header or a log line, in characters.
pub const MAX_ERROR_CHARS: usize = 1000;
/// Value bytes kept in a cut copy.
pub const CUT_VALUE_BYTES: usize = 64 * 1024;
/// Bytes kept of each header value in a cut copy.
pub const CUT_HEADER_BYTES: usize = 1024;
/// Headers kept in a cut copy (besides those of [`dlq`]).
pub const CUT_MAX_HEADERS: usize = 32;

/// `text` cut to at most `max_chars` characters, saying how long it was.
pub fn bounded(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// Where a dead letter came from and why.
pub struct Provenance {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub group: String,
    /// Already bounded to [`MAX_ERROR_CHARS`].
    pub error: String,
    pub failed_at: String,
}

impl Provenance {
    pub fn of<M: Message>(message: &M, group: &str, error: &str) -> Self {
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            group: group.to_owned(),
            error: bounded(error, MAX_ERROR_CHARS),
            failed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    fn headers(&self) -> Vec<(String, Option<Vec<u8>>)> {
        [
            (dlq::ORIGINAL_TOPIC, self.topic.clone()),
            (dlq::ORIGINAL_PARTITION, self.partition.to_string()),
            (dlq::ORIGINAL_OFFSET, self.offset.to_string()),
            (dlq::CONSUMER_GROUP, self.group.clone()),
            (dlq::ERROR, self.error.clone()),
            (dlq::FAILED_AT, self.failed_at.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Some(v.into_bytes())))
        .collect()
    }
}

/// The record to write to the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetterCopy {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Whether value or headers were cut to the budget.
    pub cut: bool,
}

fn original_headers<M: Message>(message: &M) -> Vec<(String, Option<Vec<u8>>)> {
    crate::kafka::headers(message)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.map(<[u8]>::to_vec)))
        .collect()
}

impl DeadLetterCopy {
    /// The whole record plus the provenance headers.
    pub fn full<M: Message>(message: &M, provenance: &Provenance) -> Self {
        let mut headers = original_headers(message);
        headers.extend(provenance.headers());
        Self {
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            cut: false,
        }
    }

    /// A copy within the budget, pointing at the original stored as `stored_id`.
    pub fn cut<M: Message>(message: &M, provenance: &Provenance, stored_id: Uuid) -> Self {
        let value = message.payload();
        let all_headers = original_headers(message);
        let header_bytes: usize = all_headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        let mut headers: Vec<(String, Option<Vec<u8>>)> = all_headers
            .into_iter()
            .take(CUT_MAX_HEADERS)
            .map(|(k, v)| {
                let key = bounded(&k, CUT_HEADER_BYTES / 4);
                (key, v.map(|v| v[..v.len().min(CUT_HEADER_BYTES)].to_vec()))
            })
            .collect();
        headers.extend(provenance.headers());
        let digest = hex(&Sha256::digest(value.unwrap_or_default()));
        for (k, v) in [
            (dlq::CUT, "true".to_owned()),
            (
                dlq::ORIGINAL_VALUE_BYTES,
                value.map_or(0, <[u8]>::len).to_string(),
            ),
            (dlq::ORIGINAL_HEADER_BYTES, header_bytes.to_string()),
            (dlq::ORIGINAL_VALUE_SHA256, digest),
            (dlq::STORED_ID, stored_id.to_string()),
        ] {
            headers.push((k.to_owned(), Some(v.into_bytes())));
        }
        let key = message
            .key()
            .map(|k| k[..k.len().min(CUT_HEADER_BYTES)].to_vec());
        Self {
            key,
            value: value.map(|v| v[..v.len().min(CUT_VALUE_BYTES)].to_vec()),
            headers,
            cut: true,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps the whole original in the service's `dead_letters` table; a record
/// stored before (redelivered after a crash) keeps its first id.
pub async fn store_original<M: Message>(
    pool: &PgPool,
    message: &M,
    provenance: &Provenance,
) -> Result<Uuid, sqlx::Error> {
    let headers = original_headers(message);
    let names: Vec<Vec<u8>> = headers.iter().map(|(k, _)| k.as_bytes().to_vec()).collect();
    let values: Vec<Option<Vec<u8>>> = headers.into_iter().map(|(_, v)| v).collect();
    sqlx::query_scalar(
        "INSERT INTO dead_letters (id, consumer_group, topic, kafka_partition, kafka_offset,
                                   message_key, message_value, header_names, header_values, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (consumer_group, topic, kafka_partition, kafka_offset)
             DO UPDATE SET error = EXCLUDED.error
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(&provenance.group)
    .bind(&provenance.topic)
    .bind(provenance.partition)
    .bind(provenance.offset)
    .bind(message.key())
    .bind(message.payload())
    .bind(names)
    .bind(values)
    .bind(&provenance.error)
    .fetch_one(pool)
    .await
}

/// Shutdown came before the dead letter was written: leave the record's
/// offset unstored, so it is handled again after a restart.
#[derive(Debug)]
pub struct Interrupted;

/// Copies `message` to `<topic>.dlq` with provenance headers. A copy the
/// broker refuses for good is replaced by one cut to the budget, after the
/// whole original is stored in `dead_letters`; an outage (broker or
/// database) is waited out, until shutdown.
pub async fn write<M: Message + Sync>(
    pool: &PgPool,
    producer: &SagaProducer,
    message: &M,
    group: &str,
    reason: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Interrupted> {
    let dlq_topic = topics::dlq(message.topic());
    let provenance = Provenance::of(message, group, reason);
    let mut copy = DeadLetterCopy::full(message, &provenance);
    let mut backoff = Duration::from_millis(100);
    loop {
        match send(producer, &dlq_topic, &copy).await {
            Ok(()) => {
                tracing::warn!(group, topic = message.topic(), partition = message.partition(), offset = message.offset(), error = %provenance.error, dlq = %dlq_topic, cut = copy.cut, "record dead-lettered");
                return Ok(());
            }
            Err(e) if is_permanent_produce_error(&e) && copy.cut => {
                tracing::error!(error = %e, dlq = %dlq_topic, "the dead-letter topic refuses even the cut copy; the whole record is kept in the dead_letters table");
                return Ok(());
            }
            Err(e) if is_permanent_produce_error(&e) => {
                match store_original(pool, message, &provenance).await {
                    Ok(id) => {
                        tracing::warn!(error = %e, dlq = %dlq_topic, stored_id = %id, "dead-letter copy refused; the original is stored and a cut copy written");
                        copy = DeadLetterCopy::cut(message, &provenance, id);
                        continue;
                    }
                    Err(db) => {
                        tracing::warn!(error = %db, "cannot store the dead letter's original yet; retrying")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, dlq = %dlq_topic, "could not dead-letter yet; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return Err(Interrupted),
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn send(
    producer: &SagaProducer,
    topic: &str,
    copy: &DeadLetterCopy,
) -> Result<(), KafkaError> {
    let headers = copy
        .headers
        .iter()
        .fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key: key.as_str(),
                value: value.as_deref(),
            })
        });
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
    if let Some(key) = &copy.key {
        record = record.key(key);
    }
    if let Some(value) = &copy.value {
        record = record.payload(value);
    }
    producer
        .send(record, Duration::from_secs(5))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    fn record(value_bytes: usize, header_bytes: usize) -> OwnedMessage {
        let big = "h".repeat(header_bytes);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "event-type",
                value: Some(big.as_bytes()),
            })
            .insert(Header {
                key: "event-id",
                value: Some(b"id".as_slice()),
            });
        OwnedMessage::new(
            Some(vec![b'v'; value_bytes]),
            Some(b"order-1".to_vec()),
            "payment-requests".into(),
            Timestamp::NotAvailable,
            2,
            7,
            Some(headers),
        )
    }

    fn header<'a>(copy: &'a DeadLetterCopy, name: &str) -> Option<&'a str> {
        let headers = copy.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref()));
        crate::envelope::header_text(headers, name)
    }

    #[test]
    fn error_texts_are_bounded_and_say_how_long_they_were() {
        assert_eq!(bounded("short", 10), "short");
        let long = "é".repeat(2000);
        let cut = bounded(&long, MAX_ERROR_CHARS);
        assert!(cut.starts_with(&"é".repeat(MAX_ERROR_CHARS)));
        assert!(cut.ends_with("… (4000 bytes in all)"), "{cut}");
    }

    #[test]
    fn a_full_copy_keeps_everything_and_adds_its_provenance() {
        let message = record(10, 10);
        let provenance = Provenance::of(&message, "billing-service", "bad");
        let copy = DeadLetterCopy::full(&message, &provenance);
        assert_eq!(copy.value.as_deref(), Some(&[b'v'; 10][..]));
        assert_eq!(header(&copy, "event-type"), Some("hhhhhhhhhh"));
        assert_eq!(header(&copy, dlq::ORIGINAL_OFFSET), Some("7"));
        assert_eq!(header(&copy, dlq::ERROR), Some("bad"));
        assert!(!copy.cut);
    }

    #[test]
    fn a_cut_copy_fits_the_budget_and_names_the_original() {
        let message = record(1_040_000, 600_000);
        let provenance = Provenance::of(&message, "g", &"e".repeat(600_000));
        let id = Uuid::now_v7();
        let copy = DeadLetterCopy::cut(&message, &provenance, id);
        let size = copy.value.as_ref().map_or(0, Vec::len)
            + copy
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
        assert!(size < 80 * 1024, "{size} bytes");
        assert_eq!(header(&copy, dlq::CUT), Some("true"));
        assert_eq!(header(&copy, dlq::ORIGINAL_VALUE_BYTES), Some("1040000"));
        assert_eq!(header(&copy, dlq::ORIGINAL_HEADER_BYTES), Some("600020"));
        assert_eq!(header(&copy, dlq::STORED_ID), Some(id.to_string().as_str()));
        assert_eq!(
            header(&copy, dlq::ORIGINAL_VALUE_SHA256),
            Some(hex(&Sha256::digest(vec![b'v'; 1_040_000])).as_str())
        );
    }
}
