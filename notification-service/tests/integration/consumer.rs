//! notification-service's consumer on the real broker and database: events
//! that waited on the topics are stored together, one notification per order
//! and kind, whatever is repeated among them.

use common::envelope;
use common::testing::{produce_raw, spawn_app, TestTopics};
use common::topics;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn waiting_events_store_one_notification_per_order_and_kind_the_first_one() {
    let topics = TestTopics::create().await;
    let mut app = spawn_app(notification_service::definition(), &topics).await;
    app.stop().await;

    // While notification-service is down (so they are fetched, and stored,
    // together): an OrderCreated twice (same event id), then a payment
    // failure and a contradicting success (new event ids) for the same order.
    let order_id = Uuid::now_v7();
    let created = json!({"orderId": order_id, "customerId": "c-1", "currency": "USD",
        "totalAmount": "9.98", "createdAt": "2026-12-02T10:00:00Z",
        "items": [{"productId": "p", "name": "n", "price": "4.99", "quantity": 2, "subtotal": "9.98"}]});
    let result = json!({"orderId": order_id, "customerId": "c-1", "amount": "9.98",
        "currency": "USD", "decidedAt": "2026-12-02T10:00:01Z", "reason": "insufficient credit"});
    let created_id = Uuid::now_v7().to_string();
    let records = [
        (
            topics::ORDER_CREATED,
            "OrderCreated",
            created_id.clone(),
            &created,
        ),
        (topics::ORDER_CREATED, "OrderCreated", created_id, &created),
        (
            topics::NOTIFICATION_EVENTS,
            "PaymentFailed",
            Uuid::now_v7().to_string(),
            &result,
        ),
        (
            topics::NOTIFICATION_EVENTS,
            "PaymentSucceeded",
            Uuid::now_v7().to_string(),
            &result,
        ),
    ];
    for (topic, event_type, event_id, body) in &records {
        let headers = [
            (envelope::EVENT_ID, event_id.as_str()),
            (envelope::EVENT_TYPE, *event_type),
            (envelope::EVENT_VERSION, "1"),
        ];
        let (topic, key) = (topics.topic(topic), order_id.to_string());
        produce_raw(&topic, &key, &headers, body.to_string().as_bytes()).await;
    }

    let app = app
        .restart(notification_service::definition(), &topics)
        .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    for (result, expected) in [("processed", 2.0), ("duplicate", 2.0)] {
        let labels = [("result", result)];
        let value = app
            .metric_eventually("consumer_records_total", &labels, expected)
            .await;
        assert_eq!(value, expected, "{result}");
    }
    let kinds: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, channel FROM notifications WHERE order_id = $1 ORDER BY kind")
            .bind(order_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let expected = [("ORDER_RECEIVED", "email"), ("PAYMENT_FAILED", "sms")]
        .map(|(kind, channel)| (kind.to_owned(), channel.to_owned()));
    assert_eq!(kinds, expected, "the first payment result is the one told");
}
