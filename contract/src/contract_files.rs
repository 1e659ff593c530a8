//! The contract as files, generated here and committed under `contracts/`: a
//! JSON Schema (Draft 2020-12) per event type and version in `schemas/`, and
//! `asyncapi.yaml` (AsyncAPI 3.0.0) with the topics and partitions of the
//! catalogue, the key, the envelope and dead-letter headers, each message's
//! payload by `$ref` to its schema, and who sends and receives what.
//!
//! The test fails, naming the file, when a committed file differs from what
//! the types say; `CONTRACT_REGENERATE=1 cargo test -p contract --lib
//! contract_files` writes them instead. `scripts/check-contracts.sh` then
//! validates the AsyncAPI document with the official parser.
//!
//! A committed schema is a published version's and is frozen: another test
//! checks each type's schema against it (`compat`), and regenerating never
//! rewrites one the type no longer matches (only annotations may change).

use crate::compat;
use crate::envelope::{self, dlq};
use crate::events::{
    OrderCreated, OrderLine, PaymentFailed, PaymentRequested, PaymentRequestedV2, PaymentSucceeded,
    ORDER_CREATED, PAYMENT_FAILED, PAYMENT_REQUESTED, PAYMENT_SUCCEEDED, V1, V2,
};
use crate::topics::{self, CatalogueTopic};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use schemars::{generate::SchemaSettings, JsonSchema};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Base of every schema's `$id`: stable names, not a place to download from.
const ID_BASE: &str = "https://saga.example/contracts/schemas";
/// The environment variable that makes the test write the files.
pub(crate) const REGENERATE: &str = "CONTRACT_REGENERATE";

/// One event type at one version: its schema, its topic and its producer.
pub(crate) struct Event {
    pub(crate) name: &'static str,
    pub(crate) version: i32,
    pub(crate) topic: &'static str,
    pub(crate) producer: &'static str,
    schema: Value,
    example: Value,
}

impl Event {
    fn new<T: JsonSchema + serde::Serialize>(
        name: &'static str,
        version: i32,
        topic: &'static str,
        producer: &'static str,
        example: T,
    ) -> Self {
        let mut schema = SchemaSettings::draft2020_12()
            .with(|s| s.inline_subschemas = true)
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value();
        schema["$id"] = json!(format!("{ID_BASE}/{}", Self::file_name(name, version)));
        Self {
            name,
            version,
            topic,
            producer,
            schema,
            example: serde_json::to_value(example).expect("an event serialises"),
        }
    }

    fn file_name(name: &str, version: i32) -> String {
        format!("{name}.v{version}.json")
    }

    /// The message's id in the AsyncAPI document: the type, and its version past 1.
    fn id(&self) -> String {
        match self.version {
            1 => self.name.to_owned(),
            v => format!("{}V{v}", self.name),
        }
    }
}

fn example_order_id() -> Uuid {
    Uuid::parse_str("0193a0b2-7c1e-7000-8000-000000000001").expect("a UUID")
}

fn money(text: &str) -> Decimal {
    text.parse().expect("an amount")
}

