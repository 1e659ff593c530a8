//! The billing database: accounts and payment decisions.
//!
//! An account keeps what its customer has spent (the sum of its succeeded
//! charges); the available credit is `GREATEST(credit_limit - spent, 0)`, a
//! column Postgres computes on every write, so a limit change never forgets a
//! charge and no statement can set the available credit wrong.

use chrono::{DateTime, Utc};
use common::limits;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub customer_id: String,
    #[serde(serialize_with = "cents")]
    pub credit_limit: Decimal,
    /// The sum of the customer's succeeded charges.
    #[serde(serialize_with = "cents")]
    pub spent: Decimal,
    /// `max(credit_limit - spent, 0)`.
    #[serde(serialize_with = "cents")]
    pub available_credit: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub status: String,
    pub decline_reason: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// Writes an amount with its two decimals (a new account's spend is "0.00", not "0").
fn cents<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    Serialize::serialize(&limits::cents(*amount), serializer)
}

pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";

const ACCOUNT_COLUMNS: &str =
    "customer_id, credit_limit, spent, available_credit, created_at, updated_at";
const PAYMENT_COLUMNS: &str =
    "order_id, customer_id, amount, currency::text AS currency, status, decline_reason, decided_at";

/// What billing knows about a request once the customer's account is locked.
pub struct LockedAccount {
    pub credit_limit: Decimal,
    pub spent: Decimal,
    pub available_credit: Decimal,
    /// The order already has a payment: the request is a repeat.
    pub already_decided: bool,
}

/// Locks the customer's account (so one customer's decisions happen one at a
/// time), opening it with `limit` on first use, and tells whether `order_id`
/// was already decided. One statement for a known customer.
pub async fn lock_account(
    conn: &mut PgConnection,
    customer_id: &str,
    order_id: Uuid,
    limit: Decimal,
) -> Result<LockedAccount, sqlx::Error> {
    const LOCK: &str = "SELECT a.credit_limit, a.spent, a.available_credit,
                EXISTS (SELECT 1 FROM payments WHERE order_id = $2)
           FROM accounts a WHERE a.customer_id = $1 FOR UPDATE OF a";
    let mut locked: Option<(Decimal, Decimal, Decimal, bool)> = sqlx::query_as(LOCK)
        .bind(customer_id)
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?;
    if locked.is_none() {
        sqlx::query(
            "INSERT INTO accounts (customer_id, credit_limit) VALUES ($1, $2)
             ON CONFLICT (customer_id) DO NOTHING",
        )
        .bind(customer_id)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        locked = Some(
            sqlx::query_as(LOCK)
                .bind(customer_id)
                .bind(order_id)
                .fetch_one(&mut *conn)
                .await?,
        );
    }
    let (credit_limit, spent, available_credit, already_decided) = locked.expect("set above");
    Ok(LockedAccount {
        credit_limit,
        spent,
        available_credit,
        already_decided,
    })
}

pub struct NewPayment<'a> {
    pub order_id: Uuid,
    pub customer_id: &'a str,
    pub amount: Decimal,
    pub currency: &'a str,
    pub status: &'a str,
    pub decline_reason: Option<&'a str>,
    /// The limit and the spend the decision was made against (the locked
    /// account's), kept so an audit can check every decision.
    pub credit_limit_at_decision: Decimal,
    pub spent_before: Decimal,
}

/// Records the decision; `None` if the order already had one (its primary key
/// allows exactly one). On success the amount is added to the account's spend
/// in the same statement.
pub async fn record_payment(
    conn: &mut PgConnection,
    p: NewPayment<'_>,
) -> Result<Option<PaymentView>, sqlx::Error> {
    // The payment and, when it succeeded, the charge: one statement.
    let payment: Option<PaymentView> = sqlx::query_as(&format!(
        "WITH payment AS (
             INSERT INTO payments (order_id, customer_id, amount, currency, status, decline_reason,
                                   credit_limit_at_decision, spent_before)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING
             RETURNING {PAYMENT_COLUMNS}
         ), charge AS (
             UPDATE accounts SET spent = spent + $3, updated_at = now()
              WHERE customer_id = $2 AND $5 = '{SUCCEEDED}' AND EXISTS (SELECT 1 FROM payment)
         )
         SELECT * FROM payment"
    ))
    .bind(p.order_id)
    .bind(p.customer_id)
    .bind(p.amount)
    .bind(p.currency)
    .bind(p.status)
    .bind(p.decline_reason)
    .bind(p.credit_limit_at_decision)
    .bind(p.spent_before)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(payment)
}

pub async fn find_payment(
    pool: &PgPool,
    order_id: Uuid,
) -> Result<Option<PaymentView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(pool)
    .await
}

pub async fn find_account(
    pool: &PgPool,
    customer_id: &str,
) -> Result<Option<AccountView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE customer_id = $1"
    ))
    .bind(customer_id)
    .fetch_optional(pool)
    .await
}

/// Sets the limit, opening the account if needed. The spend stays: the
/// available credit is what the new limit leaves of it (zero while the limit
/// is below the spend).
pub async fn set_credit_limit(
    pool: &PgPool,
    customer_id: &str,
    limit: Decimal,
) -> Result<AccountView, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO accounts (customer_id, credit_limit) VALUES ($1, $2)
         ON CONFLICT (customer_id) DO UPDATE SET
             credit_limit = EXCLUDED.credit_limit,
             updated_at = now()
         RETURNING {ACCOUNT_COLUMNS}"
    ))
    .bind(customer_id)
    .bind(limit)
    .fetch_one(pool)
    .await
}
