//! The saga's event catalogue: types, versions and bodies (camelCase JSON).
//! The README's "Event catalogue" section describes the same, for people.
//!
//! Money is `rust_decimal::Decimal`, written as a JSON string ("59.97") so no
//! consumer ever reads it through a float.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every event type is at version 1.
pub const V1: i32 = 1;

pub const ORDER_CREATED: &str = "OrderCreated";
pub const PAYMENT_REQUESTED: &str = "PaymentRequested";
pub const PAYMENT_SUCCEEDED: &str = "PaymentSucceeded";
pub const PAYMENT_FAILED: &str = "PaymentFailed";

/// `order-created`, by order-service, for notification-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub order_id: Uuid,
    pub customer_id: String,
    pub items: Vec<OrderLine>,
    pub total_amount: Decimal,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// Also the item view of `GET /api/orders/{id}` (read straight from the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub price: Decimal,
    pub quantity: i32,
    pub subtotal: Decimal,
}

/// `payment-requests`, by order-service, for billing-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequested {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: Decimal,
    pub currency: String,
}

/// `notification-events`, by billing-service, for order-service and notification-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSucceeded {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub decided_at: DateTime<Utc>,
}

/// `notification-events`, by billing-service, for order-service and notification-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailed {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_is_written_as_a_string_and_fields_in_camel_case() {
        let event = PaymentRequested {
            order_id: Uuid::nil(),
            customer_id: "c-1".into(),
            amount: Decimal::from_str("137.01").unwrap(),
            currency: "USD".into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["amount"], "137.01");
        assert_eq!(json["customerId"], "c-1");
        assert_eq!(
            serde_json::from_value::<PaymentRequested>(json).unwrap(),
            event
        );
    }

    #[test]
    fn a_body_missing_a_field_does_not_parse() {
        let json = serde_json::json!({"orderId": Uuid::nil(), "customerId": "c"});
        assert!(serde_json::from_value::<PaymentRequested>(json).is_err());
    }
}