/// Every event type and version on the wire, with an example body.
pub(crate) fn events() -> Vec<Event> {
    let order_id = example_order_id();
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    let customer_id = "customer-42".to_owned();
    let currency = "USD".to_owned();
    vec![
        Event::new(
            ORDER_CREATED,
            V1,
            topics::ORDER_CREATED,
            "order-service",
            OrderCreated {
                order_id,
                customer_id: customer_id.clone(),
                items: vec![OrderLine {
                    product_id: "sku-espresso".into(),
                    name: "Espresso beans, 1 kg".into(),
                    price: money("19.99"),
                    quantity: 3,
                    subtotal: money("59.97"),
                }],
                total_amount: money("59.97"),
                currency: currency.clone(),
                created_at: at,
            },
        ),
        Event::new(
            PAYMENT_REQUESTED,
            V1,
            topics::PAYMENT_REQUESTS,
            "order-service",
            PaymentRequested {
                order_id,
                customer_id: customer_id.clone(),
                amount: money("59.97"),
                currency: currency.clone(),
            },
        ),
        Event::new(
            PAYMENT_REQUESTED,
            V2,
            topics::PAYMENT_REQUESTS,
            "order-service",
            PaymentRequestedV2 {
                request: PaymentRequested {
                    order_id,
                    customer_id: customer_id.clone(),
                    amount: money("59.97"),
                    currency: currency.clone(),
                },
                description: Some("Espresso beans, 1 kg x3".into()),
            },
        ),
        Event::new(
            PAYMENT_SUCCEEDED,
            V1,
            topics::NOTIFICATION_EVENTS,
            "billing-service",
            PaymentSucceeded {
                order_id,
                customer_id: customer_id.clone(),
                amount: money("59.97"),
                currency: currency.clone(),
                decided_at: at,
            },
        ),
        Event::new(
            PAYMENT_FAILED,
            V1,
            topics::NOTIFICATION_EVENTS,
            "billing-service",
            PaymentFailed {
                order_id,
                customer_id,
                amount: money("59.97"),
                currency,
                reason: "credit limit exceeded".into(),
                decided_at: at,
            },
        ),
    ]
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// The headers every record carries, as the relay stamps them.
fn envelope_headers() -> Value {
    json!({
        "type": "object",
        "description": "Kafka record headers, UTF-8 text.",
        "required": [envelope::EVENT_ID, envelope::EVENT_TYPE, envelope::EVENT_VERSION],
        "properties": {
            envelope::EVENT_ID: { "type": "string", "format": "uuid", "description": "UUID v7; consumers apply each event id once." },
            envelope::EVENT_TYPE: text("The event type, e.g. OrderCreated."),
            envelope::EVENT_VERSION: { "type": "string", "pattern": "^[0-9]+$", "description": "The body's version, a decimal integer." },
            envelope::SOURCE: text("The producing service."),
            envelope::OCCURRED_AT: { "type": "string", "format": "date-time", "description": "RFC 3339." },
            envelope::CONTENT_TYPE: { "type": "string", "const": envelope::JSON },
            envelope::TRACEPARENT: text("W3C trace context, when the order came with a trace."),
        },
    })
}

/// The headers a dead-lettered record gains (`envelope::dlq`).
fn dead_letter_headers() -> Value {
    let integer = |description: &str| json!({ "type": "string", "pattern": "^[0-9]+$", "description": description });
    json!({
        "type": "object",
        "description": "The original record's headers (each cut short in a cut copy) plus these, which a replay drops.",
        "required": [dlq::ORIGINAL_TOPIC, dlq::ORIGINAL_PARTITION, dlq::ORIGINAL_OFFSET, dlq::CONSUMER_GROUP, dlq::ERROR, dlq::FAILED_AT],
        "properties": {
            dlq::ORIGINAL_TOPIC: text("The topic the record was refused on."),
            dlq::ORIGINAL_PARTITION: integer("Its partition."),
            dlq::ORIGINAL_OFFSET: integer("Its offset."),
            dlq::CONSUMER_GROUP: text("The consumer group that refused it."),
            dlq::ERROR: text("Why, bounded in length."),
            dlq::FAILED_AT: { "type": "string", "format": "date-time", "description": "When, RFC 3339." },
            dlq::CUT: { "type": "string", "const": "true", "description": "Present when this copy was cut to fit; the whole original is stored." },
            dlq::ORIGINAL_VALUE_BYTES: integer("Size of the original value (cut copies only)."),
            dlq::ORIGINAL_HEADER_BYTES: integer("Size of the original headers (cut copies only)."),
            dlq::ORIGINAL_VALUE_SHA256: { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the original value, hex (cut copies only)." },
            dlq::STORED_ID: { "type": "string", "format": "uuid", "description": "Id of the original in the refusing service's dead_letters table (cut copies only)." },
        },
    })
}

/// A message's headers: the envelope, with its type and version fixed.
fn message_headers(event: &Event, dead_letter: bool) -> Value {
    let fixed = json!({
        "properties": {
            envelope::EVENT_TYPE: { "const": event.name },
            envelope::EVENT_VERSION: { "const": event.version.to_string() },
        },
    });
    let mut all = vec![
        json!({ "$ref": "#/components/schemas/EnvelopeHeaders" }),
        fixed,
    ];
    if dead_letter {
        all.push(json!({ "$ref": "#/components/schemas/DeadLetterHeaders" }));
    }
    json!({ "allOf": all })
}

fn example_headers(event: &Event) -> Value {
    json!({
        envelope::EVENT_ID: "0193a0b2-7c1f-7000-8000-00000000000a",
        envelope::EVENT_TYPE: event.name,
        envelope::EVENT_VERSION: event.version.to_string(),
        envelope::SOURCE: event.producer,
        envelope::OCCURRED_AT: "2026-11-22T10:00:00.000Z",
        envelope::CONTENT_TYPE: envelope::JSON,
        envelope::TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    })
}

fn message(event: &Event, dead_letter: bool) -> Value {
    let (title, description, headers) = if dead_letter {
        let mut headers = example_headers(event);
        let provenance = json!({
            dlq::ORIGINAL_TOPIC: event.topic,
            dlq::ORIGINAL_PARTITION: "3",
            dlq::ORIGINAL_OFFSET: "42",
            dlq::CONSUMER_GROUP: consumers(event.topic)[0],
            dlq::ERROR: format!("{} v{} body: customerId must not be blank", event.name, event.version),
            dlq::FAILED_AT: "2026-11-22T10:00:01.000Z",
        });
        headers
            .as_object_mut()
            .unwrap()
            .extend(provenance.as_object().unwrap().clone());
        (
            format!("{} v{}, dead-lettered", event.name, event.version),
            format!(
                "A record of {} that a consumer could never apply, as it was: key, value and headers, plus the \
                 provenance headers. The value may break the schema (that can be why it is here); a cut copy \
                 (`{}: true`) holds only the start of it.",
                event.topic,
                dlq::CUT
            ),
            headers,
        )
    } else {
        (
            format!("{} v{}", event.name, event.version),
            format!("Published by {} through its outbox.", event.producer),
            example_headers(event),
        )
    };
    json!({
        "name": event.name,
        "title": title,
        "description": description,
        "contentType": envelope::JSON,
        "headers": message_headers(event, dead_letter),
        "payload": { "$ref": format!("./schemas/{}", Event::file_name(event.name, event.version)) },
        "bindings": { "kafka": {
            "key": { "type": "string", "format": "uuid", "description": "The order id: one order's events share a partition, in order." },
            "bindingVersion": "0.5.0",
        }},
        "examples": [{ "name": "example", "headers": headers, "payload": event.example }],
    })
}

/// The consumer groups that read `topic`.
fn consumers(topic: &str) -> Vec<&'static str> {
    topics::CONSUMER_GROUPS
        .iter()
        .filter(|(_, read)| read.contains(&topic))
        .map(|(group, _)| *group)
        .collect()
}

fn channel(topic: &CatalogueTopic, messages: Map<String, Value>, description: String) -> Value {
    json!({
        "address": topic.name,
        "description": description,
        "messages": messages,
        "bindings": { "kafka": {
            "topic": topic.name,
            "partitions": topic.partitions,
            "topicConfiguration": {
                "retention.ms": topic.retention_ms,
                "min.insync.replicas": topic.min_insync_replicas,
            },
            "bindingVersion": "0.5.0",
        }},
    })
}

fn operation(
    service: &str,
    action: &str,
    channel: &str,
    messages: &[String],
    summary: String,
) -> Value {
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| json!({ "$ref": format!("#/channels/{channel}/messages/{m}") }))
        .collect();
    json!({
        "action": action,
        "channel": { "$ref": format!("#/channels/{channel}") },
        "messages": messages,
        "summary": summary,
        "tags": [{ "name": service }],
    })
}

