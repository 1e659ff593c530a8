//! order-service held at capacity, for the admission tests.

use common::testing::TestApp;
use order_service::testing::order_body;
use std::time::{Duration, Instant};

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
