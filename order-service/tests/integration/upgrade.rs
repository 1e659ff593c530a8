//! Orders written by an older schema read the same after the migrations that
//! followed it.

use common::db::service_migrator;
use common::testing::{spawn_app_on, TestDatabase, TestTopics};
use serde_json::{json, Value};
use sqlx::migrate::Migrator;
use sqlx::PgPool;

/// The migration that moved the items into the order's row.
const ITEMS_IN_ORDERS: i64 = 20261207000202;

#[tokio::test]
async fn items_stored_in_their_own_table_are_served_unchanged_after_the_upgrade() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create("orders_upgrade").await;
    let all = service_migrator(&order_service::MIGRATOR);
    let before = Migrator {
        migrations: all
            .iter()
            .filter(|m| m.version < ITEMS_IN_ORDERS)
            .cloned()
            .collect(),
        ..Migrator::DEFAULT
    };
    let pool = PgPool::connect(&db.url).await.unwrap();
    before.run(&pool).await.unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO orders (id, customer_id, total_amount, currency) VALUES ($1, 'old', 131.97, 'EUR')")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    // Stored out of line order, as the old table allowed; read back in it.
    sqlx::query(
        "INSERT INTO order_items (order_id, line, product_id, name, quantity, unit_price)
         VALUES ($1, 2, 'p-2', 'Cable', 3, 5.00), ($1, 1, 'p-1', 'Lamp', 1, 116.97)",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let app = spawn_app_on(order_service::definition(Default::default()), &topics, db).await;
    let order: Value = app.get_json(&format!("/api/orders/{id}")).await;
    assert_eq!(
        order["items"],
        json!([
            {"productId": "p-1", "name": "Lamp", "price": "116.97", "quantity": 1, "subtotal": "116.97"},
            {"productId": "p-2", "name": "Cable", "price": "5.00", "quantity": 3, "subtotal": "15.00"}
        ]),
        "{order}"
    );
    // Stored as new orders store them: amounts as strings, like the API.
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM orders WHERE id = '{id}' AND jsonb_typeof(items -> 0 -> 'price') = 'string'"))
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM pg_tables WHERE tablename = 'order_items'")
            .await,
        0
    );
}
