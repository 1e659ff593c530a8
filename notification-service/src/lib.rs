//! notification-service: records a customer notification for every order and payment event.

use actix_web::web;
use common::config::ServiceDefaults;
use sqlx::migrate::Migrator;

pub const SERVICE: ServiceDefaults = ServiceDefaults {
    name: "notification-service",
    http_port: 8082,
    database: "notifications",
};

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The service's own HTTP routes, beside the shared `/health/*`.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
