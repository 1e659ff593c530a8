//! Against the real local Postgres and Kafka (`make test` starts them).

use common::testing::{spawn_app, table_names, TestTopics};
use notification_service::definition;
use std::time::Duration;

#[tokio::test]
async fn ready_answers_200_once_its_database_is_migrated_and_kafka_answers() {
    let topics = TestTopics::create().await;
    let app = spawn_app(definition(), &topics).await;

    let (status, body) = app.readiness_until(200, Duration::from_secs(20)).await;

    assert_eq!(status, 200, "readiness body: {body}");
    assert_eq!(body["service"], "notification-service");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["up"], true);
    assert_eq!(body["checks"]["kafka"]["up"], true);
    assert_eq!(
        table_names(&app.pool).await,
        [
            "_sqlx_migrations",
            "dead_letters",
            "inbox",
            "notifications",
            "outbox"
        ]
    );
}

#[tokio::test]
async fn live_answers_200_while_the_process_runs() {
    let topics = TestTopics::create().await;
    let app = spawn_app(definition(), &topics).await;

    let response = app.get("/health/live").await;

    assert_eq!(response.status().as_u16(), 200);
}
