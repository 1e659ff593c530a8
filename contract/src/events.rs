//! The saga's event catalogue: types, versions and bodies (camelCase JSON).
//! The README's "Event catalogue" section describes the same, for people.
//!
//! Money is `rust_decimal::Decimal`, written as a JSON string ("59.97") so no
//! consumer ever reads it through a float.

use crate::limits;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every event type has a version 1.
pub const V1: i32 = 1;
/// `PaymentRequested` also has a version 2.
pub const V2: i32 = 2;

pub const ORDER_CREATED: &str = "OrderCreated";
pub const PAYMENT_REQUESTED: &str = "PaymentRequested";
pub const PAYMENT_SUCCEEDED: &str = "PaymentSucceeded";
pub const PAYMENT_FAILED: &str = "PaymentFailed";

/// `order-created`, by order-service, for notification-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub order_id: Uuid,
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_ID_CHARS)))]
    pub customer_id: String,
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_ITEMS)))]
    pub items: Vec<OrderLine>,
    #[cfg_attr(test, schemars(with = "crate::money::Money"))]
    pub total_amount: Decimal,
    #[cfg_attr(test, schemars(regex(pattern = r"^[A-Z]{3}$")))]
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// Also the item view of `GET /api/orders/{id}` (read straight from the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_ID_CHARS)))]
    pub product_id: String,
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_NAME_CHARS)))]
    pub name: String,
    #[cfg_attr(test, schemars(with = "crate::money::Money"))]
    pub price: Decimal,
    #[cfg_attr(test, schemars(range(min = 1)))]
    pub quantity: i32,
    #[cfg_attr(test, schemars(with = "crate::money::Money"))]
    pub subtotal: Decimal,
}

/// `payment-requests`, by order-service, for billing-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequested {
    pub order_id: Uuid,
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_ID_CHARS)))]
    pub customer_id: String,
    #[cfg_attr(test, schemars(with = "crate::money::Money"))]
    pub amount: Decimal,
    #[cfg_attr(test, schemars(regex(pattern = r"^[A-Z]{3}$")))]
    pub currency: String,
}

/// `payment-requests`, version 2: version 1's fields and what the payment is
/// for. A consumer of both reads a v1 body as this one without a description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequestedV2 {
    #[serde(flatten)]
    pub request: PaymentRequested,
    /// What the payment is for, as a statement shows it (e.g. the items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_NAME_CHARS)))]
    pub description: Option<String>,
}

/// `notification-events`, by billing-service, for order-service and notification-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaymentSucceeded {
    pub order_id: Uuid,
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_ID_CHARS)))]
    pub customer_id: String,
    #[cfg_attr(test, schemars(with = "crate::money::Money"))]
    pub amount: Decimal,
    #[cfg_attr(test, schemars(regex(pattern = r"^[A-Z]{3}$")))]
    pub currency: String,
    pub decided_at: DateTime<Utc>,
}

/// `notification-events`, by billing-service, for order-service and notification-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailed {
    pub order_id: Uuid,
    #[cfg_attr(test, schemars(length(min = 1, max = limits::MAX_ID_CHARS)))]
    pub customer_id: String,
    #[cfg_attr(test, schemars(with = "crate::money::Money"))]
    pub amount: Decimal,
    #[cfg_attr(test, schemars(regex(pattern = r"^[A-Z]{3}$")))]
    pub currency: String,
    #[cfg_attr(test, schemars(length(max = limits::MAX_REASON_CHARS)))]
    pub reason: String,
    pub decided_at: DateTime<Utc>,
}

/// An event body's fields checked against [`crate::limits`], the same
/// limits as the HTTP API: a body beyond them came from somewhere other than
/// our own services and is dead-lettered when decoded, before it can reach
/// the database (where an 8,000-character id fails in an index, forever).
pub trait WithinLimits {
    /// The first field beyond our limits, named by its JSON path.
    fn check_limits(&self) -> Result<(), String>;
}

fn text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    limits::check_text(value, max_chars).map_err(|e| format!("{field} {e}"))
}

fn amount(field: &str, value: Decimal) -> Result<(), String> {
    match limits::money(value) {
        Some(_) if value > Decimal::ZERO && value <= MAX_AMOUNT => Ok(()),
        _ => Err(format!(
            "{field} must be an amount greater than 0 and at most {MAX_AMOUNT}, with at most 2 decimals"
        )),
    }
}

fn currency(value: &str) -> Result<(), String> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("currency must be a three-letter ISO 4217 code".into())
    }
}

/// The largest amount a `NUMERIC(14, 2)` column holds.
const MAX_AMOUNT: Decimal = Decimal::from_parts(276_447_231, 23_283, 0, false, 2);

impl WithinLimits for OrderCreated {
    fn check_limits(&self) -> Result<(), String> {
        text("customerId", &self.customer_id, limits::MAX_ID_CHARS)?;
        if self.items.is_empty() || self.items.len() > limits::MAX_ITEMS {
            return Err(format!("items must hold 1 to {} items", limits::MAX_ITEMS));
        }
        for (i, item) in self.items.iter().enumerate() {
            text(
                &format!("items[{i}].productId"),
                &item.product_id,
                limits::MAX_ID_CHARS,
            )?;
            text(
                &format!("items[{i}].name"),
                &item.name,
                limits::MAX_NAME_CHARS,
            )?;
            amount(&format!("items[{i}].price"), item.price)?;
            amount(&format!("items[{i}].subtotal"), item.subtotal)?;
            if item.quantity < 1 {
                return Err(format!("items[{i}].quantity must be at least 1"));
            }
        }
        amount("totalAmount", self.total_amount)?;
        currency(&self.currency)
    }
}

