//! sagactl: the operator's view of the saga — invariants (`audit`), dead
//! letters (`dlq`), what travels on each topic (`contracts`), one order's story (`trail`), whether it is quiet
//! (`quiet`) — and the facts and report of `make bench` (`bench`). Reads the
//! three databases read-only; only `dlq replay` writes (to Kafka), and
//! `bench` its scratch database and files.

pub mod audit;
pub mod bench;
pub mod cli;
pub mod contracts;
pub mod dlq;
pub mod metrics;
pub mod quiet;
pub mod trail;

use contract::kafka::KafkaConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::fmt::Display;
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
        let sources = Self::lazy(orders, billing, notifications, kafka)?;
        for pool in [&sources.orders, &sources.billing, &sources.notifications] {
            pool.acquire().await?;
        }
        Ok(sources)
    }

    /// Like [`Sources::connect`], connecting only when a database is first
    /// used (`dlq` reads them only for a record whose copy was cut).
    pub fn lazy(
        orders: &str,
        billing: &str,
        notifications: &str,
        kafka: KafkaConfig,
    ) -> anyhow::Result<Self> {
        fn read_only(url: &str) -> anyhow::Result<PgPool> {
            let options =
                PgConnectOptions::from_str(url)?.options([("default_transaction_read_only", "on")]);
            Ok(PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect_lazy_with(options))
        }
        Ok(Self {
            orders: read_only(orders)?,
            billing: read_only(billing)?,
            notifications: read_only(notifications)?,
            kafka,
        })
    }

    /// Each database by the name docs/operations.md gives it.
    pub fn databases(&self) -> [(&'static str, &PgPool); 3] {
        [
            ("orders", &self.orders),
            ("billing", &self.billing),
            ("notifications", &self.notifications),
        ]
    }
}

/// `NAME=VALUE` on the command line: a service's metrics URL, a process id.
#[derive(Debug, Clone)]
pub struct Named<T> {
    pub name: String,
    pub value: T,
}

impl<T: FromStr> FromStr for Named<T>
where
    T::Err: Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
        Ok(Self {
            name: name.to_owned(),
            value: value.parse().map_err(|e| format!("{s:?}: {e}"))?,
        })
    }
}
