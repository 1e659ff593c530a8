//! billing-service's integration tests, one binary (one link), against the
//! real local Postgres and Kafka (`make test` starts them).

mod admin;
mod api;
mod health;

/// billing-service with its default configuration.
fn definition() -> common::app::ServiceDefinition {
    billing_service::definition(
        billing_service::config::BillingConfig::from_lookup(|_| None).unwrap(),
    )
}
