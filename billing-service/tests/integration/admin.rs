//! Credit limits change only with the admin token: without it, or with a
//! wrong one, `PUT /api/accounts/{id}` answers 401 and the limit stays; with
//! no token configured the endpoint is disabled (403). The token is never
//! answered, logged or exported as a metric.

use common::testing::{spawn_app, spawn_app_with, ServiceProcess, TestApp, TestTopics};
use serde_json::{json, Value};
use std::time::Duration;

/// Status, `WWW-Authenticate` and JSON body of a PUT of `limit` for `customer`
/// with exactly `headers`.
async fn put_limit(
    app: &TestApp,
    customer: &str,
    limit: i64,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let response = app
        .put_json_with_headers(
            &format!("/api/accounts/{customer}"),
            &json!({"creditLimit": limit}),
            headers,
        )
        .await;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, response.json().await.unwrap())
}

async fn credit_limit(app: &TestApp, customer: &str) -> Value {
    app.get_json(&format!("/api/accounts/{customer}")).await["creditLimit"].clone()
}

#[tokio::test]
async fn a_credit_limit_changes_only_with_the_admin_token() {
    let topics = TestTopics::create().await;
    let app = spawn_app(super::definition(), &topics).await;
    let token = app.admin_token.clone().expect("the harness gives a token");
    let right = format!("Bearer {token}");

    let (status, _, _) = put_limit(&app, "c-1", 500, &[("authorization", &right)]).await;
    assert_eq!(status, 200);
    assert_eq!(credit_limit(&app, "c-1").await, "500.00");

    let wrong = format!("Bearer {token}x");
    let basic = format!("Basic {token}");
    let mut answers = Vec::new();
    for (what, headers) in [
        ("no Authorization header", vec![]),
        ("a wrong token", vec![("authorization", wrong.as_str())]),
        (
            "the token in another scheme",
            vec![("authorization", basic.as_str())],
        ),
        ("an empty bearer token", vec![("authorization", "Bearer ")]),
    ] {
        let (status, challenge, error) = put_limit(&app, "c-1", 999_999, &headers).await;
        assert_eq!(status, 401, "{what}: {error}");
        assert_eq!(challenge.as_deref(), Some("Bearer"), "{what}");
        assert_eq!(error["error"], "unauthorized", "{what}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(credit_limit(&app, "c-1").await, "500.00", "{what}");
        answers.push(error.to_string());
    }

    // The token is checked before the body: a bad body without it is 401 too.
    let response = app
        .put_json_with_headers("/api/accounts/c-1", &json!({"creditLimit": "lots"}), &[])
        .await;
    assert_eq!(response.status().as_u16(), 401);

    let (status, _, account) = put_limit(&app, "c-1", 750, &[("authorization", &right)]).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["creditLimit"], "750.00");
    assert_eq!(credit_limit(&app, "c-1").await, "750.00");

    answers.push(account.to_string());
    for answer in answers {
        assert!(!answer.contains(&token), "the token in an answer: {answer}");
    }
}

#[tokio::test]
async fn without_a_configured_token_a_limit_change_is_refused_as_disabled() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(super::definition(), &topics, |config| {
        config.admin_token = None
    })
    .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    sqlx::query("INSERT INTO accounts (customer_id, credit_limit) VALUES ('c-1', 500)")
        .execute(&app.pool)
        .await
        .unwrap();

    for headers in [
        vec![],
        vec![("authorization", "Bearer some-token-0123456789")],
    ] {
        let (status, challenge, error) = put_limit(&app, "c-1", 999_999, &headers).await;
        assert_eq!(status, 403, "{error}");
        assert_eq!(challenge, None);
        assert_eq!(error["error"], "admin_disabled");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("disabled") && message.contains("ADMIN_TOKEN"),
            "{message}"
        );
    }
    assert_eq!(credit_limit(&app, "c-1").await, "500.00");
    assert_eq!(app.count("SELECT count(*) FROM accounts").await, 1);
}

#[tokio::test]
async fn the_binary_reads_the_token_from_a_file_and_never_writes_it_out() {
    let token = format!("file-admin-{}", uuid::Uuid::new_v4().simple());
    // A guess that differs in the last character only: not written either.
    let (head, last) = token.split_at(token.len() - 1);
    let guess = format!("{head}{}", if last == "0" { "1" } else { "0" });
    let file = std::env::temp_dir().join(format!("admin-token-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let topics = TestTopics::create().await;
    let mut service = ServiceProcess::spawn(
        env!("CARGO_BIN_EXE_billing-service"),
        &topics,
        &[
            ("ADMIN_TOKEN_FILE", file.to_str().unwrap()),
            // Everything the service and its libraries say, down to trace.
            ("RUST_LOG", "trace"),
        ],
    )
    .await;
    let ready = service.status_until("/health/ready", 200).await;
    assert_eq!(ready, 200, "not ready:\n{}", service.output());

    let mut answers = Vec::new();
    for (authorization, expected) in [
        (format!("Bearer {token}"), 200),
        (format!("Bearer {guess}"), 401),
        (format!("Basic {token}"), 401),
    ] {
        let response = service
            .put_json(
                "/api/accounts/c-1",
                &[("authorization", &authorization)],
                &json!({"creditLimit": 250}),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer = response.text().await.unwrap();
        assert_eq!(status, expected, "{authorization}: {answer}");
        answers.push(answer);
    }
    let metrics = service.get("/metrics", &[]).await.unwrap();
    answers.push(metrics.text().await.unwrap());
    let (status, output) = service.terminate().await;
    std::fs::remove_file(&file).unwrap();

    assert!(status.success(), "exit status {status}:\n{output}");
    assert!(
        output
            .lines()
            .any(|l| l.contains("listening") && l.contains("admin_endpoints=\"enabled\"")),
        "no 'listening' line saying admin endpoints are enabled:\n{output}"
    );
    assert!(
        output.contains("admin request refused"),
        "the refusals are not logged:\n{output}"
    );
    for secret in [&token, &guess] {
        assert!(!output.contains(secret.as_str()), "a token in the log");
        for answer in &answers {
            assert!(!answer.contains(secret.as_str()), "a token in: {answer}");
        }
    }
}
