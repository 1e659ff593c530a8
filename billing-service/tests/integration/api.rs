//! billing-service's HTTP API on the real database: what a client sees for
//! bad account ids. No input may produce a 5xx.

use common::testing::{spawn_app, TestApp, TestTopics};
use serde_json::{json, Value};

async fn billing(topics: &TestTopics) -> TestApp {
    spawn_app(super::definition(), topics).await
}

#[tokio::test]
async fn a_nul_or_blank_account_id_is_refused_naming_the_field() {
    let topics = TestTopics::create().await;
    let app = billing(&topics).await;

    for path in [
        "/api/accounts/c%00x",
        "/api/accounts/%00",
        "/api/accounts/%20",
    ] {
        let response = app.get(path).await;
        let status = response.status().as_u16();
        let error: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "GET {path}: {error}");
        assert_eq!(error["fields"][0]["field"], "customerId", "GET {path}");

        let response = app.put_json(path, &json!({"creditLimit": 10})).await;
        let status = response.status().as_u16();
        let error: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "PUT {path}: {error}");
        assert_eq!(error["error"], "bad_request");
        assert_eq!(error["fields"][0]["field"], "customerId", "PUT {path}");
    }
    let accounts: i64 = app.count("SELECT count(*) FROM accounts").await;
    assert_eq!(accounts, 0);
}
