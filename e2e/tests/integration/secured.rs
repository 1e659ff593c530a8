//! The saga on the secured local stack: Kafka over SASL_SSL with SCRAM-SHA-512,
//! one principal per service limited by the ACLs of `kafka-setup/acls.conf`,
//! and Postgres over TLS with `sslmode=verify-full`. Ignored by a plain
//! `cargo test`, which runs on the plaintext stack; `make test` starts the
//! secured one and runs these with `--ignored`. The tests' own clients use
//! the admin principal from the environment (`KAFKA_SASL_*`, `PG_ADMIN_URL`),
//! and `SECURED_STACK_DIR` holds the CA and each principal's password file.

use common::app::ServiceDefinition;
use common::config::ServiceConfig;
use common::testing::{
    kafka_config, run_alone_in_child_process, spawn_app_with, LogCapture, TestApp, TestTopics,
};
use contract::kafka::{KafkaConfig, Sasl, SecurityProtocol};
use contract::secret::ExposeSecret;
use contract::topics;
use e2e::{billing_definition, order_body, order_definition};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SERVICES: [&str; 3] = ["order-service", "billing-service", "notification-service"];

fn stack_dir() -> PathBuf {
    std::env::var_os("SECURED_STACK_DIR")
        .map(PathBuf::from)
        .expect("SECURED_STACK_DIR: run these through `make test`, which starts the secured stack")
}

fn password(principal: &str) -> String {
    let file = stack_dir().join("passwords").join(principal);
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim_end()
        .to_owned()
}

/// The cluster as `principal` (with `password`) sees it, with `topics`' prefix.
fn kafka_as(topics: &TestTopics, principal: &str, password: &str) -> KafkaConfig {
    let mut kafka = topics.kafka();
    assert_eq!(kafka.security.protocol, SecurityProtocol::SaslSsl);
    kafka.security.sasl = Some(Sasl {
        mechanism: "SCRAM-SHA-512",
        username: principal.to_owned(),
        password: password.to_owned().into(),
    });
    kafka
}

fn kafka_setup(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kafka-setup")
        .join(path)
}

