//! sagactl: the operator's view of the saga — invariants (`audit`), dead
//! letters (`dlq`), and one order's story (`trail`). Reads the three
//! databases read-only; only `dlq replay` writes (to Kafka).

pub mod audit;
pub mod dlq;
pub mod trail;

use common::config::KafkaConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;

/// Where the saga's state lives.
pub struct Sources {
    pub orders: PgPool,
    pub billing: PgPool,
    pub notifications: PgPool,
    pub kafka: KafkaConfig,
}

impl Sources {
    /// Connects to the three databases; every session is read-only.
    pub async fn connect(
        orders: &str,
        billing: &str,
        notifications: &str,
        kafka: KafkaConfig,
    ) -> anyhow::Result<Self> {
        async fn read_only(url: &str) -> anyhow::Result<PgPool> {
            let options =
                PgConnectOptions::from_str(url)?.options([("default_transaction_read_only", "on")]);
            Ok(PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?)
        }
        Ok(Self {
            orders: read_only(orders).await?,
            billing: read_only(billing).await?,
            notifications: read_only(notifications).await?,
            kafka,
        })
    }
}
