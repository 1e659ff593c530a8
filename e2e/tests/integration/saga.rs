//! The whole saga, three real services on the real broker and three real
//! databases, each test with its own topics and databases.

use common::envelope;
use common::kafka::header_text as header;
use common::testing::{produce_raw, read_topic, TestApp};
use common::topics;
use e2e::{order_body, sorted_pairs, Saga};
use rdkafka::message::Message;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// An order of one item costing `amount`.
fn single_item_order(customer: &str, amount: &str) -> Value {
    serde_json::from_str(&format!(
        r#"{{"customerId": "{customer}", "items": [
            {{"productId": "p-1", "name": "Chair", "price": {amount}, "quantity": 1, "subtotal": {amount}}}],
          "totalAmount": {amount}}}"#
    ))
    .unwrap()
}

fn kinds(notifications: &[Value]) -> Vec<(String, String)> {
    sorted_pairs(notifications, "kind", "channel")
}

#[tokio::test]
async fn an_order_is_paid_charged_once_and_notified_twice() {
    let saga = Saga::start().await;

    let response = saga
        .orders
        .post_json("/api/orders", &order_body("alice"))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = response.json().await.unwrap();
    let id = order["orderId"].as_str().unwrap().to_owned();
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["totalAmount"], "146.99");
    assert_eq!(location, format!("/api/orders/{id}"));

    let (order, took) = saga.final_order(&id).await;
    println!("saga completed in {took:?}");
    assert_eq!(order["status"], "PAID", "{order}");
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert_eq!(order["items"][0]["subtotal"], "137.01");

    let payment: Value = saga.billing.get_json(&format!("/api/payments/{id}")).await;
    assert_eq!(payment["status"], "SUCCEEDED");
    assert_eq!(payment["amount"], "146.99");
    assert_eq!(saga.payment_count(&id).await, 1);
    let account: Value = saga.billing.get_json("/api/accounts/alice").await;
    assert_eq!(account["availableCredit"], "853.01");

    let notifications = saga.notifications_of(&id, 2).await;
    assert_eq!(
        kinds(&notifications),
        [
            ("ORDER_RECEIVED".into(), "email".into()),
            ("PAYMENT_SUCCEEDED".into(), "email".into())
        ]
    );

    // Every record of the order carries the envelope, keyed by the order id.
    for topic in [
        topics::ORDER_CREATED,
        topics::PAYMENT_REQUESTS,
        topics::NOTIFICATION_EVENTS,
    ] {
        let records = read_topic(&saga.topics.topic(topic), 1, Duration::from_secs(10)).await;
        let record = records
            .first()
            .unwrap_or_else(|| panic!("no record on {topic}"));
        assert_eq!(record.key(), Some(id.as_bytes()), "{topic}");
        for name in [
            envelope::EVENT_ID,
            envelope::EVENT_TYPE,
            envelope::EVENT_VERSION,
            envelope::SOURCE,
            envelope::OCCURRED_AT,
        ] {
            assert!(header(record, name).is_some(), "{topic} lacks {name}");
        }
        assert_eq!(
            header(record, envelope::CONTENT_TYPE),
            Some("application/json")
        );
    }
}

#[tokio::test]
async fn insufficient_credit_fails_the_payment_cancels_the_order_and_sends_an_sms() {
    let saga = Saga::start().await;
    let limit = saga
        .billing
        .put_json("/api/accounts/bob", &json!({"creditLimit": 100.00}))
        .await;
    assert_eq!(limit.status().as_u16(), 200);

    let order = saga.place(&order_body("bob")).await;
    let id = order["orderId"].as_str().unwrap();

    let (order, _) = saga.final_order(id).await;
    assert_eq!(order["status"], "PAYMENT_FAILED", "{order}");
    let reason = order["failureReason"].as_str().unwrap();
    assert!(reason.contains("insufficient credit"), "{reason}");
    assert_eq!(saga.payment_count(id).await, 1);
    let account: Value = saga.billing.get_json("/api/accounts/bob").await;
    assert_eq!(
        account["availableCredit"], "100.00",
        "a declined payment charges nothing"
    );
    let notifications = saga.notifications_of(id, 2).await;
    assert_eq!(
        kinds(&notifications),
        [
            ("ORDER_RECEIVED".into(), "email".into()),
            ("PAYMENT_FAILED".into(), "sms".into())
        ]
    );
}

