//! The notifications table: storing one, and the API's listing.

use crate::domain::Notification;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use std::collections::HashSet;
use uuid::Uuid;

/// Stores each `(id, source event id, notification)` in one statement and
/// returns the ids of those stored: any other's order already had its
/// notification of that kind, stored before or by an earlier one of
/// `notifications` (the rows are inserted in the order given, as `UNNEST`
/// yields them).
pub async fn insert_all(
    conn: &mut PgConnection,
    notifications: &[(Uuid, Uuid, Notification)],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let column = |f: fn(&(Uuid, Uuid, Notification)) -> Uuid| -> Vec<Uuid> {
        notifications.iter().map(f).collect()
    };
    let text = |f: fn(&Notification) -> &str| -> Vec<&str> {
        notifications.iter().map(|(_, _, n)| f(n)).collect()
    };
    let stored: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO notifications (id, source_event_id, order_id, customer_id, kind, channel, message)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[])
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(column(|(id, _, _)| *id))
    .bind(column(|(_, source, _)| *source))
    .bind(column(|(_, _, n)| n.order_id))
    .bind(text(|n| &n.customer_id))
    .bind(text(|n| n.kind))
    .bind(text(|n| n.channel))
    .bind(text(|n| &n.message))
    .fetch_all(conn)
    .await?;
    Ok(stored.into_iter().collect())
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
