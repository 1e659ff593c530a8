//! Rules order-service and billing-service apply alike, each checked
//! against both: customer ids counted in characters, money with at most two
//! significant decimals.

use common::testing::{named_fields, spawn_app, TestTopics};
use e2e::billing_definition;
use order_service::testing::{body_with, ITEM};
use serde_json::Value;

#[tokio::test]
async fn customer_ids_and_money_follow_one_rule_in_orders_and_accounts() {
    let topics = TestTopics::create().await;
    let orders = spawn_app(order_service::definition(Default::default()), &topics).await;
    let billing = spawn_app(billing_definition(), &topics).await;
    // 26 characters, 104 bytes: counted in characters everywhere.
    let emoji = "😀".repeat(26);

    let body: Value =
        serde_json::from_str(&body_with(ITEM, "59.97", "").replace("c-1", &emoji)).unwrap();
    let response = orders.post_json("/api/orders", &body).await;
    assert_eq!(response.status().as_u16(), 202);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["customerId"], emoji.as_str());
    let listed: Value = orders
        .get_json(&format!("/api/orders?customerId={emoji}"))
        .await;
    assert_eq!(listed["orders"][0]["orderId"], order["orderId"]);

    // Trailing zeros are accepted in a credit limit as in a price.
    let response = billing
        .put_json(
            &format!("/api/accounts/{emoji}"),
            &serde_json::from_str::<Value>(r#"{"creditLimit": 1.50000}"#).unwrap(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let account: Value = billing.get_json(&format!("/api/accounts/{emoji}")).await;
    assert_eq!(account["customerId"], emoji.as_str());
    assert_eq!(account["creditLimit"], "1.50");

    let price_19_990: Value =
        serde_json::from_str(&body_with(&ITEM.replace("19.99", "19.990"), "59.97", "")).unwrap();
    assert_eq!(
        orders
            .post_json("/api/orders", &price_19_990)
            .await
            .status()
            .as_u16(),
        202
    );

    // A third significant decimal is refused by both.
    let (status, error) = orders
        .post_raw(
            "/api/orders",
            "application/json",
            body_with(&ITEM.replace("19.99", "19.999"), "59.997", ""),
        )
        .await;
    assert_eq!(
        (status, named_fields(&error)),
        (422, vec!["items[0].price".to_owned()])
    );
    let response = billing
        .put_json(
            &format!("/api/accounts/{emoji}"),
            &serde_json::from_str::<Value>(r#"{"creditLimit": 19.999}"#).unwrap(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(named_fields(&error), ["creditLimit"], "{error}");
    let account: Value = billing.get_json(&format!("/api/accounts/{emoji}")).await;
    assert_eq!(
        account["creditLimit"], "1.50",
        "the refused limit changed nothing"
    );

    // 101 characters are one too many for both.
    let long = "😀".repeat(101);
    let body: Value =
        serde_json::from_str(&body_with(ITEM, "59.97", "").replace("c-1", &long)).unwrap();
    let response = orders.post_json("/api/orders", &body).await;
    assert_eq!(response.status().as_u16(), 422);
    let response = billing
        .put_json(
            &format!("/api/accounts/{long}"),
            &serde_json::json!({"creditLimit": 5}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(named_fields(&error), ["customerId"], "{error}");
}
