//! The three services started together on the real broker and databases,
//! each test with its own topics and databases; shared by this crate's
//! integration tests (each uses a part of it).
#![allow(dead_code)]

use common::testing::{spawn_app, TestApp, TestTopics};
use serde_json::Value;
use std::time::{Duration, Instant};

pub struct Saga {
    pub topics: TestTopics,
    pub orders: TestApp,
    pub billing: TestApp,
    pub notifications: TestApp,
}

pub fn billing_definition() -> common::app::ServiceDefinition {
    billing_service::definition(
        billing_service::config::BillingConfig::from_lookup(|_| None).unwrap(),
    )
}

impl Saga {
    pub async fn start() -> Self {
        let topics = TestTopics::create().await;
        let orders = spawn_app(order_service::definition(), &topics).await;
        let billing = spawn_app(billing_definition(), &topics).await;
        let notifications = spawn_app(notification_service::definition(), &topics).await;
        for app in [&orders, &billing, &notifications] {
            let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
            assert_eq!(status, 200, "{body}");
        }
        Saga {
            topics,
            orders,
            billing,
            notifications,
        }
    }

    pub async fn place(&self, body: &Value) -> Value {
        let response = self.orders.post_json("/api/orders", body).await;
        assert_eq!(response.status().as_u16(), 202);
        response.json().await.unwrap()
    }

    /// Waits until the order leaves PENDING; returns it and how long it took.
    pub async fn final_order(&self, order_id: &str) -> (Value, Duration) {
        let started = Instant::now();
        let order = self
            .orders
            .get_until(
                &format!("/api/orders/{order_id}"),
                Duration::from_secs(30),
                |o| o["status"] != "PENDING" && !o["status"].is_null(),
            )
            .await;
        (order, started.elapsed())
    }

    pub async fn notifications_of(&self, order_id: &str, at_least: usize) -> Vec<Value> {
        let body = self
            .notifications
            .get_until(
                &format!("/api/notifications?orderId={order_id}"),
                Duration::from_secs(30),
                |b| {
                    b["notifications"]
                        .as_array()
                        .is_some_and(|n| n.len() >= at_least)
                },
            )
            .await;
        body["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Stops billing, then places `count` orders for `customer`: their
    /// payment requests queue up on the topic. Returns the order ids.
    pub async fn place_while_billing_is_down(
        &mut self,
        count: usize,
        customer: &str,
    ) -> Vec<String> {
        self.billing.stop().await;
        let mut ids = Vec::new();
        for _ in 0..count {
            let order = self.place(&order_body(customer)).await;
            ids.push(order["orderId"].as_str().unwrap().to_owned());
        }
        ids
    }

    pub async fn restart_billing(self) -> Self {
        let billing = self
            .billing
            .restart(billing_definition(), &self.topics)
            .await;
        Saga { billing, ..self }
    }

    pub async fn payment_count(&self, order_id: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM payments WHERE order_id = $1::uuid")
            .bind(order_id)
            .fetch_one(&self.billing.pool)
            .await
            .unwrap()
    }
}

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

/// order-service at capacity: the test locks the orders table against writes
/// (reads go on) and fills every admission place with a write that waits on
/// the lock, holding a pooled connection. Rolling `lock` back releases them;
/// each `held` write then answers with its status.
pub struct AtCapacity {
    pub lock: sqlx::Transaction<'static, sqlx::Postgres>,
    pub held: Vec<tokio::task::JoinHandle<u16>>,
}

impl AtCapacity {
    pub async fn fill(app: &TestApp, places: usize) -> Self {
        let mut lock = app.pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE orders IN EXCLUSIVE MODE")
            .execute(&mut *lock)
            .await
            .unwrap();
        let held = (0..places)
            .map(|_| {
                let url = format!("{}/api/orders", app.address);
                tokio::spawn(async move {
                    let response = reqwest::Client::new()
                        .post(url)
                        .json(&order_body("c-1"))
                        .send()
                        .await
                        .unwrap();
                    response.status().as_u16()
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            if waiting == places as i64 {
                return Self { lock, held };
            }
            assert!(
                Instant::now() < deadline,
                "{waiting} of {places} writes waiting on the lock"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Releases the lock; every held write must then be accepted.
    pub async fn release(self) {
        self.lock.rollback().await.unwrap();
        for write in self.held {
            assert_eq!(write.await.unwrap(), 202, "an admitted write completes");
        }
    }
}
