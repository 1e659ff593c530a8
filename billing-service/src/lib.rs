//! billing-service: decides each order's payment against the customer's
//! credit account.

pub mod config;
pub mod domain;
pub mod handler;
pub mod routes;
pub mod store;

use common::app::ServiceDefinition;
use common::config::ServiceDefaults;
use common::metrics::Metrics;
use sqlx::migrate::Migrator;

pub const SERVICE: ServiceDefaults = common::local::BILLING_SERVICE;

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Consumer group that decides payments.
pub const GROUP: &str = SERVICE.name;

pub fn definition(config: config::BillingConfig) -> ServiceDefinition {
    let metrics = Metrics::new(SERVICE.name);
    let handler = handler::PaymentRequestHandler::new(config, &metrics);
    ServiceDefinition::with_consumer(SERVICE, &MIGRATOR, routes::configure, handler, metrics)
}
