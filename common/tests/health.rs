//! Readiness of the shared application skeleton against the real Postgres and
//! Kafka, and what it says when either is unreachable.

use common::app::ServiceDefinition;
use common::config::ServiceDefaults;
use common::testing::{spawn_app, spawn_app_with, table_names, TestTopics};
use sqlx::migrate::Migrator;
use std::time::Duration;

const PROBE: ServiceDefaults = ServiceDefaults {
    name: "probe-service",
    http_port: 0,
    database: "probe",
};
static MIGRATOR: Migrator = sqlx::migrate!("tests/migrations");

fn probe() -> ServiceDefinition {
    ServiceDefinition {
        defaults: PROBE,
        migrator: &MIGRATOR,
        routes: std::sync::Arc::new(|_| {}),
        consumers: vec![],
    }
}

/// A TCP port on loopback where nothing listens.
const DEAD_ADDRESS: &str = "127.0.0.1:9";

#[tokio::test]
async fn ready_answers_200_and_migrations_ran_when_both_dependencies_answer() {
    let topics = TestTopics::create().await;
    let app = spawn_app(probe(), &topics).await;

    let (status, body) = app.readiness_until(200, Duration::from_secs(20)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["down"], serde_json::json!([]));
    assert_eq!(
        table_names(&app.pool).await,
        vec!["_sqlx_migrations", "inbox", "outbox", "probe"]
    );
}

#[tokio::test]
async fn ready_answers_503_naming_kafka_when_no_broker_answers() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| {
        c.kafka.bootstrap_servers = DEAD_ADDRESS.into();
    })
    .await;

    // Wait for migrations, so that only Kafka is down.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = app.readiness_until(200, Duration::ZERO).await;
        if body["checks"]["database"]["up"] == true || std::time::Instant::now() > deadline {
            break (status, body);
        }
    };

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["down"], serde_json::json!(["kafka"]), "{body}");
    assert!(body["checks"]["kafka"]["error"].is_string(), "{body}");
    assert_eq!(app.get("/health/live").await.status().as_u16(), 200);
}

#[tokio::test]
async fn ready_answers_503_naming_the_database_when_postgres_is_unreachable() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| {
        c.database.url = format!("postgres://probe:probe@{DEAD_ADDRESS}/probe");
    })
    .await;

    let (status, body) = app.readiness_until(503, Duration::from_secs(10)).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");
    assert_eq!(body["checks"]["kafka"]["up"], true, "{body}");
}
