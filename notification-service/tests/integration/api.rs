//! notification-service's HTTP API on the real database: listings from their
//! indexes, and bad filters get a 4xx naming them, never a 5xx.

use common::testing::{query_plans, spawn_app, TestTopics};
use notification_service::store::{list_query, NotificationFilter};
use serde_json::Value;

#[tokio::test]
async fn notifications_are_listed_from_the_index_of_their_filter_in_custom_and_generic_plans() {
    let topics = TestTopics::create().await;
    let app = spawn_app(notification_service::definition(), &topics).await;
    let order_id = uuid::Uuid::now_v7();
    for (filter, arguments, expected) in [
        (
            NotificationFilter {
                customer_id: Some("c-1"),
                ..NotificationFilter::default()
            },
            "'c-1', 20".to_owned(),
            "notifications_customer_id_id",
        ),
        (
            NotificationFilter {
                order_id: Some(order_id),
                ..NotificationFilter::default()
            },
            format!("'{order_id}', 20"),
            // notifications_one_per_kind leads with order_id.
            "Index Cond: (order_id = ",
        ),
    ] {
        let sql = list_query(&filter, 20).into_sql();
        for plan in query_plans(&app.db.url, &sql, &arguments).await {
            assert!(plan.contains(expected), "{sql}\n{plan}");
        }
    }
}

#[tokio::test]
async fn a_customers_notifications_are_listed_newest_first_and_only_theirs() {
    let topics = TestTopics::create().await;
    let app = spawn_app(notification_service::definition(), &topics).await;
    let mut ids = Vec::new();
    for customer in ["c-1", "c-2", "c-1", "c-1"] {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO notifications (id, source_event_id, order_id, customer_id, kind, channel, message)
             VALUES ($1, gen_random_uuid(), gen_random_uuid(), $2, 'ORDER_RECEIVED', 'email', 'hi')",
        )
        .bind(id)
        .bind(customer)
        .execute(&app.pool)
        .await
        .unwrap();
        ids.push((customer, id.to_string()));
    }

    let body: Value = app
        .get_json("/api/notifications?customerId=c-1&limit=2")
        .await;

    let listed: Vec<&str> = body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[3].1.as_str(), ids[2].1.as_str()], "{body}");
}

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