/// The spend survives limit changes: lowering the limit to 0 and raising it
/// again must not hand the customer their spent credit back.
#[tokio::test]
async fn a_limit_lowered_and_restored_still_counts_what_was_spent() {
    let saga = &Saga::start().await;
    let set_limit = |limit: u32| async move {
        let response = saga
            .billing
            .put_json("/api/accounts/hank", &json!({"creditLimit": limit}))
            .await;
        assert_eq!(response.status().as_u16(), 200);
        let account: Value = response.json().await.unwrap();
        (
            account["spent"].as_str().unwrap().to_owned(),
            account["availableCredit"].as_str().unwrap().to_owned(),
        )
    };
    let final_status = |amount: &'static str| async move {
        let order = saga.place(&single_item_order("hank", amount)).await;
        let id = order["orderId"].as_str().unwrap().to_owned();
        let (order, _) = saga.final_order(&id).await;
        (id, order["status"].as_str().unwrap().to_owned())
    };

    assert_eq!(set_limit(1000).await, ("0.00".into(), "1000.00".into()));
    assert_eq!(final_status("900.00").await.1, "PAID");
    assert_eq!(set_limit(0).await, ("900.00".into(), "0.00".into()));
    assert_eq!(set_limit(1000).await, ("900.00".into(), "100.00".into()));
    let (refused, status) = final_status("900.00").await;
    assert_eq!(status, "PAYMENT_FAILED");
    let (paid, status) = final_status("50.00").await;
    assert_eq!(status, "PAID");

    let account: Value = saga.billing.get_json("/api/accounts/hank").await;
    assert_eq!(
        (
            &account["creditLimit"],
            &account["spent"],
            &account["availableCredit"]
        ),
        (&json!("1000.00"), &json!("950.00"), &json!("50.00")),
        "{account}"
    );
    // Each decision keeps the limit and the spend it was made against.
    for (order_id, expected) in [
        (&refused, ("1000.00", "900.00")),
        (&paid, ("1000.00", "900.00")),
    ] {
        let (limit, spent): (String, String) = sqlx::query_as(
            "SELECT credit_limit_at_decision::text, spent_before::text FROM payments WHERE order_id = $1::uuid",
        )
        .bind(order_id)
        .fetch_one(&saga.billing.pool)
        .await
        .unwrap();
        assert_eq!((limit.as_str(), spent.as_str()), expected);
    }
}

#[tokio::test]
async fn an_idempotency_key_replay_returns_the_same_order_and_starts_no_second_saga() {
    let saga = Saga::start().await;
    let post = |body: Value, key: &'static str| {
        let http = saga.orders.http.clone();
        let url = format!("{}/api/orders", saga.orders.address);
        async move {
            http.post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    let first = post(order_body("carol"), "key-1").await;
    assert_eq!(first.status().as_u16(), 202);
    let first: Value = first.json().await.unwrap();
    let replay = post(order_body("carol"), "key-1").await;
    assert_eq!(replay.status().as_u16(), 202);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["orderId"], first["orderId"]);

    let other_body = post(order_body("someone-else"), "key-1").await;
    assert_eq!(other_body.status().as_u16(), 422);
    let error: Value = other_body.json().await.unwrap();
    assert_eq!(error["fields"][0]["field"], "Idempotency-Key");

    let id = first["orderId"].as_str().unwrap();
    let (order, _) = saga.final_order(id).await;
    assert_eq!(order["status"], "PAID");
    let orders: i64 = saga.orders.count("SELECT count(*) FROM orders").await;
    let published = saga
        .orders
        .metric_eventually("outbox_published_total", &[], 2.0)
        .await;
    assert_eq!(
        (orders, published),
        (1, 2.0),
        "one order, one OrderCreated + one PaymentRequested"
    );
    let left: i64 = saga.orders.count("SELECT count(*) FROM outbox").await;
    assert_eq!(left, 0, "published rows are deleted");
    assert_eq!(saga.payment_count(id).await, 1);
}

