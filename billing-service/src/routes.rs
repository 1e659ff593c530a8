//! `GET /api/payments/{orderId}`, `GET /api/accounts/{customerId}`,
//! `PUT /api/accounts/{customerId}` with `{"creditLimit": 250.00}` (with the
//! admin token: a change of money that is not a customer's own order).

use crate::store;
use actix_web::{web, HttpResponse};
use common::admin::Admin;
use common::http::{customer_id_param, found, parse_uuid, ApiError, FieldError};
use common::limits;
use common::money::exact_decimal;
use rust_decimal::Decimal;
use sqlx::PgPool;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/payments/{order_id}", web::get().to(get_payment))
        .route("/api/accounts/{customer_id}", web::get().to(get_account))
        .route("/api/accounts/{customer_id}", web::put().to(put_account));
}

async fn get_payment(
    path: web::Path<String>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let order_id = parse_uuid("orderId", &path)?;
    Ok(HttpResponse::Ok().json(found(
        store::find_payment(&pool, order_id).await?,
        "payment",
    )?))
}

async fn get_account(
    path: web::Path<String>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer_id_param("customerId", &path)?;
    Ok(HttpResponse::Ok().json(found(
        store::find_account(&pool, &customer_id).await?,
        "account",
    )?))
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Unprocessable {
        message: format!("{field} {message}"),
        fields: vec![FieldError::new(field, message)],
    }
}

fn credit_limit(body: &serde_json::Value) -> Result<Decimal, ApiError> {
    let Some(value) = body.get("creditLimit").filter(|v| !v.is_null()) else {
        return Err(invalid("creditLimit", "is required"));
    };
    let Some(number) = value.as_number() else {
        return Err(invalid("creditLimit", "must be a number"));
    };
    // The shared money rule: 1.50000 is 1.50, 19.999 is refused.
    match exact_decimal(number)
        .filter(|d| *d >= Decimal::ZERO && *d < Decimal::from(1_000_000_000_000i64))
        .and_then(limits::money)
    {
        Some(limit) => Ok(limit),
        None => Err(invalid(
            "creditLimit",
            "must be an amount from 0 to 999999999999.99 with at most 2 decimal places",
        )),
    }
}

/// `Admin` first: without the admin token nothing else about the request (its
/// id, its body) is looked at or answered.
async fn put_account(
    _admin: Admin,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer_id_param("customerId", &path)?;
    let limit = credit_limit(&body)?;
    Ok(HttpResponse::Ok().json(store::set_credit_limit(&pool, &customer_id, limit).await?))
}
