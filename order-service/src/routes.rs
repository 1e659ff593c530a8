//! `POST /api/orders`, `GET /api/orders/{id}`, `GET /api/orders`.

use crate::config::OrderConfig;
use crate::domain::{parse_new_order, NewOrder, NewOrderItem};
use crate::store::{self, OrderView};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use chrono::{DateTime, SubsecRound, Utc};

use common::events::{OrderCreated, PaymentRequested, PaymentRequestedV2, V2};
use common::http::{
    customer_id_param, found, optional, page_limit, parse_uuid, ApiError, FieldError,
};
use common::limits;
use common::outbox::{Outbox, OutboxBatch};
use common::trace::TraceContext;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/orders", web::post().to(create_order))
        .route("/api/orders", web::get().to(list_orders))
        .route("/api/orders/{id}", web::get().to(get_order));
}

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str().map(str::trim) {
        Ok(key) if !key.is_empty() && key.len() <= 200 => Ok(Some(key.to_owned())),
        _ => Err(ApiError::bad_field(
            IDEMPOTENCY_KEY,
            "must be 1 to 200 visible ASCII characters",
        )),
    }
}

/// Validates, then in ONE statement stores the order, its items and the
/// `OrderCreated` and `PaymentRequested` outbox rows. Never talks to Kafka.
async fn create_order(
    request: HttpRequest,
    trace: web::ReqData<TraceContext>,
    body: web::Json<serde_json::Value>,
    pool: web::Data<PgPool>,
    outbox: web::Data<Outbox>,
    config: web::Data<OrderConfig>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&request)?;
    let order = parse_new_order(&body).map_err(|fields| ApiError::Unprocessable {
        message: "the order is invalid".into(),
        fields,
    })?;
    let order_id = Uuid::now_v7();
    // Postgres keeps microseconds: the event carries exactly the stored value.
    let created_at = Utc::now().trunc_subsecs(6);
    let version = config.payment_requested_version;
    let events = order_events(&outbox, order_id, created_at, &order, &trace, version)?;

    let view = match &key {
        None => {
            let mut conn = pool.acquire().await?;
            store::insert(&mut conn, order_id, created_at, &order, events).await?
        }
        Some(key) => {
            // Claiming the key first makes a concurrent request with the same
            // key wait for this transaction, then see its order.
            let mut tx = pool.begin().await?;
            let body_text = body.to_string();
            if let Some(existing) =
                store::claim_idempotency_key(&mut tx, key, &body_text, order_id).await?
            {
                tx.rollback().await?;
                return replay(&pool, existing, &body).await;
            }
            let view = store::insert(&mut tx, order_id, created_at, &order, events).await?;
            tx.commit().await?;
            view
        }
    };
    outbox.committed();
    tracing::info!(order_id = %order_id, customer_id = %order.customer_id, total = %order.total_amount, "order accepted");
    Ok(accepted(view, false))
}

/// A request repeating an Idempotency-Key: the same body gets the order made
/// the first time; another body is refused.
async fn replay(
    pool: &PgPool,
    existing: store::ExistingKey,
    body: &serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    // Compared as JSON values: key order and whitespace do not matter.
    let same_body = serde_json::from_str::<serde_json::Value>(&existing.request_body)
        .is_ok_and(|stored| stored == *body);
    if !same_body {
        return Err(ApiError::Unprocessable {
            message: "this Idempotency-Key was already used with a different body".into(),
            fields: vec![FieldError::new(
                IDEMPOTENCY_KEY,
                "already used with a different body",
            )],
        });
    }
    let view = found(store::find(pool, existing.order_id).await?, "order")?;
    Ok(accepted(view, true))
}

/// The saga's first two events, for the outbox; `PaymentRequested` at
/// `payment_version` (`PAYMENT_REQUESTED_VERSION`).
fn order_events(
    outbox: &Outbox,
    order_id: Uuid,
    created_at: DateTime<Utc>,
    order: &NewOrder,
    trace: &TraceContext,
    payment_version: i32,
) -> Result<OutboxBatch, sqlx::Error> {
    let created = OrderCreated {
        order_id,
        customer_id: order.customer_id.clone(),
        items: order.items.iter().map(NewOrderItem::line).collect(),
        total_amount: order.total_amount,
        currency: order.currency.clone(),
        created_at,
    };
    let payment = PaymentRequested {
        order_id,
        customer_id: order.customer_id.clone(),
        amount: order.total_amount,
        currency: order.currency.clone(),
    };
    let mut rows = outbox.batch();
    rows.push(&created, Some(trace))?;
    if payment_version == V2 {
        let payment = PaymentRequestedV2 {
            request: payment,
            description: Some(payment_description(order)),
        };
        rows.push(&payment, Some(trace))?;
    } else {
        rows.push(&payment, Some(trace))?;
    }
    Ok(rows)
}

/// What a v2 payment request is for: its items, cut to the limit.
fn payment_description(order: &NewOrder) -> String {
    let items: Vec<String> = order
        .items
        .iter()
        .map(|item| format!("{} x{}", item.name, item.quantity))
        .collect();
    let text = items.join(", ");
    if text.chars().count() <= limits::MAX_NAME_CHARS {
        return text;
    }
    let cut: String = text.chars().take(limits::MAX_NAME_CHARS - 1).collect();
    format!("{cut}…")
}

fn accepted(view: OrderView, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Accepted();
    response.insert_header((header::LOCATION, format!("/api/orders/{}", view.order_id)));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(view)
}

async fn get_order(
    path: web::Path<String>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid("id", &path)?;
    let view = found(store::find(&pool, id).await?, "order")?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    customer_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// Newest first; `after` is the last `orderId` of the previous page.
async fn list_orders(
    query: web::Query<ListQuery>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    if let Some(status) = &query.status {
        if !store::STATUSES.contains(&status.as_str()) {
            return Err(ApiError::bad_field(
                "status",
                format!("must be one of {}", store::STATUSES.join(", ")),
            ));
        }
    }
    let after = optional(query.after.as_deref(), |a| parse_uuid("after", a))?;
    let customer_id = optional(query.customer_id.as_deref(), |c| {
        customer_id_param("customerId", c)
    })?;
    let filter = store::OrderFilter {
        customer_id: customer_id.as_deref(),
        status: query.status.as_deref(),
        after,
    };
    let orders = store::list(&pool, &filter, limit).await?;
    let next_after = (orders.len() as i64 == limit)
        .then(|| orders.last().map(|o| o.order_id))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "orders": orders, "nextAfter": next_after })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn order(names: &[&str]) -> NewOrder {
        let items = names
            .iter()
            .map(|name| NewOrderItem {
                product_id: "p-1".into(),
                name: (*name).into(),
                unit_price: Decimal::ONE,
                quantity: 2,
                subtotal: Decimal::TWO,
            })
            .collect();
        NewOrder {
            customer_id: "c-1".into(),
            currency: "USD".into(),
            items,
            total_amount: Decimal::ONE,
        }
    }

    #[test]
    fn a_payment_description_lists_the_items_within_the_limit() {
        assert_eq!(
            payment_description(&order(&["Kettle", "Mug"])),
            "Kettle x2, Mug x2"
        );
        let long = "n".repeat(limits::MAX_NAME_CHARS);
        let cut = payment_description(&order(&[&long, "Mug"]));
        assert_eq!(cut.chars().count(), limits::MAX_NAME_CHARS);
        assert!(cut.ends_with('…'), "{cut}");
    }
}
