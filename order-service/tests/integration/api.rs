//! order-service's HTTP API on the real database: what a client sees for good
//! and bad requests. No input may produce a 5xx.

use common::testing::{
    admin_url, named_fields, query_plans, spawn_app, spawn_app_with, TestTopics,
};
use order_service::store::{list_query, OrderFilter};
use order_service::testing::{body_with, order_body, ITEM};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn each_bad_order_gets_its_4xx_and_names_the_field() {
    let topics = TestTopics::create().await;
    let app = spawn_app(order_service::definition(Default::default()), &topics).await;
    let items_101 = vec![ITEM; 101].join(",");
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!(r#"{{"items": [{ITEM}], "totalAmount": 59.97}}"#),
            422,
            "customerId",
        ),
        (
            r#"{"customerId": "  ", "items": [], "totalAmount": 1}"#.into(),
            422,
            "customerId",
        ),
        (
            r#"{"customerId": 7, "items": [], "totalAmount": 1}"#.into(),
            422,
            "customerId",
        ),
        (
            r#"{"customerId": "c-1", "totalAmount": 59.97}"#.into(),
            422,
            "items",
        ),
        (
            r#"{"customerId": "c-1", "items": [], "totalAmount": 0}"#.into(),
            422,
            "items",
        ),
        (
            format!(r#"{{"customerId": "c-1", "items": [{items_101}], "totalAmount": 1}}"#),
            422,
            "items",
        ),
        (body_with("5", "59.97", ""), 422, "items[0]"),
        (
            body_with(&ITEM.replace(r#""productId": "p-1", "#, ""), "59.97", ""),
            422,
            "items[0].productId",
        ),
        (
            body_with(&ITEM.replace(r#""name": "Widget", "#, ""), "59.97", ""),
            422,
            "items[0].name",
        ),
        (
            body_with(&ITEM.replace("19.99", "\"19.99\""), "59.97", ""),
            422,
            "items[0].price",
        ),
        (
            body_with(&ITEM.replace("19.99", "0"), "59.97", ""),
            422,
            "items[0].price",
        ),
        (
            body_with(&ITEM.replace("19.99", "-19.99"), "59.97", ""),
            422,
            "items[0].price",
        ),
        (
            body_with(&ITEM.replace("19.99", "19.999"), "59.97", ""),
            422,
            "items[0].price",
        ),
        (
            body_with(
                &ITEM.replace("\"quantity\": 3", "\"quantity\": 0"),
                "59.97",
                "",
            ),
            422,
            "items[0].quantity",
        ),
        (
            body_with(
                &ITEM.replace("\"quantity\": 3", "\"quantity\": 1001"),
                "59.97",
                "",
            ),
            422,
            "items[0].quantity",
        ),
        (
            body_with(
                &ITEM.replace("\"quantity\": 3", "\"quantity\": 2.5"),
                "59.97",
                "",
            ),
            422,
            "items[0].quantity",
        ),
        (
            body_with(&ITEM.replace("59.97", "59.98"), "59.98", ""),
            422,
            "items[0].subtotal",
        ),
        (body_with(ITEM, "60.00", ""), 422, "totalAmount"),
        (
            r#"{"customerId": "c-1", "items": [ITEM]}"#.replace("ITEM", ITEM),
            422,
            "totalAmount",
        ),
        (
            body_with(ITEM, "59.97", r#", "currency": "usd""#),
            422,
            "currency",
        ),
        (
            body_with(ITEM, "59.97", r#", "currency": "XYZ""#),
            422,
            "currency",
        ),
        (
            body_with(&ITEM.replace("19.99", "1e400"), "59.97", ""),
            422,
            "items[0].price",
        ),
        ("[1, 2]".into(), 422, "body"),
        (r#"{"customerId": "c-1", "items": ["#.into(), 400, "body"),
    ];
    assert!(cases.len() >= 15);

    for (body, expected_status, field) in cases {
        let (status, error) = app
            .post_raw("/api/orders", "application/json", body.clone())
            .await;
        assert_eq!(status, expected_status, "body {body} -> {error}");
        let named: Vec<&str> = error["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("no fields for {body}: {error}"))
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(
            named.contains(&field),
            "body {body}: expected {field} named, got {error}"
        );
    }
    let orders: i64 = app.count("SELECT count(*) FROM orders").await;
    assert_eq!(orders, 0, "no invalid order stored");
}

#[tokio::test]
async fn wrong_content_type_oversized_body_and_bad_ids_get_their_status() {
    let topics = TestTopics::create().await;
    let app = spawn_app(order_service::definition(Default::default()), &topics).await;

    let (status, error) = app
        .post_raw("/api/orders", "text/plain", body_with(ITEM, "59.97", ""))
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    let huge = body_with(
        ITEM,
        "59.97",
        &format!(r#", "padding": "{}""#, "x".repeat(70 * 1024)),
    );
    let (status, error) = app.post_raw("/api/orders", "application/json", huge).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (413, Some("payload_too_large"))
    );

    let response = app.get("/api/orders/not-a-uuid").await;
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["fields"][0]["field"], "id");

    let response = app
        .get(&format!("/api/orders/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "not_found"
    );

    for query in [
        "limit=0",
        "limit=101",
        "status=SHIPPED",
        "after=xyz",
        "limit=ten",
    ] {
        let response = app.get(&format!("/api/orders?{query}")).await;
        assert_eq!(response.status().as_u16(), 400, "{query}");
    }
}

#[tokio::test]
async fn orders_are_listed_newest_first_a_page_at_a_time() {
    let topics = TestTopics::create().await;
    let app = spawn_app(order_service::definition(Default::default()), &topics).await;
    let mut placed = Vec::new();
    for customer in ["a", "b", "a", "a", "b"] {
        let body: Value =
            serde_json::from_str(&body_with(ITEM, "59.97", "").replace("c-1", customer)).unwrap();
        let response = app.post_json("/api/orders", &body).await;
        assert_eq!(response.status().as_u16(), 202);
        let order: Value = response.json().await.unwrap();
        placed.push((customer, order["orderId"].as_str().unwrap().to_owned()));
    }
    let expected: Vec<String> = placed
        .iter()
        .rev()
        .filter(|(c, _)| *c == "a")
        .map(|(_, id)| id.clone())
        .collect();

    let first: Value = app.get_json("/api/orders?customerId=a&limit=2").await;
    let after = first["nextAfter"].as_str().unwrap();
    let second: Value = app
        .get_json(&format!("/api/orders?customerId=a&limit=2&after={after}"))
        .await;

    let ids: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["orders"].as_array().unwrap().iter())
        .map(|o| o["orderId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    assert!(second["nextAfter"].is_null(), "{second}");
    let pending: Value = app.get_json("/api/orders?status=PENDING&limit=100").await;
    assert_eq!(pending["orders"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_customers_orders_are_listed_from_the_customer_index_in_custom_and_generic_plans() {
    let topics = TestTopics::create().await;
    let app = spawn_app(order_service::definition(Default::default()), &topics).await;
    let first_page = OrderFilter {
        customer_id: Some("c-1"),
        ..OrderFilter::default()
    };
    let next_page = OrderFilter {
        customer_id: Some("c-1"),
        after: Some(uuid::Uuid::now_v7()),
        ..OrderFilter::default()
    };
    for (filter, arguments) in [
        (first_page, "'c-1', 20".to_owned()),
        (next_page, format!("'c-1', '{}', 20", uuid::Uuid::now_v7())),
    ] {
        let sql = list_query(&filter, 20).into_sql();
        for plan in query_plans(&app.db.url, &sql, &arguments).await {
            assert!(plan.contains("orders_customer_id_id"), "{sql}\n{plan}");
        }
    }
}

/// The error body's field names.
#[tokio::test]
async fn a_nul_anywhere_in_an_order_or_its_filter_is_refused_naming_the_field() {
    let topics = TestTopics::create().await;
    let app = spawn_app(order_service::definition(Default::default()), &topics).await;
    let nul_item = ITEM.replace("Widget", r"Wid\u0000get");
    let cases = [
        (
            body_with(ITEM, "59.97", "").replace("c-1", r"c\u0000x"),
            "customerId",
        ),
        (
            body_with(&ITEM.replace("p-1", r"\u0000"), "59.97", ""),
            "items[0].productId",
        ),
        (body_with(&nul_item, "59.97", ""), "items[0].name"),
    ];
    for (body, field) in cases {
        let (status, error) = app
            .post_raw("/api/orders", "application/json", body.clone())
            .await;
        assert_eq!(status, 422, "{body} -> {error}");
        assert_eq!(error["error"], "validation_failed");
        assert_eq!(named_fields(&error), [field], "{body} -> {error}");
    }

    let response = app.get("/api/orders?customerId=c%00x").await;
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(named_fields(&error), ["customerId"], "{error}");

    let orders: i64 = app.count("SELECT count(*) FROM orders").await;
    assert_eq!(orders, 0);
}

/// The pool hands out a recently used connection without testing it (one
/// round trip less per order) and tests one that sat idle. After Postgres
/// closed the service's connections (a restart, a failover): a request that
/// meets a closed connection at once gets 503, never 500, and the next ones
/// get fresh connections; once the connections sat idle, the first order is
/// accepted.
#[tokio::test]
async fn orders_after_postgres_closed_the_connections_get_503_at_worst_then_202() {
    let topics = TestTopics::create().await;
    // Only requests use the pool: a relay's poll would meet a closed
    // connection first and drop it.
    let app = spawn_app_with(
        order_service::definition(Default::default()),
        &topics,
        |c| {
            c.relay_enabled = false;
            c.consumers_enabled = false;
        },
    )
    .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    let first = app.post_json("/api/orders", &order_body("c-1")).await;
    assert_eq!(
        first.status().as_u16(),
        202,
        "{}",
        first.text().await.unwrap()
    );
    let admin = sqlx::PgPool::connect(&admin_url()).await.unwrap();
    let close_connections = || async {
        let closed: i64 = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = $1",
        )
        .bind(&app.db.name)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(closed >= 1, "the service had connections to close");
    };

    close_connections().await;
    let mut refused = 0;
    loop {
        let response = app.post_json("/api/orders", &order_body("c-1")).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "unavailable", "{body}");
        refused += 1;
        assert!(refused <= 10, "at most one 503 per pooled connection");
    }

    close_connections().await;
    // Longer than a connection may sit before it is tested again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_idle = app.post_json("/api/orders", &order_body("c-1")).await;
    let status = after_idle.status().as_u16();
    assert_eq!(status, 202, "{}", after_idle.text().await.unwrap());
    assert_eq!(
        app.count("SELECT count(*) FROM orders WHERE customer_id = 'c-1'")
            .await,
        3
    );
}