/// Sends `original` (a record a service published) again with `event_id`:
/// the same record when that is its own id, else a second event for the
/// same thing.
async fn send_again(topic: &str, original: &rdkafka::message::OwnedMessage, event_id: &str) {
    let original_header = |name| header(original, name).unwrap();
    produce_raw(
        topic,
        std::str::from_utf8(original.key().unwrap()).unwrap(),
        &[
            (envelope::EVENT_ID, event_id),
            (envelope::EVENT_TYPE, original_header(envelope::EVENT_TYPE)),
            (
                envelope::EVENT_VERSION,
                original_header(envelope::EVENT_VERSION),
            ),
        ],
        original.payload().unwrap(),
    )
    .await;
}

/// No consumer writes an inbox row for these events: each handler's own key
/// (one payment per order, one notification per order and kind, a status
/// that moves only from PENDING) must make every repeat change nothing, and
/// the repeat must still count as a duplicate.
#[tokio::test]
async fn redelivered_and_repeated_events_change_nothing() {
    let saga = Saga::start().await;
    let order = saga.place(&order_body("dave")).await;
    let id = order["orderId"].as_str().unwrap().to_owned();
    let (order, _) = saga.final_order(&id).await;
    assert_eq!(order["status"], "PAID");
    saga.notifications_of(&id, 2).await;

    // Each topic's record once more with its own event id (a redelivery),
    // then with a new event id (a second event for the same order and kind).
    let [order_created, payment_requests, notification_events] = [
        topics::ORDER_CREATED,
        topics::PAYMENT_REQUESTS,
        topics::NOTIFICATION_EVENTS,
    ]
    .map(|t| saga.topics.topic(t));
    for topic in [&order_created, &payment_requests, &notification_events] {
        let original = &read_topic(topic, 1, Duration::from_secs(10)).await[0];
        let same_id = header(original, envelope::EVENT_ID).unwrap().to_owned();
        let new_id = uuid::Uuid::now_v7().to_string();
        for event_id in [&same_id, &new_id] {
            send_again(topic, original, event_id).await;
        }
    }
    // And a contradicting late result.
    let late = json!({"orderId": id, "customerId": "dave", "amount": "146.99", "currency": "USD",
                      "decidedAt": "2026-11-22T10:00:00Z", "reason": "late"});
    let late_id = uuid::Uuid::now_v7().to_string();
    produce_raw(
        &notification_events,
        &id,
        &[
            (envelope::EVENT_ID, &late_id),
            (envelope::EVENT_TYPE, "PaymentFailed"),
            (envelope::EVENT_VERSION, "1"),
        ],
        late.to_string().as_bytes(),
    )
    .await;

    // Every repeat is counted as a duplicate, and the first records stay the
    // only ones processed.
    for (app, topic, duplicates) in [
        (&saga.billing, &payment_requests, 2.0),
        (&saga.notifications, &order_created, 2.0),
        (&saga.notifications, &notification_events, 3.0),
        (&saga.orders, &notification_events, 3.0),
    ] {
        for (result, expected) in [("duplicate", duplicates), ("processed", 1.0)] {
            let labels = [("topic", topic.as_str()), ("result", result)];
            let value = app
                .metric_eventually("consumer_records_total", &labels, expected)
                .await;
            assert_eq!(value, expected, "{} {labels:?}", app.db.name);
        }
    }
    assert_eq!(saga.payment_count(&id).await, 1);
    let decisions = saga
        .billing
        .metric("payment_decisions_total", &[("outcome", "succeeded")])
        .await;
    let published = saga.billing.metric("outbox_published_total", &[]).await;
    assert_eq!(
        (decisions, published),
        (1.0, 1.0),
        "one decision, one PaymentSucceeded ever published"
    );
    let account: Value = saga.billing.get_json("/api/accounts/dave").await;
    assert_eq!(account["spent"], "146.99", "charged once");
    let final_order: Value = saga.orders.get_json(&format!("/api/orders/{id}")).await;
    assert_eq!(
        (&final_order["status"], &final_order["updatedAt"]),
        (&order["status"], &order["updatedAt"]),
        "a repeated or late result never moves a final order"
    );
    let finished = saga.orders.metric("saga_finished_total", &[]).await;
    assert_eq!(finished, 1.0, "one status change");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE order_id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .fetch_one(&saga.notifications.pool)
        .await
        .unwrap();
    let sent = saga.notifications.metric("notifications_total", &[]).await;
    assert_eq!(
        (stored, sent),
        (2, 2.0),
        "order received and paid, once each"
    );
}

