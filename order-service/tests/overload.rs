//! Past capacity the service refuses writes at once instead of queueing them
//! (`common::admission`), on the real database.

use common::testing::{spawn_app_with, TestTopics};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn order() -> Value {
    json!({"customerId": "c-1", "totalAmount": 9.98,
           "items": [{"productId": "p-1", "name": "Mug", "price": 4.99, "quantity": 2, "subtotal": 9.98}]})
}

#[tokio::test]
async fn past_capacity_writes_get_503_with_retry_after_at_once_and_reads_still_answer() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(order_service::definition(), &topics, |c| {
        c.database.max_connections = 4;
        c.database.acquire_timeout = Duration::from_secs(30);
        c.http.admission_max_in_flight = 2;
    })
    .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");

    // The test locks the orders table against writes (reads go on): two
    // admitted writes wait on the lock,
    // each holding its place and a pooled connection.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE orders IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let address = app.address.clone();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{address}/api/orders");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&order())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
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
        if waiting == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} writes waiting on the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let refused = app.post_json("/api/orders", &order()).await;
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
        held.iter().all(|h| !h.is_finished()),
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

    lock.rollback().await.unwrap();
    for write in held {
        assert_eq!(write.await.unwrap(), 202, "an admitted write completes");
    }
    assert_eq!(
        app.post_json("/api/orders", &order())
            .await
            .status()
            .as_u16(),
        202,
        "capacity is back"
    );
}
