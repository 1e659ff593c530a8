//! order-service: takes orders over HTTP and closes each order's saga when its
//! payment is decided.

pub mod config;
pub mod domain;
pub mod handler;
pub mod routes;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use actix_web::web;
use common::app::ServiceDefinition;
use common::config::ServiceDefaults;
use common::metrics::Metrics;
use sqlx::migrate::Migrator;
use std::sync::Arc;

pub const SERVICE: ServiceDefaults = common::local::ORDER_SERVICE;

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Consumer group that closes sagas.
pub const GROUP: &str = SERVICE.name;

pub fn definition(config: config::OrderConfig) -> ServiceDefinition {
    let metrics = Metrics::new(SERVICE.name);
    let handler = handler::PaymentOutcomeHandler::new(&metrics);
    metrics.gauge_from_sql(
        "saga_pending_orders",
        "Orders still PENDING.",
        "SELECT count(*)::float8 FROM orders WHERE status = 'PENDING'",
    );
    metrics.gauge_from_sql(
        "saga_oldest_pending_age_seconds",
        "Age of the oldest PENDING order (0 when none): a saga stuck in the middle.",
        "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0)
           FROM orders WHERE status = 'PENDING'",
    );
    let mut definition =
        ServiceDefinition::with_consumer(SERVICE, &MIGRATOR, routes::configure, handler, metrics);
    let config = web::Data::new(config);
    definition.routes = Arc::new(move |cfg| {
        cfg.app_data(config.clone());
        routes::configure(cfg);
    });
    definition
}
