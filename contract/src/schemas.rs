//! The committed JSON Schema of every event type and version
//! (`contracts/schemas/`, see docs/messaging.md), compiled in so that a
//! release answers "what is on this topic?" without a repository checkout.

use crate::event_set::EventKind;
use crate::events::{
    OrderCreated, PaymentFailed, PaymentRequested, PaymentRequestedV2, PaymentSucceeded,
};

/// One event type at one version and its schema file's text.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub kind: EventKind,
    pub json: &'static str,
}

macro_rules! schema {
    ($event:ty, $file:literal) => {
        Schema {
            kind: EventKind::of::<$event>(),
            json: include_str!(concat!("../../contracts/schemas/", $file)),
        }
    };
}

/// Every event type and version on the wire.
pub const SCHEMAS: &[Schema] = &[
    schema!(OrderCreated, "OrderCreated.v1.json"),
    schema!(PaymentRequested, "PaymentRequested.v1.json"),
    schema!(PaymentRequestedV2, "PaymentRequested.v2.json"),
    schema!(PaymentSucceeded, "PaymentSucceeded.v1.json"),
    schema!(PaymentFailed, "PaymentFailed.v1.json"),
];

/// The schemas of the events that travel on `topic`, in [`SCHEMAS`] order.
pub fn on_topic(topic: &str) -> impl Iterator<Item = &'static Schema> + '_ {
    SCHEMAS.iter().filter(move |s| s.kind.topic == topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_on_the_wire_has_its_own_schema_and_no_other() {
        let mut listed: Vec<_> = SCHEMAS
            .iter()
            .map(|s| (s.kind.event_type, s.kind.version, s.kind.topic))
            .collect();
        let mut wire: Vec<_> = crate::contract_files::events()
            .iter()
            .map(|e| (e.name, e.version, e.topic))
            .collect();
        listed.sort_unstable();
        wire.sort_unstable();
        assert_eq!(listed, wire);
        for schema in SCHEMAS {
            let value: serde_json::Value = serde_json::from_str(schema.json).unwrap();
            let file = format!("{}.v{}.json", schema.kind.event_type, schema.kind.version);
            assert!(
                value["$id"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{file}")),
                "{file}: {}",
                value["$id"]
            );
        }
    }

    #[test]
    fn both_versions_of_payment_requested_travel_on_payment_requests() {
        let on: Vec<_> = on_topic(crate::topics::PAYMENT_REQUESTS)
            .map(|s| (s.kind.event_type, s.kind.version))
            .collect();
        assert_eq!(on, [("PaymentRequested", 1), ("PaymentRequested", 2)]);
    }
}
