//! What to tell the customer about an order event, and how (pure rules).

use common::consumer::HandleError;
use common::envelope::IncomingEvent;
use common::events::{self, OrderCreated, PaymentFailed, PaymentSucceeded};
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
pub fn notification_for(event: &IncomingEvent) -> Result<Notification, HandleError> {
    Ok(match event.event_type.as_str() {
        events::ORDER_CREATED => {
            let e: OrderCreated = event.payload_as()?;
            Notification {
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
            }
        }
        events::PAYMENT_SUCCEEDED => {
            let e: PaymentSucceeded = event.payload_as()?;
            Notification {
                order_id: e.order_id,
                message: format!(
                    "Payment of {} {} for order {} succeeded.",
                    e.amount, e.currency, e.order_id
                ),
                customer_id: e.customer_id,
                kind: "PAYMENT_SUCCEEDED",
                channel: "email",
            }
        }
        events::PAYMENT_FAILED => {
            let e: PaymentFailed = event.payload_as()?;
            Notification {
                order_id: e.order_id,
                message: format!(
                    "Payment for order {} failed: {}. The order is cancelled.",
                    e.order_id, e.reason
                ),
                customer_id: e.customer_id,
                kind: "PAYMENT_FAILED",
                channel: "sms",
            }
        }
        other => return Err(HandleError::Permanent(format!("unsupported event {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ok = notification_for(&event(events::PAYMENT_SUCCEEDED, payment(None))).unwrap();
        assert_eq!((ok.kind, ok.channel), ("PAYMENT_SUCCEEDED", "email"));
        let failed = notification_for(&event(
            events::PAYMENT_FAILED,
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
        let err = notification_for(&event(events::PAYMENT_FAILED, payment(None))).unwrap_err();
        assert!(matches!(err, HandleError::Permanent(_)), "{err}");
    }
}
