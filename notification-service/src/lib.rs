//! notification-service: records a customer notification for every order
//! and payment event.

pub mod domain;
pub mod handler;
pub mod routes;
pub mod store;

use common::app::ServiceDefinition;
use common::config::ServiceDefaults;
use common::metrics::Metrics;
use sqlx::migrate::Migrator;

pub const SERVICE: ServiceDefaults = common::local::NOTIFICATION_SERVICE;

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Consumer group that notifies customers.
pub const GROUP: &str = SERVICE.name;

pub fn definition() -> ServiceDefinition {
    let metrics = Metrics::new(SERVICE.name);
    let handler = handler::NotificationHandler::new(&metrics);
    ServiceDefinition::with_consumer(SERVICE, &MIGRATOR, routes::configure, handler, metrics)
}
