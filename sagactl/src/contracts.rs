//! `sagactl contract [TOPIC]`: what travels on each saga topic, from the
//! schemas compiled into this release — each event type and version, the
//! consumer groups that accept it, and its JSON Schema.

use contract::accepts::GROUP_SETS;
use contract::schemas;
use contract::topics;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicContract {
    pub topic: &'static str,
    pub events: Vec<EventContract>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventContract {
    pub event_type: &'static str,
    pub version: i32,
    pub accepted_by: Vec<&'static str>,
    #[serde(skip)]
    pub schema_text: &'static str,
    pub schema: serde_json::Value,
}

/// `topic` (a saga topic), or all three when `None`.
pub fn contracts(topic: Option<&str>) -> anyhow::Result<Vec<TopicContract>> {
    let chosen: Vec<&'static str> = match topic {
        None => topics::SAGA_TOPICS.to_vec(),
        Some(t) => match topics::SAGA_TOPICS.iter().find(|s| **s == t) {
            Some(s) => vec![*s],
            None => anyhow::bail!(
                "{t} is not a saga topic (one of {})",
                topics::SAGA_TOPICS.join(", ")
            ),
        },
    };
    chosen
        .into_iter()
        .map(|topic| {
            let events = schemas::on_topic(topic)
                .map(|s| {
                    Ok(EventContract {
                        event_type: s.kind.event_type,
                        version: s.kind.version,
                        accepted_by: GROUP_SETS
                            .iter()
                            .filter(|g| g.accepts(&s.kind))
                            .map(|g| g.group)
                            .collect(),
                        schema_text: s.json,
                        schema: serde_json::from_str(s.json)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(TopicContract { topic, events })
        })
        .collect()
}

/// Each topic, then each event's line and its schema file's text.
pub fn render(contracts: &[TopicContract]) -> String {
    let mut out = String::new();
    for topic in contracts {
        out += &format!("== {}\n", topic.topic);
        for event in &topic.events {
            let groups = match event.accepted_by.as_slice() {
                [] => "no consumer group".to_owned(),
                groups => groups.join(", "),
            };
            out += &format!(
                "\n{} v{}, accepted by {groups}\n{}",
                event.event_type, event.version, event.schema_text
            );
        }
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_requests_carries_both_versions_for_billing() {
        let contracts = contracts(Some("payment-requests")).unwrap();
        let events: Vec<_> = contracts[0]
            .events
            .iter()
            .map(|e| (e.event_type, e.version, e.accepted_by.clone()))
            .collect();
        assert_eq!(
            events,
            [
                ("PaymentRequested", 1, vec!["billing-service"]),
                ("PaymentRequested", 2, vec!["billing-service"])
            ]
        );
        let text = render(&contracts);
        assert!(
            text.starts_with("== payment-requests\n\nPaymentRequested v1, accepted by billing-service\n{\n  \"$id\""),
            "{text}"
        );
    }

    #[test]
    fn every_topic_when_none_is_named_and_an_unknown_one_is_refused() {
        let all = contracts(None).unwrap();
        assert_eq!(
            all.iter().map(|t| t.topic).collect::<Vec<_>>(),
            topics::SAGA_TOPICS
        );
        let notified = &all[2].events;
        assert_eq!(
            notified[0].accepted_by,
            ["order-service", "notification-service"]
        );
        assert_eq!(
            all.iter().map(|t| t.events.len()).sum::<usize>(),
            schemas::SCHEMAS.len()
        );
        assert!(contracts(Some("payment-requests.dlq")).is_err());
    }
}
