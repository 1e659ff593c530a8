//! Property tests of the request validator (pure) and of the HTTP API on the
//! real database: arbitrary input never panics and never yields a 5xx, and a
//! valid order, sent as a JavaScript client would (float arithmetic), always
//! parses to the server's exact decimal amounts.

use order_service::domain::parse_new_order;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Arbitrary JSON, a few levels deep, with the field names the validator
/// looks for so that the interesting paths are reached.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("customerId".to_owned()),
        Just("items".to_owned()),
        Just("totalAmount".to_owned()),
        Just("currency".to_owned()),
        Just("productId".to_owned()),
        Just("name".to_owned()),
        Just("price".to_owned()),
        Just("quantity".to_owned()),
        Just("subtotal".to_owned()),
        "[a-z]{1,8}",
    ];
    let number = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "-?[0-9]{1,30}(\\.[0-9]{1,30})?(e-?[0-9]{1,3})?"
            .prop_map(|s| serde_json::from_str(&s).unwrap_or(json!(0))),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number,
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid order as a JavaScript client builds it: prices in cents, float
/// products and sums (with their noise), printed the way JSON.stringify does.
fn javascript_order() -> impl Strategy<Value = (String, Vec<(i64, i32)>)> {
    (
        "[a-z0-9-]{1,20}",
        prop::collection::vec((1i64..=100_000_000, 1i32..=1000), 1..=20),
    )
}

fn js_number(f: f64) -> String {
    // serde_json prints the shortest representation that round-trips, as JS does.
    serde_json::to_string(&f).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics_the_validator(body in arbitrary_json()) {
        let _ = parse_new_order(&body);
    }

    #[test]
    fn a_valid_javascript_order_always_parses_to_exact_cents((customer, lines) in javascript_order()) {
        let mut items = Vec::new();
        let mut js_total = 0f64;
        let mut exact_total = Decimal::ZERO;
        for (i, (cents, quantity)) in lines.iter().enumerate() {
            let price = *cents as f64 / 100.0;
            let subtotal = price * *quantity as f64;
            js_total += subtotal;
            exact_total += Decimal::new(*cents, 2) * Decimal::from(*quantity);
            items.push(format!(
                r#"{{"productId": "p-{i}", "name": "Item {i}", "price": {}, "quantity": {quantity}, "subtotal": {}}}"#,
                js_number(price),
                js_number(subtotal)
            ));
        }
        let text = format!(
            r#"{{"customerId": "{customer}", "items": [{}], "totalAmount": {}}}"#,
            items.join(", "),
            js_number(js_total)
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        let order = parse_new_order(&body).map_err(|e| TestCaseError::fail(format!("{e:?} for {text}")))?;
        prop_assert_eq!(order.total_amount, exact_total);
        prop_assert_eq!(order.items.len(), lines.len());
        prop_assert_eq!(order.currency, "USD");
    }
}

#[tokio::test]
async fn arbitrary_bodies_never_get_a_5xx() {
    use common::testing::{spawn_app, TestTopics};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let topics = TestTopics::create().await;
    let app = spawn_app(order_service::definition(Default::default()), &topics).await;
    let mut runner = TestRunner::deterministic();
    let bytes = prop::collection::vec(any::<u8>(), 0..300);
    for case in 0..300 {
        let response = if case % 3 == 0 {
            // Raw bytes claiming to be JSON.
            let body = bytes.new_tree(&mut runner).unwrap().current();
            app.http
                .post(format!("{}/api/orders", app.address))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        } else {
            let body = arbitrary_json().new_tree(&mut runner).unwrap().current();
            app.post_json("/api/orders", &body).await
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status < 500, "case {case}: {status} {text}");
        assert!(
            (200..300).contains(&status) || text.contains("\"error\""),
            "case {case}: {status} {text}"
        );
    }
}
