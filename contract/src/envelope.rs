//! The event envelope: what every record on a saga topic carries.
//!
//! Key = order id. Headers (names defined here once, stamped by the relay in
//! one place): `event-id` (UUID v7), `event-type`, `event-version`, `source`,
//! `occurred-at` (RFC 3339), `content-type: application/json`, and
//! `traceparent` when there is a trace. Value = the JSON body in camelCase.

use crate::events::WithinLimits;
use crate::trace::TraceContext;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub const EVENT_ID: &str = "event-id";
pub const EVENT_TYPE: &str = "event-type";
pub const EVENT_VERSION: &str = "event-version";
pub const SOURCE: &str = "source";
pub const OCCURRED_AT: &str = "occurred-at";
pub const CONTENT_TYPE: &str = "content-type";
pub const TRACEPARENT: &str = "traceparent";
pub const JSON: &str = "application/json";

/// Headers a dead-lettered record gains, naming where it came from and why.
pub mod dlq {
    /// Every header below starts with it.
    const PREFIX: &str = "dlq-";
    pub const ORIGINAL_TOPIC: &str = "dlq-original-topic";
    pub const ORIGINAL_PARTITION: &str = "dlq-original-partition";
    pub const ORIGINAL_OFFSET: &str = "dlq-original-offset";
    pub const CONSUMER_GROUP: &str = "dlq-consumer-group";
    pub const ERROR: &str = "dlq-error";
    pub const FAILED_AT: &str = "dlq-failed-at";
    /// `true` when the copy was cut to fit; the whole original is stored.
    pub const CUT: &str = "dlq-cut";
    pub const ORIGINAL_VALUE_BYTES: &str = "dlq-original-value-bytes";
    pub const ORIGINAL_HEADER_BYTES: &str = "dlq-original-header-bytes";
    pub const ORIGINAL_VALUE_SHA256: &str = "dlq-original-value-sha256";
    /// Id of the whole original in the `dead_letters` table of the service
    /// that refused it.
    pub const STORED_ID: &str = "dlq-stored-id";

    /// Whether `name` is a header the dead-lettering added, which a replay
    /// drops so the record goes back as it first was.
    pub fn is_added_header(name: &str) -> bool {
        name.starts_with(PREFIX)
    }
}

/// A record's header: its name and its value, if it has one.
pub type Header<'a> = (&'a str, Option<&'a [u8]>);

/// The value of header `name`. When a name occurs more than once, the last
/// occurrence with a value wins, as in Kafka's own clients.
pub fn header_value<'a>(
    headers: impl IntoIterator<Item = Header<'a>>,
    name: &str,
) -> Option<&'a [u8]> {
    headers
        .into_iter()
        .filter(|(key, _)| *key == name)
        .filter_map(|(_, value)| value)
        .last()
}

/// [`header_value`] as text, when it is UTF-8.
pub fn header_text<'a>(
    headers: impl IntoIterator<Item = Header<'a>>,
    name: &str,
) -> Option<&'a str> {
    header_value(headers, name).and_then(|v| std::str::from_utf8(v).ok())
}

/// A consumed record as the envelope reads it, whichever client fetched it.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub headers: Vec<Header<'a>>,
    pub value: Option<&'a [u8]>,
}

impl<'a> Record<'a> {
    /// The value of header `name` (see [`header_value`]).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        header_value(self.headers.iter().copied(), name)
    }

    /// The value of header `name` as text (see [`header_text`]).
    pub fn header_text(&self, name: &str) -> Option<&'a str> {
        header_text(self.headers.iter().copied(), name)
    }
}

/// A body that does not fit the handler's type or our limits: permanent,
/// since no retry can change it. Says which event and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// A record from a saga topic whose envelope is valid.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: i32,
    pub source: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub traceparent: Option<String>,
    /// This consumer's span in the record's trace (a new trace when the
    /// record carried none): log lines use its trace id, and events it
    /// causes carry `trace.child()`.
    pub trace: TraceContext,
    pub payload: serde_json::Value,
}

/// Why a record can never be processed: it goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {header} is invalid: {reason}")]
    InvalidHeader {
        header: &'static str,
        reason: String,
    },
    #[error("record has no value")]
    EmptyValue,
    #[error("value is not JSON: {0}")]
    NotJson(String),
}

/// Longest envelope header value we read: ids, type names, versions and
/// timestamps are short, so anything longer is refused before it is copied
/// into an error text or a log line.
pub const MAX_ENVELOPE_HEADER_BYTES: usize = 256;

fn text_header(record: &Record<'_>, name: &'static str) -> Result<Option<String>, EnvelopeError> {
    record
        .header(name)
        .map(|bytes| {
            if bytes.len() > MAX_ENVELOPE_HEADER_BYTES {
                return Err(EnvelopeError::InvalidHeader {
                    header: name,
                    reason: format!(
                        "{} bytes long, more than {MAX_ENVELOPE_HEADER_BYTES}",
                        bytes.len()
                    ),
                });
            }
            std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| {
                EnvelopeError::InvalidHeader {
                    header: name,
                    reason: e.to_string(),
                }
            })
        })
        .transpose()
}