#[tokio::test]
async fn poison_records_go_to_the_dead_letter_topics_and_the_saga_goes_on() {
    let saga = Saga::start().await;
    // Not JSON, an unknown event type, a body missing required fields.
    let poison: [(Option<&str>, &[u8]); 3] = [
        (None, b"<not json>"),
        (Some("Mystery"), b"{}"),
        (
            None,
            br#"{"orderId": "0193a0b2-7c1e-7000-8000-000000000001"}"#,
        ),
    ];
    let consumed = [
        (topics::ORDER_CREATED, "OrderCreated", 1usize),
        (topics::PAYMENT_REQUESTS, "PaymentRequested", 1),
        // Two consumer groups read notification-events: each dead-letters its copy.
        (topics::NOTIFICATION_EVENTS, "PaymentSucceeded", 2),
    ];
    for (topic, event_type, _) in consumed {
        for (type_override, payload) in &poison {
            let event_id = uuid::Uuid::now_v7().to_string();
            let headers = [
                (envelope::EVENT_ID, event_id.as_str()),
                (envelope::EVENT_TYPE, type_override.unwrap_or(event_type)),
                (envelope::EVENT_VERSION, "1"),
            ];
            produce_raw(&saga.topics.topic(topic), "poison-key", &headers, payload).await;
        }
    }

    // A valid order right after still completes.
    let order = saga.place(&order_body("erin")).await;
    let (order, _) = saga.final_order(order["orderId"].as_str().unwrap()).await;
    assert_eq!(order["status"], "PAID");

    for (topic, _, groups) in consumed {
        let original = saga.topics.topic(topic);
        let dlq = topics::dlq(&original);
        let records = read_topic(&dlq, poison.len() * groups, Duration::from_secs(20)).await;
        assert_eq!(records.len(), poison.len() * groups, "records on {dlq}");
        for record in &records {
            assert_eq!(record.key(), Some(&b"poison-key"[..]));
            assert_eq!(
                header(record, envelope::dlq::ORIGINAL_TOPIC),
                Some(original.as_str())
            );
            for name in [
                envelope::dlq::ORIGINAL_PARTITION,
                envelope::dlq::ORIGINAL_OFFSET,
                envelope::dlq::CONSUMER_GROUP,
                envelope::dlq::ERROR,
                envelope::dlq::FAILED_AT,
                envelope::EVENT_ID,
            ] {
                assert!(header(record, name).is_some(), "{dlq} record lacks {name}");
            }
        }
    }
}

#[tokio::test]
async fn orders_wait_while_billing_is_down_and_all_complete_once_it_is_back() {
    let mut saga = Saga::start().await;
    let ids = saga.place_while_billing_is_down(5, "frank").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        let order: Value = saga.orders.get_json(&format!("/api/orders/{id}")).await;
        assert_eq!(
            order["status"], "PENDING",
            "no decision while billing is down"
        );
    }

    let saga = saga.restart_billing().await;
    for id in &ids {
        let (order, _) = saga.final_order(id).await;
        assert_eq!(order["status"], "PAID", "{order}");
        assert_eq!(saga.payment_count(id).await, 1);
    }
    let account: Value = saga.billing.get_json("/api/accounts/frank").await;
    assert_eq!(
        account["availableCredit"], "265.05",
        "5 x 146.99 charged exactly once each"
    );
}

