//! notification-service's integration tests, one binary (one link), against
//! the real local Postgres and Kafka (`make test` starts them).

mod api;
mod consumer;
mod health;
mod otlp;
