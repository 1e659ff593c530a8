//! notification-service's HTTP API on the real database: bad filters get a 4xx
//! naming them, never a 5xx.

use common::testing::{spawn_app, TestTopics};
use serde_json::Value;

#[tokio::test]
async fn a_nul_in_the_customer_filter_is_refused_naming_the_field() {
    let topics = TestTopics::create().await;
    let app = spawn_app(notification_service::definition(), &topics).await;

    for query in ["customerId=c%00x", "customerId=%00", "orderId=not-a-uuid"] {
        let response = app.get(&format!("/api/notifications?{query}")).await;
        assert_eq!(response.status().as_u16(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        let field = query.split('=').next().unwrap();
        assert_eq!(error["fields"][0]["field"], field, "{query}: {error}");
    }

    let response = app.get("/api/notifications?customerId=c-1").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["notifications"], Value::Array(vec![]));
}