/// Records that queued up while billing was down arrive together and are
/// applied as one batch; a record the handler refuses, in the middle of them,
/// must not cost the others anything: each is applied exactly once.
#[tokio::test]
async fn a_batch_with_a_refused_record_and_a_repeat_applies_each_other_record_once() {
    let mut saga = Saga::start().await;
    let ids = saga.place_while_billing_is_down(3, "gina").await;
    let requests = saga.topics.topic(topics::PAYMENT_REQUESTS);
    let queued = read_topic(&requests, 3, Duration::from_secs(10)).await;
    assert_eq!(queued.len(), 3);
    // A negative amount: a valid envelope the handler refuses (dead-lettered).
    let refused = json!({"orderId": uuid::Uuid::now_v7(), "customerId": "gina",
                         "amount": "-5.00", "currency": "USD"});
    let refused_id = uuid::Uuid::now_v7().to_string();
    produce_raw(
        &requests,
        &ids[0],
        &[
            (envelope::EVENT_ID, &refused_id),
            (envelope::EVENT_TYPE, "PaymentRequested"),
            (envelope::EVENT_VERSION, "1"),
        ],
        refused.to_string().as_bytes(),
    )
    .await;
    // The first request once more, same event id: a duplicate.
    let first = &queued[0];
    produce_raw(
        &requests,
        std::str::from_utf8(first.key().unwrap()).unwrap(),
        &[
            (
                envelope::EVENT_ID,
                header(first, envelope::EVENT_ID).unwrap(),
            ),
            (envelope::EVENT_TYPE, "PaymentRequested"),
            (envelope::EVENT_VERSION, "1"),
        ],
        first.payload().unwrap(),
    )
    .await;

    let saga = saga.restart_billing().await;
    for id in &ids {
        let (order, _) = saga.final_order(id).await;
        assert_eq!(order["status"], "PAID", "{order}");
        assert_eq!(saga.payment_count(id).await, 1);
    }
    let dead = read_topic(&topics::dlq(&requests), 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        header(&dead[0], envelope::EVENT_ID),
        Some(refused_id.as_str())
    );
    let group = [("topic", requests.as_str())];
    for (result, expected) in [
        ("processed", 3.0),
        ("duplicate", 1.0),
        ("dead_lettered", 1.0),
    ] {
        let labels = [group[0], ("result", result)];
        let value = saga
            .billing
            .metric_eventually("consumer_records_total", &labels, expected)
            .await;
        assert_eq!(value, expected, "billing records {result}");
    }
    let account: Value = saga.billing.get_json("/api/accounts/gina").await;
    assert_eq!(
        account["availableCredit"], "559.03",
        "3 x 146.99 charged exactly once each"
    );
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let saga = Saga::start().await;
    let limit = saga
        .billing
        .put_json("/api/accounts/poor", &json!({"creditLimit": 1}))
        .await;
    assert_eq!(limit.status().as_u16(), 200);
    let mut ids = Vec::new();
    for customer in ["rich-1", "rich-2", "rich-3", "poor"] {
        ids.push(
            saga.place(&order_body(customer)).await["orderId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        saga.final_order(id).await;
        saga.notifications_of(id, 2).await;
    }
    produce_raw(
        &saga.topics.topic(topics::PAYMENT_REQUESTS),
        "poison",
        &[(envelope::EVENT_ID, "not-a-uuid")],
        b"{}",
    )
    .await;

    let (orders, billing, notifications) = (&saga.orders, &saga.billing, &saga.notifications);
    assert_metric(orders, "saga_finished_total", &[("outcome", "paid")], 3.0).await;
    assert_metric(
        orders,
        "saga_finished_total",
        &[("outcome", "payment_failed")],
        1.0,
    )
    .await;
    assert_metric(orders, "saga_duration_seconds_count", &[], 4.0).await;
    assert_metric(
        orders,
        "http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/api/orders"),
            ("status", "202"),
        ],
        4.0,
    )
    .await;
    assert_metric(orders, "outbox_published_total", &[], 8.0).await;
    assert_metric(orders, "outbox_pending_rows", &[], 0.0).await;
    assert_metric(
        billing,
        "payment_decisions_total",
        &[("outcome", "succeeded")],
        3.0,
    )
    .await;
    assert_metric(
        billing,
        "payment_decisions_total",
        &[("outcome", "failed")],
        1.0,
    )
    .await;
    assert_metric(billing, "outbox_published_total", &[], 4.0).await;
    assert_metric(
        notifications,
        "notifications_total",
        &[("channel", "email")],
        7.0,
    )
    .await;
    assert_metric(
        notifications,
        "notifications_total",
        &[("channel", "sms")],
        1.0,
    )
    .await;
    assert_metric(
        notifications,
        "consumer_records_total",
        &[("result", "processed")],
        8.0,
    )
    .await;
    assert_metric(
        orders,
        "consumer_records_total",
        &[("result", "processed")],
        4.0,
    )
    .await;
    // The poison record is counted once it has been dead-lettered.
    assert_metric(
        billing,
        "consumer_records_total",
        &[("result", "dead_lettered")],
        1.0,
    )
    .await;
    assert_metric(
        billing,
        "consumer_records_total",
        &[("result", "processed")],
        4.0,
    )
    .await;
    assert_metric(
        billing,
        "build_info",
        &[("service", "billing-service")],
        1.0,
    )
    .await;
}

