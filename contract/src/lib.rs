//! The saga's contract: what the three services and `sagactl` agree on, as
//! data and rules with no runtime. Event bodies and their limits, the
//! envelope's headers (dead-letter ones included), topic names and consumer
//! groups, trace context, money, and where the Kafka cluster is.

pub mod envelope;
pub mod events;
pub mod kafka;
pub mod limits;
pub mod money;
pub mod topics;
pub mod trace;
