//! `GET /api/notifications?orderId=&customerId=&limit=`, newest first.

use crate::store::{self, NotificationFilter};
use actix_web::{web, HttpResponse};
use common::http::{customer_id_param, optional, page_limit, parse_uuid, ApiError};
use serde::Deserialize;
use sqlx::PgPool;

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

async fn list(query: web::Query<Query>, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let order_id = optional(query.order_id.as_deref(), |id| parse_uuid("orderId", id))?;
    let customer_id = optional(query.customer_id.as_deref(), |c| {
        customer_id_param("customerId", c)
    })?;
    let filter = NotificationFilter {
        order_id,
        customer_id: customer_id.as_deref(),
    };
    let notifications = store::list(pool.get_ref(), &filter, limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "notifications": notifications })))
}
