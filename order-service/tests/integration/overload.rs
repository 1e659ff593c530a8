//! Past capacity the service refuses writes at once instead of queueing them
//! (`common::admission`), on the real database.

use crate::support::AtCapacity;
use common::testing::{spawn_app_with, TestTopics};
use order_service::testing::order_body;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn past_capacity_writes_get_503_with_retry_after_at_once_and_reads_still_answer() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(
        order_service::definition(Default::default()),
        &topics,
        |c| {
            c.database.max_connections = 4;
            c.database.acquire_timeout = Duration::from_secs(30);
            c.http.admission_max_in_flight = 2;
        },
    )
    .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    let capacity = AtCapacity::fill(&app, 2).await;

    let started = Instant::now();
    let refused = app.post_json("/api/orders", &order_body("c-2")).await;
    let answered_in = started.elapsed();
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(
        refused.headers()["retry-after"].to_str().unwrap(),
        "1",
        "Retry-After"
    );
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "overloaded", "{error}");
    assert!(
        answered_in < Duration::from_secs(5),
        "refused at once, not after the 30 s acquire timeout: {answered_in:?}"
    );
    assert!(
        capacity.held.iter().all(|h| !h.is_finished()),
        "the admitted writes still wait"
    );

    // Reads, health and metrics are never held back.
    assert_eq!(app.get("/health/live").await.status().as_u16(), 200);
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        app.get(&format!("/api/orders/{missing}"))
            .await
            .status()
            .as_u16(),
        404
    );
    assert_eq!(app.metric("admission_refused_total", &[]).await, 1.0);

    capacity.release().await;
    assert_eq!(
        app.post_json("/api/orders", &order_body("c-2"))
            .await
            .status()
            .as_u16(),
        202,
        "capacity is back"
    );
}

#[tokio::test]
async fn writes_that_became_slow_lower_the_limit_so_fewer_are_admitted_at_once() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(
        order_service::definition(Default::default()),
        &topics,
        |c| {
            c.database.max_connections = 8;
            c.database.acquire_timeout = Duration::from_secs(30);
            c.http.admission_max_in_flight = 8;
            c.http.admission_latency_target = Duration::from_millis(10);
        },
    )
    .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.metric("admission_limit", &[]).await, 8.0);

    // Eight writes held far beyond the target: one window's mean says "slow".
    AtCapacity::fill(&app, 8).await.release().await;
    assert_eq!(
        app.metric("admission_limit", &[]).await,
        7.0,
        "a tenth less"
    );

    let capacity = AtCapacity::fill(&app, 7).await;
    let refused = app.post_json("/api/orders", &order_body("c-3")).await;
    assert_eq!(
        refused.status().as_u16(),
        503,
        "the eighth write is refused now"
    );
    assert_eq!(app.metric("admission_refused_total", &[]).await, 1.0);
    capacity.release().await;
}
