//! What to tell the customer about an order event, and how (pure rules).

use common::accepts::Notifiable;
use uuid::Uuid;

/// What to tell the customer, and how.
#[derive(Debug, PartialEq, Eq)]
pub struct Notification {
    pub order_id: Uuid,
    pub customer_id: String,
    pub kind: &'static str,
    pub channel: &'static str,
    pub message: String,
}

/// Turns an event into its notification (pure logic).
pub fn notification_for(event: Notifiable) -> Notification {
    match event {
        Notifiable::OrderCreated(e) => Notification {
            order_id: e.order_id,
            message: format!(
                "We received your order {} ({} item(s), {} {}).",
                e.order_id,
                e.items.len(),
                e.total_amount,
                e.currency
            ),
            customer_id: e.customer_id,
            kind: "ORDER_RECEIVED",
            channel: "email",
        },
        Notifiable::PaymentSucceeded(e) => Notification {
            order_id: e.order_id,
            message: format!(
                "Payment of {} {} for order {} succeeded.",
                e.amount, e.currency, e.order_id
            ),
            customer_id: e.customer_id,
            kind: "PAYMENT_SUCCEEDED",
            channel: "email",
        },
        Notifiable::PaymentFailed(e) => Notification {
            order_id: e.order_id,
            message: format!(
                "Payment for order {} failed: {}. The order is cancelled.",
                e.order_id, e.reason
            ),
            customer_id: e.customer_id,
            kind: "PAYMENT_FAILED",
            channel: "sms",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::consumer::HandleError;
    use common::envelope::IncomingEvent;
    use common::event_set::EventSet;
    use common::events::{Event, PaymentFailed, PaymentSucceeded};

    /// As the consumer loop decodes a record, then the rule.
    fn notification_of(event: &IncomingEvent) -> Result<Notification, HandleError> {
        Ok(notification_for(Notifiable::decode(event)?))
    }

    fn event(event_type: &str, payload: serde_json::Value) -> IncomingEvent {
        IncomingEvent {
            topic: "notification-events".into(),
            partition: 0,
            offset: 0,
            key: None,
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            event_version: 1,
            source: None,
            occurred_at: None,
            traceparent: None,
            trace: common::trace::TraceContext::new_root(),
            payload,
        }
    }

    fn payment(reason: Option<&str>) -> serde_json::Value {
        let mut body = serde_json::json!({"orderId": Uuid::nil(), "customerId": "c-1", "amount": "9.98",
                                          "currency": "USD", "decidedAt": "2026-11-22T10:00:00Z"});
        if let Some(reason) = reason {
            body["reason"] = reason.into();
        }
        body
    }

    #[test]
    fn a_successful_payment_is_an_email_and_a_failed_one_an_sms_with_its_reason() {
        let ok = notification_of(&event(PaymentSucceeded::TYPE, payment(None))).unwrap();
        assert_eq!((ok.kind, ok.channel), ("PAYMENT_SUCCEEDED", "email"));
        let failed = notification_of(&event(
            PaymentFailed::TYPE,
            payment(Some("insufficient credit")),
        ))
        .unwrap();
        assert_eq!((failed.kind, failed.channel), ("PAYMENT_FAILED", "sms"));
        assert!(
            failed.message.contains("insufficient credit"),
            "{}",
            failed.message
        );
    }

    #[test]
    fn a_body_missing_fields_is_permanent() {
        let err = notification_of(&event(PaymentFailed::TYPE, payment(None))).unwrap_err();
        assert!(matches!(err, HandleError::Permanent(_)), "{err}");
    }
}
