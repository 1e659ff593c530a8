//! order-service's integration tests, one binary (one link), against the real
//! local Postgres and Kafka (`make test` starts them). The whole-saga tests,
//! which need the three services, are in `e2e`.

mod api;
mod consumer;
mod health;
mod http_edges;
mod overload;
mod properties;
mod refusal_log;
mod shutdown;
mod support;
mod upgrade;
