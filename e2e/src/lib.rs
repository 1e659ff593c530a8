//! The harness of the whole-saga tests: the three services started together
//! on the real broker and databases, each test with its own topics and
//! databases, and sagactl pointed at them. The tests are in
//! `tests/integration`. Each service is given an admin token of its own
//! (`common::testing`), which `put_json` sends: billing's credit-limit
//! changes need it.

use common::app::ServiceDefinition;
use common::testing::{spawn_app, TestApp, TestTopics};
pub use order_service::testing::order_body;
use sagactl::Sources;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Saga {
    pub topics: TestTopics,
    pub orders: TestApp,
    pub billing: TestApp,
    pub notifications: TestApp,
}

/// order-service publishing `PaymentRequested` at `version` (1 is the default).
pub fn order_definition(payment_requested_version: i32) -> ServiceDefinition {
    order_service::definition(order_service::config::OrderConfig {
        payment_requested_version,
    })
}

/// billing-service with its default configuration.
pub fn billing_definition() -> ServiceDefinition {
    billing_service::definition(
        billing_service::config::BillingConfig::from_lookup(|_| None).unwrap(),
    )
}

/// Two string fields of each of `items`, sorted: e.g. the (kind, channel) of
/// notifications, whatever order they came in.
pub fn sorted_pairs(items: &[Value], first: &str, second: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = items
        .iter()
        .map(|item| {
            let field = |name: &str| item[name].as_str().unwrap().to_owned();
            (field(first), field(second))
        })
        .collect();
    pairs.sort();
    pairs
}

/// What a run of the `sagactl` command line wrote and its exit status.
pub struct CliOutput {
    pub code: u8,
    pub stdout: String,
}

impl Saga {
    pub async fn start() -> Self {
        let topics = TestTopics::create().await;
        let orders = spawn_app(order_definition(1), &topics).await;
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

    /// Places an order and waits until it is final.
    pub async fn place_and_finish(&self, customer: &str) -> Value {
        let order = self.place(&order_body(customer)).await;
        self.final_order(order["orderId"].as_str().unwrap()).await.0
    }

    /// Places a one-item order and waits until it is final and both its
    /// notifications exist; returns its id.
    pub async fn completed_order(&self, customer: &str) -> String {
        let body = json!({"customerId": customer, "items": [{"productId": "p-1", "name": "Mug",
                          "price": 4.99, "quantity": 2, "subtotal": 9.98}], "totalAmount": 9.98});
        let order: Value = self
            .orders
            .post_json("/api/orders", &body)
            .await
            .json()
            .await
            .unwrap();
        let id = order["orderId"].as_str().unwrap().to_owned();
        let path = format!("/api/notifications?orderId={id}");
        self.notifications
            .get_until(&path, Duration::from_secs(30), |b| {
                b["notifications"].as_array().is_some_and(|n| n.len() == 2)
            })
            .await;
        self.orders
            .get_until(&format!("/api/orders/{id}"), Duration::from_secs(30), |o| {
                o["status"] != "PENDING"
            })
            .await;
        id
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

    /// Restarts order-service (`stop()` it first), now publishing
    /// `PaymentRequested` at `version`, as a rolling upgrade would.
    pub async fn restart_orders(self, version: i32) -> Self {
        let orders = self
            .orders
            .restart(order_definition(version), &self.topics)
            .await;
        let (status, body) = orders.readiness_until(200, Duration::from_secs(30)).await;
        assert_eq!(status, 200, "{body}");
        Saga { orders, ..self }
    }

    pub async fn payment_count(&self, order_id: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM payments WHERE order_id = $1::uuid")
            .bind(order_id)
            .fetch_one(&self.billing.pool)
            .await
            .unwrap()
    }

    /// sagactl's view of this saga.
    pub async fn sources(&self) -> Sources {
        Sources::connect(
            &self.orders.db.url,
            &self.billing.db.url,
            &self.notifications.db.url,
            self.topics.kafka(),
        )
        .await
        .unwrap()
    }

    /// Runs the `sagactl` command line on this saga, in-process (its library
    /// is the binary but for `main`), e.g. `cli(&["audit", "--json"])`.
    pub async fn cli(&self, command: &[&str]) -> CliOutput {
        use sagactl::cli::{run, Cli, Parser};
        let kafka = self.topics.kafka();
        let sources = [
            ("--orders-db", self.orders.db.url.as_str()),
            ("--billing-db", self.billing.db.url.as_str()),
            ("--notifications-db", self.notifications.db.url.as_str()),
            ("--bootstrap-servers", kafka.bootstrap_servers.as_str()),
            ("--topic-prefix", kafka.topic_prefix.as_str()),
        ];
        let args = std::iter::once("sagactl")
            .chain(sources.iter().flat_map(|(flag, value)| [*flag, *value]))
            .chain(command.iter().copied());
        let cli = Cli::try_parse_from(args).expect("sagactl's arguments");
        let mut stdout = Vec::new();
        let code = run(cli, &mut stdout).await.expect("sagactl runs");
        CliOutput {
            code,
            stdout: String::from_utf8(stdout).expect("sagactl writes UTF-8"),
        }
    }
}