/// The fields every payment event carries: who, how much, in what currency.
fn payment(customer_id: &str, value: Decimal, currency_code: &str) -> Result<(), String> {
    text("customerId", customer_id, limits::MAX_ID_CHARS)?;
    amount("amount", value)?;
    currency(currency_code)
}

impl WithinLimits for PaymentRequested {
    fn check_limits(&self) -> Result<(), String> {
        payment(&self.customer_id, self.amount, &self.currency)
    }
}

impl WithinLimits for PaymentRequestedV2 {
    fn check_limits(&self) -> Result<(), String> {
        self.request.check_limits()?;
        match &self.description {
            Some(description) => text("description", description, limits::MAX_NAME_CHARS),
            None => Ok(()),
        }
    }
}

impl WithinLimits for PaymentSucceeded {
    fn check_limits(&self) -> Result<(), String> {
        payment(&self.customer_id, self.amount, &self.currency)
    }
}

impl WithinLimits for PaymentFailed {
    fn check_limits(&self) -> Result<(), String> {
        payment(&self.customer_id, self.amount, &self.currency)?;
        limits::check_optional_text(&self.reason, limits::MAX_REASON_CHARS)
            .map_err(|e| format!("reason {e}"))
    }
}

/// An event body that travels on its own: its envelope's type and version,
/// the topic it is published to and its key (the order id, so one order's
/// events stay in partition order) follow from the type, so no producer or
/// consumer spells them out.
pub trait Event: Serialize + serde::de::DeserializeOwned + WithinLimits {
    const TYPE: &'static str;
    const VERSION: i32;
    /// Logical topic name (see [`crate::topics`]).
    const TOPIC: &'static str;

    fn order_id(&self) -> Uuid;

    /// The record key.
    fn key(&self) -> String {
        self.order_id().to_string()
    }
}

/// Each body's key is its `orderId`.
macro_rules! event {
    ($body:ty, $event_type:expr, $version:expr, $topic:expr) => {
        event! { $body, $event_type, $version, $topic, order_id }
    };
    ($body:ty, $event_type:expr, $version:expr, $topic:expr, $($id:ident).+) => {
        impl Event for $body {
            const TYPE: &'static str = $event_type;
            const VERSION: i32 = $version;
            const TOPIC: &'static str = $topic;
            fn order_id(&self) -> Uuid {
                self.$($id).+
            }
        }
    };
}

event! { OrderCreated, ORDER_CREATED, V1, crate::topics::ORDER_CREATED }
event! { PaymentRequested, PAYMENT_REQUESTED, V1, crate::topics::PAYMENT_REQUESTS }
event! { PaymentRequestedV2, PAYMENT_REQUESTED, V2, crate::topics::PAYMENT_REQUESTS, request.order_id }
event! { PaymentSucceeded, PAYMENT_SUCCEEDED, V1, crate::topics::NOTIFICATION_EVENTS }
event! { PaymentFailed, PAYMENT_FAILED, V1, crate::topics::NOTIFICATION_EVENTS }

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

    #[test]
    fn the_largest_numeric_14_2_amount_is_the_limit() {
        assert_eq!(MAX_AMOUNT.to_string(), "999999999999.99");
    }

    #[test]
    fn fields_beyond_the_api_limits_are_named() {
        let mut event = PaymentRequested {
            order_id: Uuid::nil(),
            customer_id: "c".repeat(8_000),
            amount: Decimal::ONE,
            currency: "USD".into(),
        };
        assert_eq!(
            event.check_limits(),
            Err("customerId must be at most 100 characters".into())
        );
        event.customer_id = "c\0x".into();
        assert_eq!(
            event.check_limits(),
            Err("customerId must not contain NUL characters".into())
        );
        event.customer_id = "c-1".into();
        assert_eq!(event.check_limits(), Ok(()));
        event.amount = Decimal::from_str("0.001").unwrap();
        assert!(event.check_limits().unwrap_err().starts_with("amount "));
        event.amount = Decimal::from_str("1000000000000").unwrap();
        assert!(event.check_limits().unwrap_err().starts_with("amount "));
        event.amount = Decimal::ONE;
        event.currency = "usd".into();
        assert!(event.check_limits().unwrap_err().starts_with("currency "));
    }

    #[test]
    fn a_v2_description_is_optional_checked_and_absent_from_v1() {
        let v1 = PaymentRequested {
            order_id: Uuid::nil(),
            customer_id: "c-1".into(),
            amount: Decimal::ONE,
            currency: "USD".into(),
        };
        let mut v2 = PaymentRequestedV2 {
            request: v1.clone(),
            description: None,
        };
        // Without a description, a v2 body is a v1 body, and reads back as v2.
        let json = serde_json::to_value(&v2).unwrap();
        assert_eq!(json, serde_json::to_value(&v1).unwrap());
        assert_eq!(
            serde_json::from_value::<PaymentRequestedV2>(json).unwrap(),
            v2
        );
        v2.request.amount = Decimal::from_str("0.001").unwrap();
        assert!(v2.check_limits().unwrap_err().starts_with("amount "));
        v2.request.amount = Decimal::ONE;
        assert_eq!(v2.check_limits(), Ok(()));
        v2.description = Some("Kettle x3".into());
        assert_eq!(v2.check_limits(), Ok(()));
        v2.description = Some("d".repeat(201));
        assert_eq!(
            v2.check_limits(),
            Err("description must be at most 200 characters".into())
        );
        v2.description = Some(" ".into());
        assert_eq!(
            v2.check_limits(),
            Err("description must not be blank".into())
        );
    }
}
