//! Test support (feature `testing`): a sample order, shared by this crate's
//! tests and the whole-saga tests in `e2e`.

use serde_json::Value;

/// A two-item order for `customer`, totalling 146.99.
pub fn order_body(customer: &str) -> Value {
    // Float noise as a JavaScript client sends it: 45.67 * 3 = 137.01000000000002.
    serde_json::from_str(&format!(
        r#"{{"customerId": "{customer}", "items": [
            {{"productId": "p-1", "name": "Kettle", "price": 45.67, "quantity": 3, "subtotal": 137.01000000000002}},
            {{"productId": "p-2", "name": "Mug", "price": 4.99, "quantity": 2, "subtotal": 9.98}}],
          "totalAmount": 146.99000000000001}}"#
    ))
    .unwrap()
}

/// One item of 3 × 19.99, for [`body_with`].
pub const ITEM: &str =
    r#"{"productId": "p-1", "name": "Widget", "price": 19.99, "quantity": 3, "subtotal": 59.97}"#;

/// An order of customer `c-1` as raw JSON text, with `extra` fields appended.
pub fn body_with(item: &str, total: &str, extra: &str) -> String {
    format!(r#"{{"customerId": "c-1", "items": [{item}], "totalAmount": {total}{extra}}}"#)
}
