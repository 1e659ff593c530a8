//! billing-service: decides each order's payment against the customer's credit account.

use actix_web::web;
use common::config::ServiceDefaults;
use sqlx::migrate::Migrator;

pub const SERVICE: ServiceDefaults = ServiceDefaults {
    name: "billing-service",
    http_port: 8081,
    database: "billing",
};

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The service's own HTTP routes, beside the shared `/health/*`.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
