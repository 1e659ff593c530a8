//! The orders database: orders (their items in their row) and idempotency keys.

use crate::domain::{NewOrder, NewOrderItem};
use chrono::{DateTime, Utc};
use common::events::OrderLine;
use common::outbox::OutboxBatch;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub const PENDING: &str = "PENDING";
pub const PAID: &str = "PAID";
pub const PAYMENT_FAILED: &str = "PAYMENT_FAILED";
pub const STATUSES: [&str; 3] = [PENDING, PAID, PAYMENT_FAILED];

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    #[sqlx(rename = "id")]
    pub order_id: Uuid,
    pub customer_id: String,
    pub status: String,
    pub total_amount: Decimal,
    pub currency: String,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<OrderLine>>,
}

const ORDER_COLUMNS: &str =
    "id, customer_id, status, total_amount, currency::text AS currency, failure_reason, created_at, updated_at";

/// Stores the order (its items in its row) and its outbox rows in ONE
/// statement: atomic on its own (no explicit transaction needed) and one
/// round trip.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    created_at: DateTime<Utc>,
    order: &NewOrder,
    events: OutboxBatch,
) -> Result<OrderView, sqlx::Error> {
    let lines: Vec<OrderLine> = order.items.iter().map(NewOrderItem::line).collect();
    let items = serde_json::to_string(&lines).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let sql = format!(
        "WITH new_order AS (
             INSERT INTO orders (id, customer_id, total_amount, currency, created_at, updated_at, items)
             VALUES ($1, $2, $3, $4, $5, $5, $6::jsonb)
             RETURNING {ORDER_COLUMNS}
         ), new_events AS (
             {}
         )
         SELECT * FROM new_order",
        OutboxBatch::insert_sql(7)
    );
    let query = sqlx::query_as(&sql)
        .bind(id)
        .bind(&order.customer_id)
        .bind(order.total_amount)
        .bind(&order.currency)
        .bind(created_at)
        .bind(items);
    let mut view: OrderView = events.bind(query).fetch_one(&mut *conn).await?;
    view.items = Some(lines);
    Ok(view)
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<OrderView>, sqlx::Error> {
    let Some(ViewWithItems {
        mut view,
        items_json,
    }) = sqlx::query_as::<_, ViewWithItems>(&format!(
        "SELECT {ORDER_COLUMNS}, items::text AS items_json FROM orders WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let lines = serde_json::from_str(&items_json).map_err(|e| sqlx::Error::Decode(e.into()))?;
    view.items = Some(lines);
    Ok(Some(view))
}

/// An order with its items as stored (JSON text, decoded by the caller).
#[derive(sqlx::FromRow)]
struct ViewWithItems {
    #[sqlx(flatten)]
    view: OrderView,
    items_json: String,
}

/// The filters of `GET /api/orders`.
#[derive(Debug, Default)]
pub struct OrderFilter<'a> {
    pub customer_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Keyset: only orders older than this one (ids are UUID v7).
    pub after: Option<Uuid>,
}

/// The listing's SQL names only the filters given, so each combination is a
/// prepared statement of its own whose plan, custom or generic, can use the
/// filter's index (`orders_customer_id_id` for a customer). The catch-all
/// `($1 IS NULL OR customer_id = $1)` cannot use it in a generic plan, which
/// Postgres may switch to after five executions.
pub fn list_query<'a>(filter: &OrderFilter<'a>, limit: i64) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE true"));
    if let Some(customer_id) = filter.customer_id {
        query.push(" AND customer_id = ").push_bind(customer_id);
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status);
    }
    if let Some(after) = filter.after {
        query.push(" AND id < ").push_bind(after);
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    query
}

/// Keyset pagination, newest first (ids are UUID v7, ordered by creation).
pub async fn list(
    pool: &PgPool,
    filter: &OrderFilter<'_>,
    limit: i64,
) -> Result<Vec<OrderView>, sqlx::Error> {
    list_query(filter, limit)
        .build_query_as()
        .fetch_all(pool)
        .await
}

