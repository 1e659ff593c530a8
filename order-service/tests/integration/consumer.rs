//! order-service's consumer on the real broker and database: payment results
//! that waited on the topic are applied together, each order moved once by
//! its first result, and an unknown order is dead-lettered without costing
//! the others anything.

use common::envelope::{self, dlq};
use common::kafka::header_text;
use common::testing::{produce_raw, read_topic, spawn_app, TestApp, TestTopics};
use common::topics;
use order_service::testing::order_body;
use serde_json::{json, Value};
use std::time::Duration;

async fn place(app: &TestApp, customer: &str) -> String {
    let response = app.post_json("/api/orders", &order_body(customer)).await;
    assert_eq!(response.status().as_u16(), 202);
    let order: Value = response.json().await.unwrap();
    order["orderId"].as_str().unwrap().to_owned()
}

/// Produces a payment result for `order_id`: failed when `reason` is given.
async fn result(topic: &str, order_id: &str, event_id: &str, reason: Option<&str>) {
    let mut body = json!({"orderId": order_id, "customerId": "c-1", "amount": "137.01",
                          "currency": "USD", "decidedAt": "2026-11-22T10:00:00Z"});
    let event_type = match reason {
        Some(reason) => {
            body["reason"] = reason.into();
            "PaymentFailed"
        }
        None => "PaymentSucceeded",
    };
    let headers = [
        (envelope::EVENT_ID, event_id),
        (envelope::EVENT_TYPE, event_type),
        (envelope::EVENT_VERSION, "1"),
    ];
    produce_raw(topic, order_id, &headers, body.to_string().as_bytes()).await;
}

#[tokio::test]
async fn waiting_results_move_each_order_once_by_its_first_and_an_unknown_order_is_dead_lettered() {
    let topics = TestTopics::create().await;
    let definition = || order_service::definition(Default::default());
    let mut app = spawn_app(definition(), &topics).await;
    let (failed, paid) = (place(&app, "c-1").await, place(&app, "c-2").await);
    app.stop().await;

    // While order-service is down (so they are fetched, and applied, as one
    // batch): a failure then a contradicting success for one order, and the
    // same success twice for the other.
    let results = topics.topic(topics::NOTIFICATION_EVENTS);
    let id = || uuid::Uuid::now_v7().to_string();
    result(&results, &failed, &id(), Some("insufficient credit")).await;
    result(&results, &failed, &id(), None).await;
    let repeated = id();
    result(&results, &paid, &repeated, None).await;
    result(&results, &paid, &repeated, None).await;

    let app = app.restart(definition(), &topics).await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    for (order_id, status) in [(&failed, "PAYMENT_FAILED"), (&paid, "PAID")] {
        let order = app
            .get_until(
                &format!("/api/orders/{order_id}"),
                Duration::from_secs(30),
                |o| o["status"] != "PENDING",
            )
            .await;
        assert_eq!(order["status"], status, "{order}");
    }
    // Then a result for an order that does not exist.
    let unknown = uuid::Uuid::now_v7().to_string();
    result(&results, &unknown, &id(), None).await;
    for (result, expected) in [
        ("processed", 2.0),
        ("duplicate", 2.0),
        ("dead_lettered", 1.0),
    ] {
        let labels = [("result", result)];
        let value = app
            .metric_eventually("consumer_records_total", &labels, expected)
            .await;
        assert_eq!(value, expected, "{result}");
    }
    for (outcome, expected) in [("paid", 1.0), ("payment_failed", 1.0)] {
        let value = app
            .metric("saga_finished_total", &[("outcome", outcome)])
            .await;
        assert_eq!(value, expected, "{outcome}: one status change per order");
    }
    let dead = read_topic(&topics::dlq(&results), 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        header_text(&dead[0], dlq::ERROR),
        Some(format!("unknown order {unknown}").as_str())
    );
}
