//! `GET /api/notifications?orderId=&customerId=&limit=`, newest first.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use common::http::{customer_id_param, page_limit, parse_uuid, ApiError};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/notifications", web::get().to(list));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query {
    order_id: Option<String>,
    customer_id: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct NotificationView {
    id: Uuid,
    source_event_id: Uuid,
    order_id: Uuid,
    customer_id: String,
    kind: String,
    channel: String,
    message: String,
    created_at: DateTime<Utc>,
}

async fn list(query: web::Query<Query>, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let order_id = query
        .order_id
        .as_deref()
        .map(|id| parse_uuid("orderId", id))
        .transpose()?;
    let customer_id = query
        .customer_id
        .as_deref()
        .map(|c| customer_id_param("customerId", c))
        .transpose()?;
    let notifications: Vec<NotificationView> = sqlx::query_as(
        "SELECT id, source_event_id, order_id, customer_id, kind, channel, message, created_at
           FROM notifications
          WHERE ($1::uuid IS NULL OR order_id = $1) AND ($2::text IS NULL OR customer_id = $2)
          ORDER BY id DESC LIMIT $3",
    )
    .bind(order_id)
    .bind(customer_id.as_deref())
    .bind(limit)
    .fetch_all(pool.get_ref())
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "notifications": notifications })))
}
