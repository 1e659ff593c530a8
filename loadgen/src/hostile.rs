//! `loadgen hostile`: records no service of ours would write, produced
//! straight to the saga topics for `make chaos`. Each must be dead-lettered
//! by every consumer group that reads its topic, and nothing else.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use contract::kafka::KafkaConfig;
use contract::{envelope, events, topics};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use uuid::Uuid;

/// What is wrong with the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// In turn: not JSON, wrong types, an unknown event type, an unsupported
    /// version, a 200 KB value that is not JSON either.
    Malformed,
    /// A 1,040,000-byte value: the broker takes it, its dead-letter copy
    /// cannot fit and must be cut (the whole original kept).
    OversizedRecords,
    /// A 600 KB `event-type` header.
    OversizedHeaders,
    /// Well-formed events whose fields are beyond `contract::limits`, for
    /// orders that do not exist: an 8,000-character customer id, a NUL, a
    /// third decimal.
    OutOfLimit,
}

/// One record as it goes to Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: &'static str,
    /// `event-id`, `event-type`, `event-version`, in that order.
    pub headers: [(&'static str, String); 3],
    pub value: Vec<u8>,
}

impl Record {
    fn new(key: &'static str, event_type: &str, version: i32, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key,
            headers: [
                (envelope::EVENT_ID, Uuid::new_v4().to_string()),
                (envelope::EVENT_TYPE, event_type.to_owned()),
                (envelope::EVENT_VERSION, version.to_string()),
            ],
            value: value.into(),
        }
    }
}

/// Broker-side limit (`message.max.bytes`, 1 MiB) less room for the key and
/// headers: the largest value the broker still takes.
pub const OVERSIZED_VALUE_BYTES: usize = 1_040_000;
pub const OVERSIZED_HEADER_BYTES: usize = 600_000;
pub const MALFORMED_LARGE_VALUE_BYTES: usize = 200_000;
pub const LONG_ID_CHARS: usize = 8_000;
/// A version no consumer reads.
pub const UNSUPPORTED_VERSION: i32 = 99;
/// An event type that does not exist.
pub const UNKNOWN_TYPE: &str = "Mystery";

/// The event type each saga topic carries.
fn event_type_of(topic: &str) -> &'static str {
    match topic {
        topics::ORDER_CREATED => events::ORDER_CREATED,
        topics::PAYMENT_REQUESTS => events::PAYMENT_REQUESTED,
        _ => events::PAYMENT_SUCCEEDED,
    }
}

/// Record `i` of `kind` for `topic` (a catalogue name, without prefix).
pub fn record(kind: Kind, topic: &str, i: usize, now: DateTime<Utc>) -> Record {
    match kind {
        Kind::Malformed => match i % 5 {
            0 => Record::new("chaos", events::PAYMENT_REQUESTED, events::V1, "<not json>"),
            1 => Record::new(
                "chaos",
                events::PAYMENT_SUCCEEDED,
                events::V1,
                r#"{"orderId": 42, "amount": true}"#,
            ),
            2 => Record::new("chaos", UNKNOWN_TYPE, events::V1, "{}"),
            3 => Record::new("chaos", events::ORDER_CREATED, UNSUPPORTED_VERSION, "{}"),
            _ => Record::new(
                "chaos",
                events::PAYMENT_REQUESTED,
                events::V1,
                vec![b'x'; MALFORMED_LARGE_VALUE_BYTES],
            ),
        },
        Kind::OversizedRecords => Record::new(
            "chaos-oversized",
            event_type_of(topic),
            events::V1,
            vec![b'x'; OVERSIZED_VALUE_BYTES],
        ),
        Kind::OversizedHeaders => Record::new(
            "chaos-header",
            &"T".repeat(OVERSIZED_HEADER_BYTES),
            events::V1,
            "{}",
        ),
        Kind::OutOfLimit => {
            let order_id = Uuid::new_v4();
            let now = now.to_rfc3339_opts(SecondsFormat::Secs, true);
            let event_type = event_type_of(topic);
            let body = match event_type {
                events::PAYMENT_REQUESTED => format!(
                    r#"{{"orderId":"{order_id}","customerId":"{}","amount":"10.00","currency":"USD"}}"#,
                    "c".repeat(LONG_ID_CHARS)
                ),
                events::ORDER_CREATED => format!(
                    r#"{{"orderId":"{order_id}","customerId":"c\u0000x","items":[{{"productId":"p","name":"n","price":"1.00","quantity":1,"subtotal":"1.00"}}],"totalAmount":"1.00","currency":"USD","createdAt":"{now}"}}"#
                ),
                _ => format!(
                    r#"{{"orderId":"{order_id}","customerId":"c","amount":"10.001","currency":"USD","decidedAt":"{now}"}}"#
                ),
            };
            Record::new("chaos-limits", event_type, events::V1, body)
        }
    }
}