/// The AsyncAPI document, from the events, the catalogue and `CONSUMER_GROUPS`.
fn asyncapi(events: &[Event]) -> Value {
    let catalogue = topics::catalogue();
    let topic = |name: &str| {
        catalogue
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} is not in kafka-setup/topics.conf"))
    };
    let (mut channels, mut operations, mut messages) = (Map::new(), Map::new(), Map::new());
    for name in topics::SAGA_TOPICS {
        let dlq_name = topics::dlq(name);
        let here: Vec<&Event> = events.iter().filter(|e| e.topic == name).collect();
        let ids: Vec<String> = here.iter().map(|e| e.id()).collect();
        let refs = |suffix: &str| -> Map<String, Value> {
            ids.iter()
                .map(|id| {
                    let target = format!("#/components/messages/{id}{suffix}");
                    (id.clone(), json!({ "$ref": target }))
                })
                .collect()
        };
        let readers = consumers(name);
        channels.insert(
            name.into(),
            channel(
                topic(name),
                refs(""),
                format!("Read by {}.", readers.join(", ")),
            ),
        );
        channels.insert(
            dlq_name.clone(),
            channel(
                topic(&dlq_name),
                refs("DeadLetter"),
                format!(
                    "Records of {name} no handler could apply; read and replayed by `sagactl dlq`."
                ),
            ),
        );
        for event in &here {
            messages.insert(event.id(), message(event, false));
            messages.insert(format!("{}DeadLetter", event.id()), message(event, true));
        }
        let mut producers: Vec<&str> = here.iter().map(|e| e.producer).collect();
        producers.dedup();
        for producer in producers {
            let sent: Vec<String> = here
                .iter()
                .filter(|e| e.producer == producer)
                .map(|e| e.id())
                .collect();
            operations.insert(
                format!("{producer}.send.{name}"),
                operation(
                    producer,
                    "send",
                    name,
                    &sent,
                    format!("{producer} publishes through its outbox."),
                ),
            );
        }
        for group in &readers {
            operations.insert(
                format!("{group}.receive.{name}"),
                operation(
                    group,
                    "receive",
                    name,
                    &ids,
                    format!("{group} applies each event once (consumer group {group})."),
                ),
            );
            operations.insert(
                format!("{group}.dead-letter.{name}"),
                operation(
                    group,
                    "send",
                    &dlq_name,
                    &ids,
                    format!("{group} dead-letters a record of {name} it can never apply."),
                ),
            );
        }
        operations.insert(
            format!("sagactl.receive.{dlq_name}"),
            operation(
                "sagactl",
                "receive",
                &dlq_name,
                &ids,
                "sagactl dlq lists and inspects dead letters.".into(),
            ),
        );
        operations.insert(
            format!("sagactl.replay.{name}"),
            operation("sagactl", "send", name, &ids, format!("sagactl dlq replay puts a dead letter back on {name}, without the dlq- headers.")),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Order saga events",
            "version": "1.0.0",
            "description": "The order → billing → notification saga on Kafka. Generated by contract/src/contract_files.rs \
                from the event types, kafka-setup/topics.conf and contract/src/topics.rs; do not edit. \
                Topic names get the configured topic prefix, if any.",
        },
        "defaultContentType": envelope::JSON,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {
                "EnvelopeHeaders": envelope_headers(),
                "DeadLetterHeaders": dead_letter_headers(),
            },
            "messages": messages,
        },
    })
}