pub struct ExistingKey {
    pub request_body: String,
    pub order_id: Uuid,
}

/// Claims `key` for `order_id`; if it was taken, returns who has it.
pub async fn claim_idempotency_key(
    conn: &mut PgConnection,
    key: &str,
    request_body: &str,
    order_id: Uuid,
) -> Result<Option<ExistingKey>, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (key, request_body, order_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .bind(request_body)
    .bind(order_id)
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(None);
    }
    let (request_body, order_id) =
        sqlx::query_as("SELECT request_body, order_id FROM idempotency_keys WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Some(ExistingKey {
        request_body,
        order_id,
    }))
}

/// A final status for one order.
pub struct Finish<'a> {
    pub id: Uuid,
    pub status: &'a str,
    pub failure_reason: Option<&'a str>,
}

/// Moves the PENDING orders of `finishes` to their final status in one
/// statement and tells each entry's outcome, in order. An order already final
/// (a late or repeated event) never moves, and an unknown order is told
/// apart. An order named twice is moved by its first entry only: the later
/// ones find it final.
///
/// The update is never HOT: `orders_pending_created_at`'s predicate names
/// `status`. Without that index it would be (measured: 40 of 40 updates), but
/// `saga_pending_orders`, `saga_oldest_pending_age_seconds` (every scrape) and
/// `sagactl wait-quiet` would scan every order ever placed, and no index that
/// finds PENDING orders can leave `status` out.
pub async fn finish_all(
    conn: &mut PgConnection,
    finishes: &[Finish<'_>],
) -> Result<Vec<FinishOutcome>, sqlx::Error> {
    // Each order once in the join: with two rows for one order, which one
    // an UPDATE ... FROM applies is not defined.
    let mut firsts: HashMap<Uuid, usize> = HashMap::new();
    for (i, finish) in finishes.iter().enumerate() {
        firsts.entry(finish.id).or_insert(i);
    }
    let first: Vec<&Finish> = finishes
        .iter()
        .enumerate()
        .filter(|(i, finish)| firsts[&finish.id] == *i)
        .map(|(_, finish)| finish)
        .collect();
    let ids: Vec<Uuid> = first.iter().map(|f| f.id).collect();
    let statuses: Vec<&str> = first.iter().map(|f| f.status).collect();
    let reasons: Vec<Option<&str>> = first.iter().map(|f| f.failure_reason).collect();
    let updated: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE orders o SET status = v.status, failure_reason = v.reason, updated_at = now()
           FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS v(id, status, reason)
          WHERE o.id = v.id AND o.status = 'PENDING'
      RETURNING o.id, o.created_at, o.updated_at",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&reasons)
    .fetch_all(&mut *conn)
    .await?;
    let finished: HashMap<Uuid, std::time::Duration> = updated
        .into_iter()
        .map(|(id, created_at, finished_at)| {
            let duration = (finished_at - created_at).to_std().unwrap_or_default();
            (id, duration)
        })
        .collect();
    let unmoved: Vec<Uuid> = ids
        .into_iter()
        .filter(|id| !finished.contains_key(id))
        .collect();
    let existing: HashSet<Uuid> = if unmoved.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM orders WHERE id = ANY($1)")
            .bind(&unmoved)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
    };
    Ok(finishes
        .iter()
        .enumerate()
        .map(|(i, finish)| match finished.get(&finish.id) {
            Some(&duration) if firsts[&finish.id] == i => FinishOutcome::Finished { duration },
            Some(_) => FinishOutcome::AlreadyFinal,
            None if existing.contains(&finish.id) => FinishOutcome::AlreadyFinal,
            None => FinishOutcome::UnknownOrder,
        })
        .collect())
}

pub enum FinishOutcome {
    /// `duration`: from the order's `created_at` (the service's clock at
    /// acceptance) to now (the database's clock).
    Finished {
        duration: std::time::Duration,
    },
    AlreadyFinal,
    UnknownOrder,
}
