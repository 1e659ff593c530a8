//! common's integration tests, one binary (one link), against the real local
//! Postgres and Kafka (`make test` starts them).

mod app;
mod consumer;
mod kafka;
