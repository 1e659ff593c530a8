//! The consumer loop with the inbox, for a handler that has no key of its own
//! to tell a repeat (it does not declare `IDEMPOTENT_BY_KEY`): the same event,
//! twice in one batch or redelivered later, is applied once and counted as a
//! duplicate.

use crate::app::{MIGRATOR, PROBE};
use async_trait::async_trait;
use common::accepts::PaymentOutcome;
use common::app::ServiceDefinition;
use common::consumer::{ConsumerDefinition, EventHandler, HandleError, Handled};
use common::envelope::{self, IncomingEvent};
use common::outbox::OutboxBatch;
use common::testing::{produce_raw, spawn_app, TestTopics};
use common::topics;
use sqlx::PgConnection;

/// Adds a row for every event it is given: nothing but the inbox stops a
/// repeat.
struct AppendingHandler;

#[async_trait]
impl EventHandler for AppendingHandler {
    type Events = PaymentOutcome;

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
        body: PaymentOutcome,
        _outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError> {
        let order_id = match body {
            PaymentOutcome::Succeeded(e) => e.order_id,
            PaymentOutcome::Failed(e) => e.order_id,
        };
        sqlx::query("INSERT INTO probe_effects (order_id, event_id) VALUES ($1, $2)")
            .bind(order_id)
            .bind(event.event_id)
            .execute(conn)
            .await?;
        Ok(Handled::Applied)
    }
}

fn appending_service() -> ServiceDefinition {
    ServiceDefinition {
        defaults: PROBE,
        migrator: &MIGRATOR,
        routes: std::sync::Arc::new(|_| {}),
        consumers: vec![ConsumerDefinition::new(
            PROBE.name.into(),
            vec![topics::NOTIFICATION_EVENTS],
            AppendingHandler,
        )],
        metrics: common::metrics::Metrics::new(PROBE.name),
    }
}

#[tokio::test]
async fn without_a_key_of_its_own_a_handler_applies_a_repeated_event_once_through_the_inbox() {
    let topics = TestTopics::create().await;
    let topic = topics.topic(topics::NOTIFICATION_EVENTS);
    let order_id = uuid::Uuid::now_v7();
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = serde_json::json!({"orderId": order_id, "customerId": "c-1", "amount": "9.98",
                                  "currency": "USD", "decidedAt": "2026-11-22T10:00:00Z"})
    .to_string();
    let headers = [
        (envelope::EVENT_ID, event_id.as_str()),
        (envelope::EVENT_TYPE, "PaymentSucceeded"),
        (envelope::EVENT_VERSION, "1"),
    ];
    let key = order_id.to_string();
    // Both copies wait before the service starts, so they are fetched (and
    // most likely applied) together.
    for _ in 0..2 {
        produce_raw(&topic, &key, &headers, body.as_bytes()).await;
    }
    let app = spawn_app(appending_service(), &topics).await;
    for (result, expected) in [("processed", 1.0), ("duplicate", 1.0)] {
        let labels = [("result", result)];
        let counted = app
            .metric_eventually("consumer_records_total", &labels, expected)
            .await;
        assert_eq!(counted, expected, "{result}");
    }

    // Redelivered later, in a transaction of its own.
    produce_raw(&topic, &key, &headers, body.as_bytes()).await;
    let duplicates = app
        .metric_eventually("consumer_records_total", &[("result", "duplicate")], 2.0)
        .await;
    assert_eq!(duplicates, 2.0);
    let effects = app.count("SELECT count(*) FROM probe_effects").await;
    assert_eq!(effects, 1, "three copies of one event, applied once");
    let recorded = app.count("SELECT count(*) FROM inbox").await;
    assert_eq!(recorded, 1, "the inbox holds the event once");
}