/// Dead letters that `per_topic` records into each saga topic make: one per
/// consumer group reading the topic (`notification-events` has two).
pub fn dead_letters_expected(per_topic: usize) -> usize {
    topics::SAGA_TOPICS
        .iter()
        .map(|topic| {
            let readers = topics::CONSUMER_GROUPS
                .iter()
                .filter(|(_, read)| read.contains(topic))
                .count();
            per_topic * readers
        })
        .sum()
}

/// Produces `per_topic` records of `kind` into each saga topic, all sent
/// before any delivery is awaited; returns how many the broker acknowledged.
pub async fn produce(kafka: &KafkaConfig, kind: Kind, per_topic: usize) -> anyhow::Result<usize> {
    let producer: FutureProducer = ClientConfig::from_iter(kafka.client_settings("loadgen"))
        // The broker's limit (Kafka's max.request.size): librdkafka's own
        // default, 1,000,000 bytes, would refuse the oversized records here.
        .set("message.max.bytes", "1048576")
        .set("acks", "all")
        // The partition Kafka's own producer picks for the key.
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", "30000")
        .create()?;
    let now = Utc::now();
    let mut deliveries = Vec::new();
    for topic in topics::SAGA_TOPICS {
        let name = kafka.topic(topic);
        for i in 0..per_topic {
            let record = record(kind, topic, i, now);
            let headers =
                record
                    .headers
                    .iter()
                    .fold(OwnedHeaders::new(), |headers, (key, value)| {
                        headers.insert(Header {
                            key,
                            value: Some(value.as_str()),
                        })
                    });
            let out = FutureRecord::to(&name)
                .key(record.key)
                .payload(&record.value)
                .headers(headers);
            let delivery = producer
                .send_result(out)
                .map_err(|(error, _)| anyhow::anyhow!("queueing a record for {name}: {error}"))?;
            deliveries.push((name.clone(), delivery));
        }
    }
    for (name, delivery) in &mut deliveries {
        tokio::time::timeout(Duration::from_secs(60), delivery)
            .await
            .map_err(|_| anyhow::anyhow!("no acknowledgement from {name} within 60 s"))??
            .map_err(|(error, _)| anyhow::anyhow!("producing to {name}: {error}"))?;
    }
    Ok(deliveries.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::envelope::{EnvelopeError, IncomingEvent, MAX_ENVELOPE_HEADER_BYTES};
    use contract::events::{OrderCreated, PaymentRequested, PaymentSucceeded};

    /// The record as a consumer of `topic` reads its envelope.
    fn incoming(topic: &str, record: &Record) -> Result<IncomingEvent, EnvelopeError> {
        IncomingEvent::from_record(&envelope::Record {
            topic,
            partition: 0,
            offset: 0,
            key: Some(record.key.as_bytes()),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (*k, Some(v.as_bytes())))
                .collect(),
            value: Some(&record.value),
        })
    }

    fn all(kind: Kind, count: usize) -> Vec<(&'static str, Record)> {
        topics::SAGA_TOPICS
            .iter()
            .flat_map(|topic| (0..count).map(move |i| (*topic, record(kind, topic, i, Utc::now()))))
            .collect()
    }

    #[test]
    fn every_record_has_a_fresh_event_id_and_the_envelope_headers() {
        let records = all(Kind::Malformed, 10);
        let ids: std::collections::HashSet<&str> = records
            .iter()
            .map(|(_, r)| r.headers[0].1.as_str())
            .collect();
        assert_eq!(ids.len(), records.len());
        for (_, record) in &records {
            let names: Vec<&str> = record.headers.iter().map(|(k, _)| *k).collect();
            assert_eq!(names, ["event-id", "event-type", "event-version"]);
            assert!(Uuid::parse_str(&record.headers[0].1).is_ok());
        }
    }

    #[test]
    fn malformed_records_cycle_through_five_faults() {
        let (topic, at) = (topics::PAYMENT_REQUESTS, Utc::now());
        let not_json = record(Kind::Malformed, topic, 0, at);
        assert_eq!(not_json.value, b"<not json>");
        assert!(matches!(
            incoming(topic, &not_json),
            Err(EnvelopeError::NotJson(_))
        ));

        let wrong_types = record(Kind::Malformed, topic, 1, at);
        assert_eq!(wrong_types.headers[1].1, events::PAYMENT_SUCCEEDED);
        let event = incoming(topic, &wrong_types).unwrap();
        assert!(event.payload_as::<PaymentSucceeded>().is_err());

        let unknown = incoming(topic, &record(Kind::Malformed, topic, 2, at)).unwrap();
        assert_eq!(unknown.event_type, "Mystery");
        assert!(![
            events::ORDER_CREATED,
            events::PAYMENT_REQUESTED,
            events::PAYMENT_SUCCEEDED,
            events::PAYMENT_FAILED
        ]
        .contains(&unknown.event_type.as_str()));

        let version = incoming(topic, &record(Kind::Malformed, topic, 3, at)).unwrap();
        assert_eq!(version.event_version, 99);
        assert_ne!(version.event_version, events::V1);

        let large = record(Kind::Malformed, topic, 4, at);
        assert_eq!(large.value.len(), 200_000);
        assert!(matches!(
            incoming(topic, &large),
            Err(EnvelopeError::NotJson(_))
        ));

        assert_eq!(record(Kind::Malformed, topic, 5, at).value, b"<not json>");
    }

    #[test]
    fn oversized_records_carry_their_topics_event_and_a_1_040_000_byte_value() {
        for (topic, record) in all(Kind::OversizedRecords, 3) {
            assert_eq!(record.key, "chaos-oversized");
            assert_eq!(record.value.len(), 1_040_000);
            assert!(record.value.iter().all(|&b| b == b'x'));
            assert_eq!(record.headers[1].1, event_type_of(topic));
            // Room left for key and headers under the broker's 1 MiB.
            assert!(record.value.len() + 200 < 1_048_576);
        }
        assert_eq!(event_type_of(topics::ORDER_CREATED), "OrderCreated");
        assert_eq!(event_type_of(topics::PAYMENT_REQUESTS), "PaymentRequested");
        assert_eq!(
            event_type_of(topics::NOTIFICATION_EVENTS),
            "PaymentSucceeded"
        );
    }

    #[test]
    fn oversized_headers_are_600_kb_event_types_refused_by_the_envelope() {
        for (topic, record) in all(Kind::OversizedHeaders, 3) {
            assert_eq!(record.key, "chaos-header");
            assert_eq!(record.headers[1].1.len(), 600_000);
            assert!(record.headers[1].1.len() > MAX_ENVELOPE_HEADER_BYTES);
            assert_eq!(record.value, b"{}");
            assert!(matches!(
                incoming(topic, &record),
                Err(EnvelopeError::InvalidHeader {
                    header: "event-type",
                    ..
                })
            ));
        }
    }

    #[test]
    fn out_of_limit_events_parse_but_break_the_contracts_limits() {
        for (topic, record) in all(Kind::OutOfLimit, 2) {
            assert_eq!(record.key, "chaos-limits");
            let event = incoming(topic, &record).expect("a valid envelope and JSON");
            let error = match topic {
                topics::PAYMENT_REQUESTS => {
                    let body: PaymentRequested =
                        serde_json::from_value(event.payload.clone()).unwrap();
                    assert_eq!(body.customer_id.chars().count(), 8_000);
                    assert!(body.customer_id.chars().count() > contract::limits::MAX_ID_CHARS);
                    event.payload_as::<PaymentRequested>().unwrap_err()
                }
                topics::ORDER_CREATED => {
                    let body: OrderCreated = serde_json::from_value(event.payload.clone()).unwrap();
                    assert_eq!(body.customer_id, "c\0x");
                    event.payload_as::<OrderCreated>().unwrap_err()
                }
                _ => {
                    let body: PaymentSucceeded =
                        serde_json::from_value(event.payload.clone()).unwrap();
                    assert_eq!(body.amount.to_string(), "10.001");
                    assert_eq!(contract::limits::money(body.amount), None);
                    event.payload_as::<PaymentSucceeded>().unwrap_err()
                }
            };
            assert!(
                error.0.contains("customerId") || error.0.contains("amount"),
                "{error}"
            );
        }
    }

    #[test]
    fn notification_events_are_dead_lettered_by_both_of_their_readers() {
        assert_eq!(dead_letters_expected(3), 12);
        assert_eq!(dead_letters_expected(12), 48);
        assert_eq!(dead_letters_expected(0), 0);
    }
}
