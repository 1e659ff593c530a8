//! sagactl against the three real services, databases and topics: the
//! library's audit and dead-letter tools, and the command line.

use common::config::KafkaConfig;
use common::envelope::{self, dlq};
use common::testing::{produce_raw, read_topic};
use common::topics;
use e2e::{sorted_pairs, Saga};
use rdkafka::message::{Headers, Message};
use sagactl::audit::{audit, Thresholds};
use sagactl::dlq::{list, replay, Selection};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const THRESHOLDS: Thresholds = Thresholds {
    pending: Duration::from_secs(60),
    outbox: Duration::from_secs(30),
};

#[tokio::test]
async fn audit_is_clean_after_complete_sagas_and_names_every_broken_invariant() {
    let mut saga = Saga::start().await;
    let put = saga
        .billing
        .put_json("/api/accounts/poor", &json!({"creditLimit": 1}))
        .await;
    assert_eq!(put.status().as_u16(), 200);
    let paid = saga.completed_order("rich").await;
    let failed = saga.completed_order("poor").await;
    let sources = saga.sources().await;

    let report = audit(&sources, THRESHOLDS).await.unwrap();
    assert_eq!(
        report.violations,
        vec![],
        "{}",
        sagactl::audit::render(&report)
    );
    let c = &report.counts;
    assert_eq!(
        (
            c.orders,
            c.paid,
            c.payment_failed,
            c.payments,
            c.notifications
        ),
        (2, 1, 1, 2, 4)
    );
    assert_eq!(c.dead_lettered.values().sum::<i64>(), 0);

    // Break one invariant of each kind, directly in the databases.
    saga.billing.stop().await; // so its relay cannot publish the stale row below
    sqlx::query("DELETE FROM notifications WHERE order_id = $1::uuid AND kind = 'ORDER_RECEIVED'")
        .bind(&paid)
        .execute(&saga.notifications.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET status = 'SUCCEEDED' WHERE order_id = $1::uuid")
        .bind(&failed)
        .execute(&saga.billing.pool)
        .await
        .unwrap();
    let stuck = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO orders (id, customer_id, total_amount, currency, created_at) VALUES ($1, 'x', 1, 'USD', now() - interval '2 hours')")
        .bind(stuck)
        .execute(&saga.orders.pool)
        .await
        .unwrap();
    let orphan = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO payments (order_id, customer_id, amount, currency, status) VALUES ($1, 'rich', 1, 'USD', 'SUCCEEDED')")
        .bind(orphan)
        .execute(&saga.billing.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO outbox (event_id, topic, message_key, event_type, event_version, source, occurred_at, payload, created_at)
                 VALUES (gen_random_uuid(), 'notification-events', 'k', 'PaymentSucceeded', 1, 'billing-service', now(), '{}', now() - interval '5 minutes')")
        .execute(&saga.billing.pool)
        .await
        .unwrap();

    let report = audit(&sources, THRESHOLDS).await.unwrap();
    let found: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.rule, v.id.as_str()))
        .collect();
    let stuck = stuck.to_string();
    let orphan = orphan.to_string();
    for expected in [
        ("order_received_notifications", paid.as_str()),
        ("status_mismatch", failed.as_str()),
        ("payment_result_notifications", failed.as_str()),
        ("stuck_pending", stuck.as_str()),
        ("missing_payment", stuck.as_str()),
        ("order_received_notifications", stuck.as_str()),
        ("orphan_payment", orphan.as_str()),
        // The orphan charged rich 1.00 more, and poor's refusal became a
        // charge: neither account's spend says so.
        ("credit_mismatch", "rich"),
        ("credit_mismatch", "poor"),
        // poor's recorded decision had a limit of 1.00: a 9.98 charge exceeds it.
        ("credit_overspent", "poor"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert!(
        found
            .iter()
            .any(|(rule, id)| *rule == "stale_outbox" && id.starts_with("billing/outbox/")),
        "{found:?}"
    );
    assert_eq!(
        report.violations.len(),
        11,
        "{}",
        sagactl::audit::render(&report)
    );
}

#[tokio::test]
async fn dead_letters_are_listed_with_provenance_and_replaying_twice_charges_once() {
    let saga = Saga::start().await;
    let id = saga.completed_order("ivy").await;
    // A copy of the order's real PaymentRequested, as if it had been
    // dead-lettered during an outage.
    let original = read_topic(
        &saga.topics.topic(topics::PAYMENT_REQUESTS),
        1,
        Duration::from_secs(10),
    )
    .await;
    let original = &original[0];
    let mut headers: Vec<(String, String)> = original
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h.key.to_owned(),
                String::from_utf8_lossy(h.value.unwrap()).into_owned(),
            )
        })
        .collect();
    headers.push((
        dlq::ORIGINAL_TOPIC.into(),
        saga.topics.topic(topics::PAYMENT_REQUESTS),
    ));
    headers.push((dlq::ERROR.into(), "database unavailable (simulated)".into()));
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let dlq_topic = saga.topics.topic(&topics::dlq(topics::PAYMENT_REQUESTS));
    produce_raw(&dlq_topic, &id, &headers, original.payload().unwrap()).await;

    // A poison record (no envelope) is dead-lettered by billing.
    produce_raw(
        &saga.topics.topic(topics::PAYMENT_REQUESTS),
        "poison",
        &[],
        b"not json",
    )
    .await;
    let sources = saga.sources().await;
    let kafka = sources.kafka.clone();
    let all = Selection::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let records = loop {
        let (kafka, all) = (kafka.clone(), all.clone());
        let records = tokio::task::spawn_blocking(move || list(&kafka, &all))
            .await
            .unwrap()
            .unwrap();
        if records.len() >= 2 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(records.len(), 2);
    let entries: Vec<sagactl::dlq::Entry> = records
        .iter()
        .map(sagactl::dlq::Entry::from_record)
        .collect();
    let poison = entries
        .iter()
        .find(|e| e.key.as_deref() == Some("poison"))
        .expect("the poison record is listed");
    assert_eq!(poison.consumer_group.as_deref(), Some("billing-service"));
    assert!(
        poison
            .error
            .as_deref()
            .unwrap()
            .contains(envelope::EVENT_ID),
        "{poison:?}"
    );

    let only_payment_requests = Selection {
        event_type: Some("PaymentRequested".into()),
        ..Selection::default()
    };
    for _ in 0..2 {
        let replayed = replay(&sources, &only_payment_requests).await.unwrap();
        assert_eq!(replayed.len(), 1, "only the PaymentRequested is selected");
        assert_eq!(replayed[0].1, saga.topics.topic(topics::PAYMENT_REQUESTS));
    }
    let duplicates = saga
        .billing
        .metric_eventually("consumer_records_total", &[("result", "duplicate")], 2.0)
        .await;
    assert_eq!(duplicates, 2.0);
    let payments: i64 = saga.billing.count("SELECT count(*) FROM payments").await;
    assert_eq!(payments, 1, "replayed twice, charged once");
}

