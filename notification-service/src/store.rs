//! The notifications table: storing one, and the API's listing.

use crate::domain::Notification;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// Stores `notification` for the event `source_event_id`; false when the
/// order's notification of that kind is already stored (by this event or
/// another one for the same order and kind).
pub async fn insert(
    conn: &mut PgConnection,
    source_event_id: Uuid,
    notification: &Notification,
) -> Result<bool, sqlx::Error> {
    let stored = sqlx::query(
        "INSERT INTO notifications (id, source_event_id, order_id, customer_id, kind, channel, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(source_event_id)
    .bind(notification.order_id)
    .bind(&notification.customer_id)
    .bind(notification.kind)
    .bind(notification.channel)
    .bind(&notification.message)
    .execute(conn)
    .await?;
    Ok(stored.rows_affected() == 1)
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    id: Uuid,
    source_event_id: Uuid,
    order_id: Uuid,
    customer_id: String,
    kind: String,
    channel: String,
    message: String,
    created_at: DateTime<Utc>,
}

/// The filters of `GET /api/notifications`.
#[derive(Debug, Default)]
pub struct NotificationFilter<'a> {
    pub order_id: Option<Uuid>,
    pub customer_id: Option<&'a str>,
}

/// The listing's SQL names only the filters given, so each combination is a
/// prepared statement of its own whose plan, custom or generic, can use the
/// filter's index (`notifications_one_per_kind`, which leads with `order_id`;
/// `notifications_customer_id_id`).
pub fn list_query<'a>(filter: &NotificationFilter<'a>, limit: i64) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(
        "SELECT id, source_event_id, order_id, customer_id, kind, channel, message, created_at
           FROM notifications WHERE true",
    );
    if let Some(order_id) = filter.order_id {
        query.push(" AND order_id = ").push_bind(order_id);
    }
    if let Some(customer_id) = filter.customer_id {
        query.push(" AND customer_id = ").push_bind(customer_id);
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    query
}

/// One page of notifications, newest first.
pub async fn list(
    pool: &PgPool,
    filter: &NotificationFilter<'_>,
    limit: i64,
) -> Result<Vec<NotificationView>, sqlx::Error> {
    list_query(filter, limit)
        .build_query_as()
        .fetch_all(pool)
        .await
}
