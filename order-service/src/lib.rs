//! order-service: takes orders over HTTP and closes each order's saga when its
//! payment is decided.

pub mod domain;
pub mod routes;
pub mod saga;
pub mod store;

use common::app::ServiceDefinition;
use common::config::ServiceDefaults;
use common::consumer::ConsumerDefinition;
use common::metrics::Metrics;
use common::topics;
use sqlx::migrate::Migrator;
use std::sync::Arc;

pub const SERVICE: ServiceDefaults = ServiceDefaults {
    name: "order-service",
    http_port: 8080,
    database: "orders",
};

/// This service's schema, embedded at build time and applied at start.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Consumer group that closes sagas.
pub const GROUP: &str = "order-service";

pub fn definition() -> ServiceDefinition {
    let metrics = Metrics::new(SERVICE.name);
    let handler = saga::PaymentOutcomeHandler::new(&metrics);
    ServiceDefinition {
        defaults: SERVICE,
        migrator: &MIGRATOR,
        routes: Arc::new(routes::configure),
        consumers: vec![ConsumerDefinition {
            group: GROUP.into(),
            topics: vec![topics::NOTIFICATION_EVENTS],
            handler: Arc::new(handler),
        }],
        metrics,
    }
}
