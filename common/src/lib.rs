//! What all three services share: configuration, logging, the Postgres pool
//! and migrations, Kafka clients, the outbox and its relay, the inbox,
//! idempotent consumers with dead-lettering, health endpoints, and the
//! application skeleton that wires them together. The contract they speak
//! (events and what each consumer accepts, envelope, topics, limits) is the
//! `contract` crate, re-exported here under the same names.

pub use contract::{accepts, envelope, event_set, events, limits, local, money, topics, trace};

pub mod admin;
pub mod admission;
pub mod app;
pub mod config;
pub mod consumer;
pub mod db;
pub mod dlq;
pub mod health;
pub mod http;
pub mod inbox;
pub mod kafka;
pub mod metrics;
pub mod outbox;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