fn required(record: &Record<'_>, name: &'static str) -> Result<String, EnvelopeError> {
    text_header(record, name)?.ok_or(EnvelopeError::MissingHeader(name))
}

impl IncomingEvent {
    /// Reads and checks the envelope of a consumed record.
    pub fn from_record(record: &Record<'_>) -> Result<Self, EnvelopeError> {
        let event_id = required(record, EVENT_ID)?;
        let event_id = Uuid::parse_str(&event_id).map_err(|e| EnvelopeError::InvalidHeader {
            header: EVENT_ID,
            reason: e.to_string(),
        })?;
        let event_type = required(record, EVENT_TYPE)?;
        let event_version = required(record, EVENT_VERSION)?;
        let event_version = event_version
            .parse()
            .map_err(|_| EnvelopeError::InvalidHeader {
                header: EVENT_VERSION,
                reason: format!("{event_version:?} is not an integer"),
            })?;
        let occurred_at = text_header(record, OCCURRED_AT)?
            .map(|t| DateTime::parse_from_rfc3339(&t).map(|t| t.with_timezone(&Utc)))
            .transpose()
            .map_err(|e| EnvelopeError::InvalidHeader {
                header: OCCURRED_AT,
                reason: e.to_string(),
            })?;
        let value = record.value.ok_or(EnvelopeError::EmptyValue)?;
        let payload =
            serde_json::from_slice(value).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        let traceparent = text_header(record, TRACEPARENT)?;
        Ok(Self {
            topic: record.topic.to_owned(),
            partition: record.partition,
            offset: record.offset,
            key: record.key.map(|k| String::from_utf8_lossy(k).into_owned()),
            event_id,
            event_type,
            event_version,
            source: text_header(record, SOURCE)?,
            occurred_at,
            trace: TraceContext::continue_or_start(traceparent.as_deref()),
            traceparent,
            payload,
        })
    }

