//! Hostile records on the real broker: records near the broker's size limit,
//! huge headers, fields far beyond our limits, a record that keeps failing
//! while the database answers, and a consumer held by a lock. No record may
//! stop a consumer for good, and a consumer that waits must be visible.

use common::envelope::{self, dlq};
use common::kafka::header_text as header;
use common::testing::{produce_raw, read_topic, spawn_app, spawn_app_with, TestApp, TestTopics};
use common::topics;
use e2e::{billing_definition, Saga};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use uuid::Uuid;

async fn produce_event(topic: &str, key: &str, event_type: &str, body: &[u8]) {
    let event_id = Uuid::now_v7().to_string();
    let headers = [
        (envelope::EVENT_ID, event_id.as_str()),
        (envelope::EVENT_TYPE, event_type),
        (envelope::EVENT_VERSION, "1"),
    ];
    produce_raw(topic, key, &headers, body).await;
}

fn payment_requested(order_id: Uuid, customer: &str) -> Vec<u8> {
    json!({"orderId": order_id, "customerId": customer, "amount": "10.00", "currency": "USD"})
        .to_string()
        .into_bytes()
}

/// The whole original a cut copy points at, from the refusing service's database.
async fn stored_original(app: &TestApp, copy: &OwnedMessage) -> Vec<u8> {
    let id: Uuid = header(copy, dlq::STORED_ID)
        .expect("a cut copy names its stored original")
        .parse()
        .unwrap();
    sqlx::query_scalar("SELECT message_value FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("the original is stored")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn records_near_the_size_limit_and_huge_headers_are_dead_lettered_and_the_saga_goes_on() {
    let saga = Saga::start().await;
    // A value of 1,040,000 bytes: the broker takes it, but no copy with the
    // dead-letter headers fits our producer's record size.
    let huge = |event: &str| -> Vec<u8> {
        let mut body = format!(r#"{{"event": "{event}", "padding": ""#).into_bytes();
        body.resize(1_039_998, b'x');
        body.extend_from_slice(b"\"}");
        body
    };
    let consumed = [
        (topics::ORDER_CREATED, "OrderCreated"),
        (topics::PAYMENT_REQUESTS, "PaymentRequested"),
        (topics::NOTIFICATION_EVENTS, "PaymentSucceeded"),
    ];
    for (topic, event_type) in consumed {
        produce_event(
            &saga.topics.topic(topic),
            "huge-value",
            event_type,
            &huge(event_type),
        )
        .await;
    }
    // A 600 KB event-type header, read by two groups.
    let huge_type = "T".repeat(600_000);
    produce_event(
        &saga.topics.topic(topics::NOTIFICATION_EVENTS),
        "huge-header",
        &huge_type,
        b"{}",
    )
    .await;

    let order = saga.place_and_finish("after-the-giants").await;
    assert_eq!(order["status"], "PAID", "{order}");

    // Where each topic's refusals are stored: the consuming services' databases.
    let refusers: [(&str, Vec<(&str, &TestApp)>); 3] = [
        (
            topics::ORDER_CREATED,
            vec![("notification-service", &saga.notifications)],
        ),
        (
            topics::PAYMENT_REQUESTS,
            vec![("billing-service", &saga.billing)],
        ),
        (
            topics::NOTIFICATION_EVENTS,
            vec![
                ("order-service", &saga.orders),
                ("notification-service", &saga.notifications),
            ],
        ),
    ];
    for (topic, apps) in refusers {
        let original = saga.topics.topic(topic);
        let expected = if topic == topics::NOTIFICATION_EVENTS {
            4
        } else {
            1
        };
        let records = read_topic(&topics::dlq(&original), expected, Duration::from_secs(30)).await;
        assert_eq!(records.len(), expected, "dead letters of {original}");
        for record in &records {
            assert_eq!(header(record, dlq::ORIGINAL_TOPIC), Some(original.as_str()));
            assert!(header(record, dlq::CONSUMER_GROUP).is_some());
            let error = header(record, dlq::ERROR).unwrap();
            assert!(
                error.len() <= 4 * 1000,
                "bounded error: {} bytes",
                error.len()
            );
            match record.key() {
                Some(b"huge-value") => {
                    assert_eq!(header(record, dlq::CUT), Some("true"));
                    assert_eq!(header(record, dlq::ORIGINAL_VALUE_BYTES), Some("1040000"));
                    assert!(record.payload().unwrap().len() <= 64 * 1024);
                    let group = header(record, dlq::CONSUMER_GROUP).unwrap();
                    let (_, app) = apps
                        .iter()
                        .find(|(name, _)| group.ends_with(name))
                        .expect("a consuming service");
                    let whole = stored_original(app, record).await;
                    assert_eq!(whole.len(), 1_040_000);
                    assert_eq!(
                        header(record, dlq::ORIGINAL_VALUE_SHA256),
                        Some(hex(&Sha256::digest(&whole)).as_str())
                    );
                }
                Some(b"huge-header") => {
                    // The copy fits whole: the error does not repeat the header.
                    assert_eq!(header(record, dlq::CUT), None);
                    assert_eq!(
                        header(record, envelope::EVENT_TYPE),
                        Some(huge_type.as_str())
                    );
                    assert!(error.contains("600000 bytes long"), "{error}");
                }
                other => panic!("unexpected dead letter {other:?}"),
            }
        }
    }

    // sagactl reaches the whole original of a cut copy, and replays it whole:
    // billing refuses it again, and its new cut copy names the same original bytes.
    let sources = saga.sources().await;
    let selection = sagactl::dlq::Selection {
        topic: Some(topics::PAYMENT_REQUESTS.into()),
        ..Default::default()
    };
    let replayed = sagactl::dlq::replay(&sources, &selection).await.unwrap();
    assert_eq!(replayed.len(), 1);
    let entry = &replayed[0].0;
    assert!(entry.cut);
    let stored = sagactl::dlq::stored_original(&sources, entry.stored_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (stored.database, stored.value_bytes),
        ("billing", 1_040_000)
    );
    let dlq_topic = topics::dlq(&saga.topics.topic(topics::PAYMENT_REQUESTS));
    let again = read_topic(&dlq_topic, 2, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 2, "the replayed original was refused again");
    assert_eq!(
        header(&again[0], dlq::ORIGINAL_VALUE_SHA256),
        header(&again[1], dlq::ORIGINAL_VALUE_SHA256)
    );
    assert_eq!(
        header(&again[1], dlq::ORIGINAL_VALUE_BYTES),
        Some("1040000")
    );
}

#[tokio::test]
async fn a_field_far_beyond_our_limits_is_dead_lettered_by_the_first_service_that_meets_it() {
    let saga = Saga::start().await;
    let long_customer = "c".repeat(8_000);
    produce_event(
        &saga.topics.topic(topics::PAYMENT_REQUESTS),
        "long-field",
        "PaymentRequested",
        &payment_requested(Uuid::now_v7(), &long_customer),
    )
    .await;
    let created = json!({"orderId": Uuid::now_v7(), "customerId": long_customer, "currency": "USD",
        "totalAmount": "9.98", "createdAt": "2026-12-02T10:00:00Z",
        "items": [{"productId": "p", "name": "n", "price": "4.99", "quantity": 2, "subtotal": "9.98"}]});
    produce_event(
        &saga.topics.topic(topics::ORDER_CREATED),
        "long-field",
        "OrderCreated",
        created.to_string().as_bytes(),
    )
    .await;

    let order = saga.place_and_finish("next-in-line").await;
    assert_eq!(order["status"], "PAID", "{order}");

    for topic in [topics::PAYMENT_REQUESTS, topics::ORDER_CREATED] {
        let dlq_topic = topics::dlq(&saga.topics.topic(topic));
        let records = read_topic(&dlq_topic, 1, Duration::from_secs(20)).await;
        assert_eq!(records.len(), 1, "{dlq_topic}");
        let error = header(&records[0], dlq::ERROR).unwrap();
        assert!(
            error.ends_with("customerId must be at most 100 characters"),
            "{error}"
        );
    }
    let accounts: i64 = saga
        .billing
        .count("SELECT count(*) FROM accounts WHERE length(customer_id) > 100")
        .await;
    assert_eq!(accounts, 0, "nothing of the record reached the database");
}

/// Polls until `check` holds, 30 s at most; returns whether it did.
async fn eventually<F: std::future::Future<Output = bool>>(check: impl Fn() -> F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_record_failing_while_the_database_answers_is_dead_lettered_after_the_attempt_budget() {
    let topics = TestTopics::create().await;
    let billing = spawn_app_with(billing_definition(), &topics, |c| {
        c.consumer_max_attempts = 6;
        c.consumer_stall_threshold = Duration::from_secs(1);
    })
    .await;
    let (status, body) = billing.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    // A real Postgres error of a class that usually passes (serialization
    // failure), raised for one customer only: the database answers all else.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_stuck() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001'; END $$;
         CREATE TRIGGER refuse_stuck BEFORE INSERT ON payments FOR EACH ROW
             WHEN (NEW.customer_id = 'stuck') EXECUTE FUNCTION refuse_stuck();",
    )
    .execute(&billing.pool)
    .await
    .unwrap();
    let payment_requests = topics.topic(topics::PAYMENT_REQUESTS);
    let (stuck, fine) = (Uuid::now_v7(), Uuid::now_v7());
    // One key, one partition: the fine order waits behind the stuck one.
    produce_event(
        &payment_requests,
        "same-key",
        "PaymentRequested",
        &payment_requested(stuck, "stuck"),
    )
    .await;
    produce_event(
        &payment_requests,
        "same-key",
        "PaymentRequested",
        &payment_requested(fine, "fine"),
    )
    .await;

    let group = [("group", "billing-service")];
    assert!(
        eventually(|| async { billing.metric("consumer_stalled_seconds", &group).await > 1.0 })
            .await,
        "the stall is visible in /metrics"
    );
    let ready = billing.get("/health/ready").await;
    assert_eq!(
        ready.status().as_u16(),
        200,
        "a stall does not make the pod unready"
    );
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["stalled"], json!(["billing-service"]), "{body}");

    let records = read_topic(&topics::dlq(&payment_requests), 1, Duration::from_secs(60)).await;
    assert_eq!(records.len(), 1, "dead-lettered after the attempt budget");
    let error = header(&records[0], dlq::ERROR).unwrap();
    assert!(
        error.starts_with("still failing after 6 attempts"),
        "{error}"
    );
    assert!(
        billing
            .get_until(
                &format!("/api/payments/{fine}"),
                Duration::from_secs(20),
                |p| p["status"] == "SUCCEEDED"
            )
            .await["status"]
            == "SUCCEEDED",
        "the record behind it is decided"
    );
    assert!(
        billing
            .metric("consumer_records_total", &[("result", "retried")])
            .await
            >= 5.0
    );
    assert!(
        eventually(|| async { billing.metric("consumer_stalled_seconds", &group).await == 0.0 })
            .await
    );
}

#[tokio::test]
async fn a_consumer_held_by_a_lock_shows_its_stall_and_its_lag_until_it_moves_again() {
    let topics = TestTopics::create().await;
    let billing = spawn_app(billing_definition(), &topics).await;
    // Another session holds the accounts table: billing's statements wait,
    // without any error.
    let mut lock = billing.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let payment_requests = topics.topic(topics::PAYMENT_REQUESTS);
    let orders: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for id in &orders {
        produce_event(
            &payment_requests,
            "held",
            "PaymentRequested",
            &payment_requested(*id, "held"),
        )
        .await;
    }
    let group = [("group", "billing-service")];
    assert!(
        eventually(|| async {
            billing.metric("consumer_lag", &group).await >= 3.0
                && billing.metric("consumer_stalled_seconds", &group).await > 2.0
        })
        .await,
        "lag {} and stall {} while held",
        billing.metric("consumer_lag", &group).await,
        billing.metric("consumer_stalled_seconds", &group).await
    );
    // sagactl sees the same wait, from the group's committed offsets.
    let kafka = topics.kafka();
    let waiting = sagactl::dlq::waiting_by_group(&kafka).await.unwrap();
    assert_eq!(waiting["billing-service"], 3, "{waiting:?}");
    lock.rollback().await.unwrap();
    for id in &orders {
        let payment = billing
            .get_until(
                &format!("/api/payments/{id}"),
                Duration::from_secs(20),
                |p| !p["status"].is_null(),
            )
            .await;
        assert_eq!(payment["status"], "SUCCEEDED", "{payment}");
    }
    assert!(
        eventually(|| async {
            billing.metric("consumer_lag", &group).await == 0.0
                && billing.metric("consumer_stalled_seconds", &group).await == 0.0
        })
        .await,
        "lag and stall back to 0 once nothing waits"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while sagactl::dlq::waiting_by_group(&kafka).await.unwrap()["billing-service"] > 0 {
        assert!(Instant::now() < deadline, "the group's commits catch up");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
