//! The whole-saga tests, one binary (one link): the three services together
//! on the real local Postgres and Kafka (`make test` starts them), and
//! sagactl on them. The harness is this crate's library.

mod hostile;
mod rules;
mod saga;
mod sagactl;
mod secured;
