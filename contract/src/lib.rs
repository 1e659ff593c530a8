//! The saga's contract: what the three services and `sagactl` agree on, as
//! data and rules with no runtime. Event bodies, their limits, their committed
//! JSON Schemas and what each consumer group accepts, the envelope's headers
//! (dead-letter ones included), topic names and consumer groups, who may do what on a
//! secured broker, trace context, money, where the Kafka cluster is, and where the local
//! stack listens.

pub mod accepts;
pub mod acls;
#[cfg(test)]
mod compat;
#[cfg(test)]
mod contract_files;
pub mod envelope;
pub mod event_set;
pub mod events;
#[cfg(test)]
mod k8s_resources;
pub mod kafka;
pub mod limits;
pub mod local;
pub mod money;
pub mod schemas;
pub mod secret;
pub mod topics;
pub mod trace;
