//! What all three services share: configuration, logging, the Postgres pool
//! and migrations, Kafka clients, the event envelope, the outbox and its
//! relay, the inbox, idempotent consumers with dead-lettering, health
//! endpoints, and the application skeleton that wires them together.

pub mod admission;
pub mod app;
pub mod config;
pub mod consumer;
pub mod db;
pub mod dead_letter;
pub mod envelope;
pub mod events;
pub mod health;
pub mod http;
pub mod inbox;
pub mod kafka;
pub mod limits;
pub mod metrics;
pub mod money;
pub mod outbox;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod topics;
pub mod trace;