fn schema_file(event: &Event) -> String {
    format!("schemas/{}", Event::file_name(event.name, event.version))
}

/// The files under `contracts/`, relative to it, with their contents.
fn files() -> Vec<(String, String)> {
    let events = events();
    let mut files: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let text = serde_json::to_string_pretty(&sorted(&e.schema)).unwrap() + "\n";
            (schema_file(e), text)
        })
        .collect();
    let mut yaml = String::from(
        "# Generated by contract/src/contract_files.rs: do not edit (see docs/messaging.md).\n",
    );
    emit(&asyncapi(&events), 0, &mut yaml);
    files.push(("asyncapi.yaml".into(), yaml));
    files
}

/// `value` with its keys in order, whether or not serde_json preserves
/// insertion order in this build.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Keys a reader looks for first; the rest follow in alphabetical order.
const KEY_ORDER: [&str; 17] = [
    "asyncapi",
    "info",
    "title",
    "version",
    "name",
    "summary",
    "description",
    "defaultContentType",
    "channels",
    "operations",
    "components",
    "address",
    "action",
    "channel",
    "contentType",
    "headers",
    "payload",
];

fn key_rank(key: &str) -> (usize, &str) {
    (
        KEY_ORDER
            .iter()
            .position(|k| *k == key)
            .unwrap_or(KEY_ORDER.len()),
        key,
    )
}

/// A string YAML reads back as the same string without quotes.
fn plain(text: &str) -> bool {
    let reserved = ["true", "false", "null", "yes", "no", "on", "off", "y", "n"];
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$')
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_./,()$".contains(c))
        && !reserved.contains(&text.to_ascii_lowercase().as_str())
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) if plain(s) => s.clone(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        // JSON's quoted strings, numbers, booleans and null are YAML too.
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// `value` (a non-empty map or list) as block YAML, each line indented by `indent`.
pub(crate) fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| key_rank(k));
            for key in keys {
                let value = &map[key];
                let key = scalar(&Value::String(key.clone()));
                if is_block(value) {
                    out.push_str(&format!("{pad}{key}:\n"));
                    emit(value, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{key}: {}\n", scalar(value)));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block(item) {
                    let mut nested = String::new();
                    emit(item, indent + 2, &mut nested);
                    out.push_str(&format!("{pad}- {}", &nested[indent + 2..]));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => unreachable!("not a block: {other}"),
    }
}

fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts")
}