    /// The body as the handler's type, within our limits; a mismatch
    /// (missing or mistyped field) or a field beyond the limits is permanent:
    /// no retry can fix it.
    pub fn payload_as<T: DeserializeOwned + WithinLimits>(&self) -> Result<T, BodyError> {
        let permanent = |e: &dyn std::fmt::Display| {
            BodyError(format!(
                "{} v{} body: {e}",
                self.event_type, self.event_version
            ))
        };
        let body: T = serde_json::from_value(self.payload.clone()).map_err(|e| permanent(&e))?;
        body.check_limits().map_err(|e| permanent(&e))?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<'a>(headers: &[(&'a str, &'a str)], value: Option<&'a str>) -> Record<'a> {
        Record {
            topic: "payment-requests",
            partition: 3,
            offset: 42,
            key: Some(b"order-1"),
            headers: headers
                .iter()
                .map(|(k, v)| (*k, Some(v.as_bytes())))
                .collect(),
            value: value.map(str::as_bytes),
        }
    }

    const ID: &str = "0193a0b2-7c1e-7000-8000-000000000001";

    #[test]
    fn a_repeated_header_reads_as_its_last_value() {
        let headers = [
            (EVENT_TYPE, Some(&b"First"[..])),
            (SOURCE, Some(&b"order-service"[..])),
            (EVENT_TYPE, Some(&b"Second"[..])),
            (EVENT_TYPE, None),
            (CONTENT_TYPE, Some(&b"\xff"[..])),
        ];
        assert_eq!(header_text(headers, EVENT_TYPE), Some("Second"));
        assert_eq!(header_text(headers, CONTENT_TYPE), None, "not UTF-8");
        assert_eq!(header_value(headers, CONTENT_TYPE), Some(&b"\xff"[..]));
        assert_eq!(header_text(headers, TRACEPARENT), None);
    }

    #[test]
    fn every_dead_letter_header_and_no_envelope_header_is_dropped_by_a_replay() {
        for name in [
            dlq::ORIGINAL_TOPIC,
            dlq::ORIGINAL_PARTITION,
            dlq::ORIGINAL_OFFSET,
            dlq::CONSUMER_GROUP,
            dlq::ERROR,
            dlq::FAILED_AT,
            dlq::CUT,
            dlq::ORIGINAL_VALUE_BYTES,
            dlq::ORIGINAL_HEADER_BYTES,
            dlq::ORIGINAL_VALUE_SHA256,
            dlq::STORED_ID,
        ] {
            assert!(dlq::is_added_header(name), "{name}");
        }
        for name in [
            EVENT_ID,
            EVENT_TYPE,
            EVENT_VERSION,
            SOURCE,
            OCCURRED_AT,
            CONTENT_TYPE,
            TRACEPARENT,
        ] {
            assert!(!dlq::is_added_header(name), "{name}");
        }
    }

    #[test]
    fn a_complete_envelope_is_read() {
        let m = message(
            &[
                (EVENT_ID, ID),
                (EVENT_TYPE, "PaymentRequested"),
                (EVENT_VERSION, "1"),
                (SOURCE, "order-service"),
                (OCCURRED_AT, "2026-11-22T10:00:00Z"),
                (
                    TRACEPARENT,
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
            ],
            Some(r#"{"orderId":"x"}"#),
        );
        let e = IncomingEvent::from_record(&m).unwrap();
        assert_eq!(e.event_id.to_string(), ID);
        assert_eq!(e.event_type, "PaymentRequested");
        assert_eq!(e.event_version, 1);
        assert_eq!((e.partition, e.offset), (3, 42));
        assert_eq!(e.key.as_deref(), Some("order-1"));
        assert_eq!(e.payload["orderId"], "x");
        assert_eq!(
            e.trace.trace_id, "0af7651916cd43dd8448eb211c80319c",
            "the trace continues"
        );
    }

    #[test]
    fn missing_or_invalid_envelope_parts_are_named() {
        let cases: Vec<(Record, EnvelopeError)> = vec![
            (
                message(&[(EVENT_TYPE, "X"), (EVENT_VERSION, "1")], Some("{}")),
                EnvelopeError::MissingHeader(EVENT_ID),
            ),
            (
                message(&[(EVENT_ID, ID), (EVENT_VERSION, "1")], Some("{}")),
                EnvelopeError::MissingHeader(EVENT_TYPE),
            ),
            (
                message(&[(EVENT_ID, ID), (EVENT_TYPE, "X")], Some("{}")),
                EnvelopeError::MissingHeader(EVENT_VERSION),
            ),
            (
                message(
                    &[(EVENT_ID, ID), (EVENT_TYPE, "X"), (EVENT_VERSION, "1")],
                    None,
                ),
                EnvelopeError::EmptyValue,
            ),
        ];
        for (m, expected) in cases {
            assert_eq!(IncomingEvent::from_record(&m).unwrap_err(), expected);
        }
        let huge_type = "T".repeat(600_000);
        let huge = message(
            &[
                (EVENT_ID, ID),
                (EVENT_TYPE, &huge_type),
                (EVENT_VERSION, "1"),
            ],
            Some("{}"),
        );
        let error = IncomingEvent::from_record(&huge).unwrap_err();
        assert_eq!(
            error.to_string(),
            "header event-type is invalid: 600000 bytes long, more than 256",
            "the error never repeats the header"
        );
        let not_uuid = message(
            &[(EVENT_ID, "nope"), (EVENT_TYPE, "X"), (EVENT_VERSION, "1")],
            Some("{}"),
        );
        assert!(matches!(
            IncomingEvent::from_record(&not_uuid),
            Err(EnvelopeError::InvalidHeader {
                header: EVENT_ID,
                ..
            })
        ));
        let bad_version = message(
            &[(EVENT_ID, ID), (EVENT_TYPE, "X"), (EVENT_VERSION, "one")],
            Some("{}"),
        );
        assert!(matches!(
            IncomingEvent::from_record(&bad_version),
            Err(EnvelopeError::InvalidHeader {
                header: EVENT_VERSION,
                ..
            })
        ));
        let not_json = message(
            &[(EVENT_ID, ID), (EVENT_TYPE, "X"), (EVENT_VERSION, "1")],
            Some("<xml/>"),
        );
        assert!(matches!(
            IncomingEvent::from_record(&not_json),
            Err(EnvelopeError::NotJson(_))
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn header_name() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(EVENT_ID.to_owned()),
                Just(EVENT_TYPE.to_owned()),
                Just(EVENT_VERSION.to_owned()),
                Just(OCCURRED_AT.to_owned()),
                Just(TRACEPARENT.to_owned()),
                "[a-z-]{1,12}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// Any headers and any bytes: a decoded event or an error, never a panic.
            #[test]
            fn any_record_decodes_or_is_refused(
                headers in prop::collection::vec((header_name(), prop::collection::vec(any::<u8>(), 0..40)), 0..8),
                value in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
            ) {
                let m = Record {
                    topic: "t",
                    partition: 0,
                    offset: 0,
                    key: None,
                    headers: headers.iter().map(|(k, v)| (k.as_str(), Some(v.as_slice()))).collect(),
                    value: value.as_deref(),
                };
                if let Ok(event) = IncomingEvent::from_record(&m) {
                    // A decoded body never panics its typed readers either.
                    let _ = event.payload_as::<crate::events::PaymentRequested>();
                    let _ = event.payload_as::<crate::events::OrderCreated>();
                    let _ = event.payload_as::<crate::events::PaymentFailed>();
                }
            }

            /// A well-formed envelope always decodes, whatever the JSON body.
            #[test]
            fn a_valid_envelope_always_decodes(version in 0i32..1000, body in "[a-z0-9 ]{0,20}") {
                let id = uuid::Uuid::now_v7().to_string();
                let version = version.to_string();
                let value = serde_json::json!({ "text": body }).to_string();
                let m = message(&[(EVENT_ID, &id), (EVENT_TYPE, "X"), (EVENT_VERSION, &version)], Some(&value));
                let event = IncomingEvent::from_record(&m).unwrap();
                prop_assert_eq!(event.event_id.to_string(), id);
                prop_assert_eq!(event.event_version.to_string(), version);
            }
        }
    }
}