#[tokio::test]
async fn the_cli_exits_non_zero_naming_an_order_charged_twice() {
    let saga = Saga::start().await;
    let id = saga.completed_order("jack").await;
    let clean = saga.cli(&["audit"]).await;
    assert_eq!(clean.code, 0, "{}", clean.stdout);

    // Plant a second payment row for the order (the primary key forbids it, so drop that first).
    sqlx::query("ALTER TABLE payments DROP CONSTRAINT payments_pkey")
        .execute(&saga.billing.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO payments (order_id, customer_id, amount, currency, status) VALUES ($1::uuid, 'jack', 9.98, 'USD', 'SUCCEEDED')")
        .bind(&id)
        .execute(&saga.billing.pool)
        .await
        .unwrap();

    let planted = saga.cli(&["audit"]).await;
    let stdout = &planted.stdout;
    assert_eq!(planted.code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("VIOLATION duplicate_payment {id}")),
        "{stdout}"
    );
    let json: Value = serde_json::from_str(&saga.cli(&["audit", "--json"]).await.stdout).unwrap();
    assert_eq!(json["violations"][0]["rule"], "duplicate_payment");
    assert_eq!(json["violations"][0]["id"], id.as_str());
}

#[tokio::test]
async fn the_cli_exits_non_zero_naming_customers_whose_credit_is_broken_and_an_orphan_notification()
{
    let saga = Saga::start().await;
    let lena = saga.completed_order("lena").await;
    saga.completed_order("mia").await;
    let clean = saga.cli(&["audit"]).await;
    assert_eq!(clean.code, 0, "{}", clean.stdout);

    // A forged PaymentSucceeded for an order that never existed: order-service
    // dead-letters it, notification-service (which cannot know) notifies.
    let ghost = uuid::Uuid::now_v7();
    let event_id = uuid::Uuid::now_v7().to_string();
    let forged = json!({"orderId": ghost, "customerId": "mallory", "amount": "5.00",
                        "currency": "USD", "decidedAt": "2026-11-24T00:00:00Z"});
    produce_raw(
        &saga.topics.topic(topics::NOTIFICATION_EVENTS),
        &ghost.to_string(),
        &[
            (envelope::EVENT_ID, event_id.as_str()),
            (envelope::EVENT_TYPE, "PaymentSucceeded"),
            (envelope::EVENT_VERSION, "1"),
        ],
        forged.to_string().as_bytes(),
    )
    .await;
    let dead = read_topic(
        &saga.topics.topic(&topics::dlq(topics::NOTIFICATION_EVENTS)),
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(dead.len(), 1);
    let group = common::kafka::header_text(&dead[0], dlq::CONSUMER_GROUP);
    assert_eq!(group, Some("order-service"));
    saga.notifications
        .get_until(
            &format!("/api/notifications?orderId={ghost}"),
            Duration::from_secs(20),
            |b| b["notifications"].as_array().is_some_and(|n| n.len() == 1),
        )
        .await;

    // lena's charge, as if decided against a limit of 5.00; mia's spend
    // bumped without a payment.
    sqlx::query("UPDATE payments SET credit_limit_at_decision = 5.00 WHERE order_id = $1::uuid")
        .bind(&lena)
        .execute(&saga.billing.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE accounts SET spent = spent + 100 WHERE customer_id = 'mia'")
        .execute(&saga.billing.pool)
        .await
        .unwrap();

    let planted = saga.cli(&["audit"]).await;
    let stdout = &planted.stdout;
    assert_eq!(planted.code, 1, "{stdout}");
    for line in [
        format!("VIOLATION orphan_notification {ghost}: notifications for an unknown order: 1 PAYMENT_SUCCEEDED"),
        format!("VIOLATION credit_overspent lena: order {lena} charged 9.98 on 0.00 already spent, over the limit 5.00 then in force"),
        "VIOLATION credit_mismatch mia: limit 1000.00, spent 109.98, available 890.02; succeeded payments sum to 9.98, so spent 9.98 and available 990.02".into(),
    ] {
        assert!(stdout.contains(&line), "{line:?} not in {stdout}");
    }
    let json: Value = serde_json::from_str(&saga.cli(&["audit", "--json"]).await.stdout).unwrap();
    let found = sorted_pairs(json["violations"].as_array().unwrap(), "rule", "id");
    assert_eq!(
        found,
        [
            ("credit_mismatch".into(), "mia".into()),
            ("credit_overspent".into(), "lena".into()),
            ("orphan_notification".into(), ghost.to_string()),
        ]
    );
}

#[tokio::test]
async fn a_repaired_dead_letter_replayed_completes_its_saga_and_a_second_replay_changes_nothing() {
    let saga = Saga::start().await;
    // An order whose PaymentRequested went out broken (no currency).
    let order_id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO orders (id, customer_id, total_amount, currency) VALUES ($1, 'kate', 9.98, 'USD')")
        .bind(order_id)
        .execute(&saga.orders.pool)
        .await
        .unwrap();
    let event_id = uuid::Uuid::now_v7().to_string();
    let key = order_id.to_string();
    let envelope_headers = [
        (envelope::EVENT_ID, event_id.as_str()),
        (envelope::EVENT_TYPE, "PaymentRequested"),
        (envelope::EVENT_VERSION, "1"),
    ];
    let broken = json!({"orderId": order_id, "customerId": "kate", "amount": "9.98"});
    produce_raw(
        &saga.topics.topic(topics::PAYMENT_REQUESTS),
        &key,
        &envelope_headers,
        broken.to_string().as_bytes(),
    )
    .await;

    let sources = saga.sources().await;
    let kafka = sources.kafka.clone();
    let payment_requests_dlq = Selection {
        topic: Some(topics::PAYMENT_REQUESTS.into()),
        ..Selection::default()
    };
    let dead = wait_for_dead_letters(&kafka, &payment_requests_dlq, 1).await;
    let entry = sagactl::dlq::Entry::from_record(&dead[0]);
    assert!(
        entry.error.as_deref().unwrap().contains("currency"),
        "{entry:?}"
    );

    // The operator repairs the record (adds the currency) next to the broken one, then replays it alone.
    let repaired =
        json!({"orderId": order_id, "customerId": "kate", "amount": "9.98", "currency": "USD"});
    let dlq_topic = saga.topics.topic(&topics::dlq(topics::PAYMENT_REQUESTS));
    let original_topic = saga.topics.topic(topics::PAYMENT_REQUESTS);
    let mut headers = envelope_headers.to_vec();
    headers.push((dlq::ORIGINAL_TOPIC, original_topic.as_str()));
    produce_raw(&dlq_topic, &key, &headers, repaired.to_string().as_bytes()).await;
    let both = wait_for_dead_letters(&kafka, &payment_requests_dlq, 2).await;
    let fixed = both
        .iter()
        .find(|m| {
            m.payload()
                .is_some_and(|p| String::from_utf8_lossy(p).contains("currency"))
        })
        .expect("the repaired record is listed");
    let only_the_fix = Selection {
        topic: Some(topics::PAYMENT_REQUESTS.into()),
        partition: Some(fixed.partition()),
        from_offset: Some(fixed.offset()),
        to_offset: Some(fixed.offset()),
        event_type: None,
    };

    // Checked before the replay: billing would refuse the broken record again, and accept the fix.
    let refused = dlq_check(&saga, &dead[0]).await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stdout.starts_with(
            "refused by billing-service: PaymentRequested v1 body: missing field `currency`"
        ),
        "{}",
        refused.stdout
    );
    let accepted = dlq_check(&saga, fixed).await;
    assert_eq!(
        (accepted.code, accepted.stdout.as_str()),
        (0, "accepted by billing-service\n")
    );

    assert_eq!(replay(&sources, &only_the_fix).await.unwrap().len(), 1);
    let order = saga
        .orders
        .get_until(
            &format!("/api/orders/{order_id}"),
            Duration::from_secs(30),
            |o| o["status"] != "PENDING",
        )
        .await;
    assert_eq!(order["status"], "PAID", "{order}");

    assert_eq!(replay(&sources, &only_the_fix).await.unwrap().len(), 1);
    let duplicates = saga
        .billing
        .metric_eventually("consumer_records_total", &[("result", "duplicate")], 1.0)
        .await;
    assert_eq!(duplicates, 1.0);
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&saga.billing.pool)
        .await
        .unwrap();
    assert_eq!(payments, 1);
    let order: Value = saga
        .orders
        .get_json(&format!("/api/orders/{order_id}"))
        .await;
    assert_eq!(order["status"], "PAID");
}

/// `sagactl dlq check` of dead letter `m`.
async fn dlq_check(saga: &Saga, m: &rdkafka::message::OwnedMessage) -> e2e::CliOutput {
    let (partition, offset) = (m.partition().to_string(), m.offset().to_string());
    saga.cli(&[
        "dlq",
        "check",
        topics::PAYMENT_REQUESTS,
        &partition,
        &offset,
    ])
    .await
}

async fn wait_for_dead_letters(
    kafka: &KafkaConfig,
    selection: &Selection,
    count: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (kafka, selection) = (kafka.clone(), selection.clone());
        let records = tokio::task::spawn_blocking(move || list(&kafka, &selection))
            .await
            .unwrap()
            .unwrap();
        if records.len() >= count || Instant::now() > deadline {
            assert_eq!(records.len(), count, "dead-lettered records");
            return records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