/// Each published version whose type no longer matches its committed (frozen)
/// schema, by file, with what changed.
fn incompatible() -> Vec<(String, Vec<String>)> {
    events()
        .iter()
        .filter_map(|event| {
            let file = schema_file(event);
            let text = std::fs::read_to_string(contracts_dir().join(&file)).ok()?;
            let frozen: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("contracts/{file} is not JSON: {e}"));
            let changes = compat::check(event.name, event.version, &frozen, &event.schema);
            (!changes.is_empty()).then_some((file, changes))
        })
        .collect()
}

#[test]
fn published_event_versions_stay_compatible() {
    let changes: Vec<String> = incompatible().into_iter().flat_map(|(_, c)| c).collect();
    assert!(
        changes.is_empty(),
        "a published event version changed incompatibly:\n  {}\n\
         a published version's schema is frozen: put the change in a new version \
         (docs/messaging.md, \"Evolving an event\")",
        changes.join("\n  ")
    );
}

/// Writes each of `files` (path under `root`, text) whose committed copy
/// differs when `regenerate`; otherwise returns the paths that differ.
pub(crate) fn sync_files(root: &Path, files: &[(String, String)], regenerate: bool) -> Vec<String> {
    let mut stale = Vec::new();
    for (name, text) in files {
        let path = root.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if regenerate {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        } else {
            stale.push(name.clone());
        }
    }
    stale
}

#[test]
fn the_committed_contract_files_are_generated_from_the_types() {
    let dir = contracts_dir();
    let regenerate = std::env::var_os(REGENERATE).is_some();
    let files = files();
    // Write nothing then, so the files stay the published contract as a whole.
    let frozen: Vec<String> = incompatible().into_iter().map(|(file, _)| file).collect();
    assert!(
        !regenerate || frozen.is_empty(),
        "not regenerating: published versions changed incompatibly: contracts/{} \
         (see published_event_versions_stay_compatible)",
        frozen.join(", contracts/")
    );
    let mut stale: Vec<String> = sync_files(&dir, &files, regenerate)
        .into_iter()
        .map(|name| format!("contracts/{name}"))
        .collect();
    for entry in std::fs::read_dir(dir.join("schemas")).unwrap() {
        let name = format!("schemas/{}", entry.unwrap().file_name().to_string_lossy());
        if !files.iter().any(|(generated, _)| *generated == name) {
            stale.push(format!(
                "contracts/{name} (no event type generates it: remove it)"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "contract files differ from the types: {}\nregenerate with {REGENERATE}=1 cargo test -p contract --lib contract_files, and review the diff",
        stale.join(", ")
    );
}

#[test]
fn every_schema_says_draft_2020_12_money_as_strings_and_camel_case_names() {
    let order = events()
        .into_iter()
        .find(|e| e.name == ORDER_CREATED)
        .unwrap();
    let schema = &order.schema;
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["$id"], format!("{ID_BASE}/OrderCreated.v1.json"));
    let properties = &schema["properties"];
    assert_eq!(properties["totalAmount"]["type"], "string");
    assert_eq!(
        properties["totalAmount"]["pattern"],
        crate::money::WIRE_PATTERN
    );
    assert_eq!(
        properties["items"]["items"]["properties"]["price"]["type"],
        "string"
    );
    assert_eq!(properties["orderId"]["format"], "uuid");
    assert_eq!(properties["createdAt"]["format"], "date-time");
    assert_eq!(
        order.example["totalAmount"], "59.97",
        "the wire writes a string"
    );
}

#[test]
fn the_yaml_writer_quotes_what_would_read_differently() {
    let mut out = String::new();
    emit(
        &json!({ "a": "3.0.0", "b": "yes", "c": "x: y", "d": [1, { "e": "f", "g": [] }], "h": "plain text" }),
        0,
        &mut out,
    );
    assert_eq!(
        out,
        "a: \"3.0.0\"\nb: \"yes\"\nc: \"x: y\"\nd:\n  - 1\n  - e: f\n    g: []\nh: plain text\n"
    );
}
