//! What all three services share: configuration, logging, the Postgres pool
//! and migrations, Kafka clients, health endpoints, and the application
//! skeleton that wires them together.

pub mod app;
pub mod config;
pub mod db;
pub mod health;
pub mod kafka;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topics;