/// Counters move just after the commit a test can observe: poll briefly.
async fn assert_metric(app: &TestApp, name: &str, labels: &[(&str, &str)], expected: f64) {
    let value = app.metric_eventually(name, labels, expected).await;
    assert_eq!(value, expected, "{name} {labels:?}");
}

#[tokio::test]
async fn one_trace_id_follows_an_order_across_all_three_topics() {
    let saga = Saga::start().await;
    let client_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = saga
        .orders
        .http
        .post(format!("{}/api/orders", saga.orders.address))
        .header("traceparent", client_trace)
        .json(&order_body("grace"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let answered = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        answered.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{answered}"
    );
    let order: Value = response.json().await.unwrap();
    let (order, _) = saga.final_order(order["orderId"].as_str().unwrap()).await;
    assert_eq!(order["status"], "PAID");

    for topic in [
        topics::ORDER_CREATED,
        topics::PAYMENT_REQUESTS,
        topics::NOTIFICATION_EVENTS,
    ] {
        let records = read_topic(&saga.topics.topic(topic), 1, Duration::from_secs(10)).await;
        let traceparent = header(&records[0], envelope::TRACEPARENT)
            .unwrap_or_else(|| panic!("{topic}: no traceparent"));
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(
            parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{topic}: {traceparent}"
        );
        assert_ne!(
            parts[2], "00f067aa0ba902b7",
            "{topic}: each hop is a new span"
        );
    }
}

/// Metric names in PromQL expressions: identifiers that are neither
/// functions, keywords, label names, durations nor string contents.
fn metric_names_in(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
    ];
    // Drop strings, label matchers, range selectors and grouping clauses.
    let mut cleaned = String::new();
    let mut depth_braces = 0;
    let mut in_string = false;
    let mut in_range = false;
    for c in expr.chars() {
        match c {
            '"' if depth_braces == 0 => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => in_range = true,
            ']' => in_range = false,
            _ if depth_braces > 0 || in_range => {}
            _ => cleaned.push(c),
        }
    }
    let mut names = Vec::new();
    let chars: Vec<char> = cleaned.chars().collect();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            // Aggregations may put `by (...)` between their name and `(`.
            const AGGREGATIONS: &[&str] = &[
                "sum",
                "min",
                "max",
                "avg",
                "count",
                "group",
                "stddev",
                "stdvar",
                "topk",
                "bottomk",
                "quantile",
                "count_values",
            ];
            if AGGREGATIONS.contains(&word.as_str()) {
                // Not a metric.
            } else if KEYWORDS.contains(&word.as_str()) {
                // `by (a, b)`: the parenthesised labels are not metrics.
                skip_group = matches!(
                    word.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                );
            } else if next == Some(&'(') {
                // A function call.
            } else if !skip_group {
                names.push(word);
            }
        } else {
            if chars[i] == ')' {
                skip_group = false;
            }
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_promql() {
    assert_eq!(
        metric_names_in(
            r#"sum by (service, le) (rate(http_requests_total{status=~"5.."}[5m])) / ignoring (x) up > 0.01"#
        ),
        ["http_requests_total", "up"]
    );
}

/// For clusters with the Prometheus operator: the three services' /metrics,
/// through the port their Services name `http`.
#[test]
fn the_service_monitor_scrapes_every_service() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/monitoring/operator/servicemonitor.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let selected = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("values: ["))
        .expect("a selector with values: [...]");
    for service in common::local::SERVICES {
        assert!(
            selected.contains(service.name),
            "{} is not selected",
            service.name
        );
    }
    for endpoint in ["port: http", "path: /metrics"] {
        assert!(text.contains(endpoint), "no `{endpoint}`");
    }
}

