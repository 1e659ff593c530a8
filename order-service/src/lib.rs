//! order-service: takes orders over HTTP and closes each order's saga when its payment is decided.

use actix_web::web;
use common::config::ServiceDefaults;
use sqlx::migrate::Migrator;

pub const SERVICE: ServiceDefaults = ServiceDefaults {
    name: "order-service",
    http_port: 8080,
    database: "orders",
};

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The service's own HTTP routes, beside the shared `/health/*`.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