/// Grants every principal what `kafka-setup/acls.conf` says, on this test's
/// prefixed topics and groups, as the local stack does for its own.
fn grant_acls(topics: &TestTopics) {
    let output = Command::new(kafka_setup("ensure-acls.sh"))
        .env("KAFKA_TOPIC_PREFIX", topics.topic(""))
        .output()
        .expect("run ensure-acls.sh");
    assert!(
        output.status.success(),
        "ensure-acls.sh failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn kafka_acls(args: &[&str]) {
    let output = Command::new(kafka_setup("bin/kafka-acls"))
        .args(["--bootstrap-server", &kafka_config().bootstrap_servers])
        .args(args)
        .output()
        .expect("run kafka-acls");
    assert!(
        output.status.success(),
        "kafka-acls {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A service as its own principal, with the database URL the admin's
/// (TLS, verify-full) gives it.
async fn start_as_itself(definition: ServiceDefinition, topics: &TestTopics) -> TestApp {
    start_with_password(definition, topics, None).await
}

async fn start_with_password(
    definition: ServiceDefinition,
    topics: &TestTopics,
    wrong_password: Option<&str>,
) -> TestApp {
    let principal = definition.defaults.name;
    let password = wrong_password.map_or_else(|| password(principal), str::to_owned);
    let kafka = kafka_as(topics, principal, &password);
    spawn_app_with(definition, topics, move |config: &mut ServiceConfig| {
        config.kafka = kafka;
    })
    .await
}

struct SecuredSaga {
    orders: TestApp,
    billing: TestApp,
    notifications: TestApp,
}

impl SecuredSaga {
    async fn start(topics: &TestTopics) -> Self {
        let saga = Self {
            orders: start_as_itself(order_definition(1), topics).await,
            billing: start_as_itself(billing_definition(), topics).await,
            notifications: start_as_itself(notification_service::definition(), topics).await,
        };
        for app in saga.apps() {
            let (status, body) = app.readiness_until(200, Duration::from_secs(60)).await;
            assert_eq!(status, 200, "{body}");
        }
        saga
    }

    fn apps(&self) -> [&TestApp; 3] {
        [&self.orders, &self.billing, &self.notifications]
    }

    async fn place(&self, customer: &str) -> String {
        let response = self
            .orders
            .post_json("/api/orders", &order_body(customer))
            .await;
        assert_eq!(response.status().as_u16(), 202);
        let order: Value = response.json().await.unwrap();
        order["orderId"].as_str().unwrap().to_owned()
    }

    async fn order(&self, id: &str) -> Value {
        self.orders.get_json(&format!("/api/orders/{id}")).await
    }

    async fn final_order(&self, id: &str, within: Duration) -> Value {
        self.orders
            .get_until(&format!("/api/orders/{id}"), within, |o| {
                o["status"] != "PENDING" && !o["status"].is_null()
            })
            .await
    }
}

#[tokio::test]
#[ignore = "needs the secured stack: make test runs it"]
async fn the_saga_completes_with_each_service_its_own_principal_and_no_secret_is_shown() {
    if !run_alone_in_child_process(concat!(
        module_path!(),
        "::the_saga_completes_with_each_service_its_own_principal_and_no_secret_is_shown"
    )) {
        return;
    }
    let logs = LogCapture::install();
    let topics = TestTopics::create().await;
    grant_acls(&topics);
    let saga = SecuredSaga::start(&topics).await;

    let id = saga.place("alice").await;
    let order = saga.final_order(&id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "PAID", "{order}");
    let path = format!("/api/notifications?orderId={id}");
    let notifications = saga
        .notifications
        .get_until(&path, Duration::from_secs(30), |b| {
            b["notifications"].as_array().is_some_and(|n| n.len() == 2)
        })
        .await;

    // Each service's database connection is encrypted (the server also
    // accepts nothing else: hostssl only).
    for app in saga.apps() {
        let encrypted = app
            .count("SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl")
            .await;
        assert_eq!(encrypted, 1);
    }

    // No password, of the services or the admin, anywhere a user can look.
    let mut shown = vec![logs.text(), order.to_string(), notifications.to_string()];
    for app in saga.apps() {
        shown.push(app.get("/metrics").await.text().await.unwrap());
        shown.push(app.get_json("/health/ready").await.to_string());
    }
    let admin = kafka_config().security.sasl.expect("the admin principal");
    let mut secrets: Vec<String> = SERVICES.iter().map(|s| password(s)).collect();
    secrets.push(admin.password.expose_secret().to_owned());
    for secret in &secrets {
        assert!(secret.len() >= 16, "generated passwords are long");
        for text in &shown {
            assert!(!text.contains(secret.as_str()), "a password is shown");
        }
    }
    assert!(
        !logs.text().is_empty(),
        "the services' logs were captured ({} bytes)",
        logs.text().len()
    );
}

#[tokio::test]
#[ignore = "needs the secured stack: make test runs it"]
async fn billings_principal_is_denied_order_created_and_a_denied_relay_waits_until_granted() {
    if !run_alone_in_child_process(concat!(
        module_path!(),
        "::billings_principal_is_denied_order_created_and_a_denied_relay_waits_until_granted"
    )) {
        return;
    }
    let logs = LogCapture::install();
    let topics = TestTopics::create().await;
    grant_acls(&topics);
    let billing = kafka_as(&topics, "billing-service", &password("billing-service"));
    let order_created = topics.topic(topics::ORDER_CREATED);

    // Writing order-created is order-service's alone.
    let producer: FutureProducer = common::kafka::client_config(&billing, "test-billing")
        .set("message.timeout.ms", "10000")
        .create()
        .unwrap();
    let sent = producer
        .send(
            FutureRecord::to(&order_created).key("k").payload("{}"),
            Duration::from_secs(15),
        )
        .await;
    let (error, _) = sent.expect_err("billing's principal may not write order-created");
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{error}"
    );
    // And reading it is notification-service's (even in billing's own group).
    let consumer: StreamConsumer = ClientConfig::from_iter(billing.client_settings("test-billing"))
        .set("group.id", billing.topic("billing-service"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&order_created]).unwrap();
    let read = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
        .await
        .expect("the broker answers within 20 s");
    let error = read.expect_err("billing's principal may not read order-created");
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{error}"
    );
    drop(consumer);

    // Take away billing's right to publish its payment results.
    let notification_events = topics.topic(topics::NOTIFICATION_EVENTS);
    let revoke = [
        "--remove",
        "--force",
        "--allow-principal",
        "User:billing-service",
        "--operation",
        "Write",
        "--topic",
        notification_events.as_str(),
    ];
    kafka_acls(&revoke);
    let saga = SecuredSaga::start(&topics).await;
    let id = saga.place("dora").await;

    // The payment is decided, its result waits in billing's outbox, the
    // denial is shown; the order stays pending.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let (status, body) = saga
            .billing
            .readiness_until(200, Duration::from_secs(5))
            .await;
        assert_eq!(status, 200, "a denial leaves readiness 200: {body}");
        if body["kafkaDenied"]["outbox_relay"].is_string() || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let denial = ready["kafkaDenied"]["outbox_relay"]
        .as_str()
        .unwrap_or_default();
    assert!(
        denial.contains(&notification_events) && denial.contains("authorization"),
        "{ready}"
    );
    assert_eq!(
        saga.billing
            .metric("kafka_access_denied", &[("client", "outbox_relay")])
            .await,
        1.0
    );
    assert!(saga.billing.count("SELECT count(*) FROM outbox").await >= 1);
    // Several retries later, still one line about it.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(saga.order(&id).await["status"], "PENDING");
    let warnings = logs
        .text()
        .lines()
        .filter(|line| line.contains("outbox relay could not publish"))
        .count();
    assert_eq!(warnings, 1, "the relay's failure is logged once");

    // Granted again from the table: the waiting result is published and the
    // saga completes; nothing was lost.
    grant_acls(&topics);
    let order = saga.final_order(&id, Duration::from_secs(90)).await;
    assert_eq!(order["status"], "PAID", "{order}");
    assert_eq!(
        saga.billing
            .metric_eventually("kafka_access_denied", &[("client", "outbox_relay")], 0.0)
            .await,
        0.0
    );
    let ready = saga.billing.get_json("/health/ready").await;
    assert_eq!(ready["kafkaDenied"], serde_json::json!({}), "{ready}");
}

#[tokio::test]
#[ignore = "needs the secured stack: make test runs it"]
async fn a_wrong_password_makes_readiness_name_the_refusal_and_plaintext_is_refused() {
    let topics = TestTopics::create().await;
    let app = start_with_password(
        notification_service::definition(),
        &topics,
        Some("not-the-password"),
    )
    .await;
    // Once migrated, only Kafka is down.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = app.readiness_until(503, Duration::from_secs(5)).await;
        if body["checks"]["database"]["up"] == true || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["down"], serde_json::json!(["kafka"]), "{body}");
    let error = body["checks"]["kafka"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("Authentication failed") || error.contains("authentication"),
        "{body}"
    );
    assert!(!body.to_string().contains("not-the-password"));

    // The secured listener does not talk to a plaintext client.
    let plaintext: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka_config().bootstrap_servers)
        .set("security.protocol", "plaintext")
        .create()
        .unwrap();
    let metadata = tokio::task::spawn_blocking(move || {
        plaintext
            .client()
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|m| m.brokers().len())
    })
    .await
    .unwrap();
    assert!(metadata.is_err(), "a plaintext client got {metadata:?}");
}

#[tokio::test]
#[ignore = "needs the secured stack: make test runs it"]
async fn the_console_consumer_wrapper_reads_a_secured_topic_as_the_admin() {
    let topics = TestTopics::create().await;
    let topic = topics.topic(topics::ORDER_CREATED);
    let marker = format!("secured-{}", uuid::Uuid::now_v7());
    common::testing::produce_raw(&topic, "k", &[], marker.as_bytes()).await;
    let output = Command::new(kafka_setup("bin/kafka-console-consumer"))
        .args(["--bootstrap-server", &kafka_config().bootstrap_servers])
        .args(["--topic", &topic, "--from-beginning"])
        .args(["--max-messages", "1", "--timeout-ms", "60000"])
        .output()
        .expect("run kafka-console-consumer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(&marker),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
