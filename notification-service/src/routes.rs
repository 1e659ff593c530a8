//! `GET /api/notifications?orderId=&customerId=&limit=`, newest first.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use common::http::{customer_id_param, page_limit, parse_uuid, ApiError};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
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

/// The filters of `GET /api/notifications`.
#[derive(Debug, Default)]
pub struct NotificationFilter<'a> {
    pub order_id: Option<Uuid>,
    pub customer_id: Option<&'a str>,
}

/// The listing's SQL names only the filters given, so each combination is a
/// prepared statement of its own whose plan, custom or generic, can use the
/// filter's index (`notifications_order_id`, `notifications_customer_id_id`).
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
    let filter = NotificationFilter {
        order_id,
        customer_id: customer_id.as_deref(),
    };
    let notifications: Vec<NotificationView> = list_query(&filter, limit)
        .build_query_as()
        .fetch_all(pool.get_ref())
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "notifications": notifications })))
}
