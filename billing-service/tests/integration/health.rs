//! Readiness and liveness (the checks every service passes), and the
//! migrations of accounts made before the spend column.

use common::testing::TestDatabase;
use sqlx::migrate::Migrator;
use sqlx::PgPool;

common::health_tests!(
    super::definition(),
    "billing-service",
    [
        "_sqlx_migrations",
        "accounts",
        "dead_letters",
        "inbox",
        "outbox",
        "payments"
    ]
);

/// The migration that keeps what customers have spent.
const SPENT_MIGRATION: i64 = 20261124000101;

#[tokio::test]
async fn accounts_from_before_the_spend_column_get_their_spend_from_succeeded_payments() {
    let db = TestDatabase::create("billing").await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let all = common::db::service_migrator(&billing_service::MIGRATOR);
    let earlier = Migrator {
        migrations: std::borrow::Cow::Owned(
            all.iter()
                .filter(|m| m.version < SPENT_MIGRATION)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    earlier.run(&pool).await.unwrap();
    // "restored" is the old rule's mistake: limit 1000, 900 spent, lowered
    // to 0 and restored to 1000, it showed 1000 available again.
    sqlx::query(
        "INSERT INTO accounts (customer_id, credit_limit, available_credit)
         VALUES ('restored', 1000, 1000), ('lowered', 100, 0), ('new', 500, 500)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payments (order_id, customer_id, amount, currency, status)
         VALUES (gen_random_uuid(), 'restored', 900, 'USD', 'SUCCEEDED'),
                (gen_random_uuid(), 'restored', 50, 'USD', 'FAILED'),
                (gen_random_uuid(), 'lowered', 300, 'USD', 'SUCCEEDED')",
    )
    .execute(&pool)
    .await
    .unwrap();

    all.run(&pool).await.unwrap();

    let accounts: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT customer_id, spent::text, available_credit::text FROM accounts ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected = [
        ("lowered", "300.00", "0.00"),
        ("new", "0.00", "500.00"),
        ("restored", "900.00", "100.00"),
    ];
    assert_eq!(
        accounts,
        expected.map(|(c, s, a)| (c.to_owned(), s.to_owned(), a.to_owned()))
    );
    let unrecorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM payments WHERE credit_limit_at_decision IS NULL AND spent_before IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        unrecorded, 3,
        "earlier decisions did not record what they saw"
    );
}