#[tokio::test]
async fn dashboards_and_alerts_only_use_metrics_the_services_export() {
    let monitoring = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/monitoring");
    let rules = std::fs::read_to_string(monitoring.join("alert-rules.yaml")).unwrap();
    let mut used: Vec<String> = Vec::new();
    // Rule expressions: single-line `expr: ...` or a `|` block below it.
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(expr) = line.trim().strip_prefix("expr:") {
            let mut text = expr.trim().trim_start_matches('|').to_owned();
            while let Some(next) = lines.peek() {
                if next.trim_start().starts_with("for:") || next.trim_start().starts_with("labels:")
                {
                    break;
                }
                text.push(' ');
                text.push_str(lines.next().unwrap().trim());
            }
            used.extend(metric_names_in(&text));
        }
    }
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(monitoring.join("dashboard.json")).unwrap())
            .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                !expr.trim().is_empty(),
                "panel {} has an empty query",
                panel["title"]
            );
            used.extend(metric_names_in(expr));
        }
    }
    used.sort();
    used.dedup();
    assert!(
        used.len() >= 10,
        "suspiciously few metric names found: {used:?}"
    );

    // Make every kind of series appear: a saga, a poison record, lag statistics.
    let saga = Saga::start().await;
    let id = saga.place(&order_body("henry")).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    saga.final_order(&id).await;
    saga.notifications_of(&id, 2).await;
    produce_raw(
        &saga.topics.topic(topics::PAYMENT_REQUESTS),
        "poison",
        &[],
        b"x",
    )
    .await;
    assert_metric(
        &saga.billing,
        "consumer_records_total",
        &[("result", "dead_lettered")],
        1.0,
    )
    .await;
    let mut exported = std::collections::BTreeSet::from(["up".to_owned()]); // Prometheus' own
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for app in [&saga.orders, &saga.billing, &saga.notifications] {
            let text = app.get("/metrics").await.text().await.unwrap();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let name = line.split(['{', ' ']).next().unwrap();
                exported.insert(name.to_owned());
            }
        }
        let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "used by k8s/monitoring but not exported: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A rolling upgrade of `PaymentRequested`: v1 requests queue up while
/// billing is down, order-service restarts producing v2, and billing then
/// reads both versions from one topic.
#[tokio::test]
async fn payment_requests_of_v1_and_v2_on_one_topic_all_complete() {
    let mut saga = Saga::start().await;
    let mut ids = saga.place_while_billing_is_down(2, "hana").await;
    saga.orders.stop().await;
    let saga = saga.restart_orders(2).await;
    for _ in 0..2 {
        let order = saga.place(&order_body("hana")).await;
        ids.push(order["orderId"].as_str().unwrap().to_owned());
    }
    let requests = saga.topics.topic(topics::PAYMENT_REQUESTS);
    let records = read_topic(&requests, 4, Duration::from_secs(10)).await;
    let mut versions: Vec<&str> = records
        .iter()
        .map(|r| header(r, envelope::EVENT_VERSION).unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, ["1", "1", "2", "2"]);
    for record in &records {
        let body: Value = serde_json::from_slice(record.payload().unwrap()).unwrap();
        let expected = match header(record, envelope::EVENT_VERSION) {
            Some("2") => json!("Kettle x3, Mug x2"),
            _ => Value::Null,
        };
        assert_eq!(body.get("description").unwrap_or(&Value::Null), &expected);
    }

    let saga = saga.restart_billing().await;
    for id in &ids {
        let (order, _) = saga.final_order(id).await;
        assert_eq!(order["status"], "PAID", "{order}");
        assert_eq!(saga.payment_count(id).await, 1);
        assert_eq!(
            kinds(&saga.notifications_of(id, 2).await),
            [
                ("ORDER_RECEIVED".into(), "email".into()),
                ("PAYMENT_SUCCEEDED".into(), "email".into())
            ]
        );
    }
    let processed = [("topic", requests.as_str()), ("result", "processed")];
    assert_metric(&saga.billing, "consumer_records_total", &processed, 4.0).await;
    let dead = [("topic", requests.as_str()), ("result", "dead_lettered")];
    assert_eq!(
        saga.billing.metric("consumer_records_total", &dead).await,
        0.0
    );
}
