//! `GET /health/live` and `GET /health/ready`.
//!
//! Liveness only says the process serves HTTP. Readiness checks, on every call
//! and concurrently, that the database answers `SELECT 1` (after migrations)
//! and that a Kafka broker answers a metadata request, each within
//! `READINESS_TIMEOUT_MS`; the 503 body names what is down and why.
//!
//! The body also lists each consumer group with how long it has been
//! stalled, and names in `stalled` those past `CONSUMER_STALL_THRESHOLD_SECS`.
//! A stalled consumer does not turn readiness 503: the HTTP API still
//! serves, taking the pod out of its Service would not unstick the record,
//! and the `ConsumerStalled` alert is what calls a person.

use crate::kafka::{Refusals, SagaProducer};
use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What readiness looks at. Shared by the HTTP handlers and start-up/shutdown.
pub struct Readiness {
    service: &'static str,
    pool: PgPool,
    producer: SagaProducer,
    refusals: Refusals,
    timeout: Duration,
    metrics: Arc<Metrics>,
    stall_threshold: Duration,
    migrations: Mutex<MigrationState>,
    shutting_down: AtomicBool,
}

enum MigrationState {
    Pending,
    Done,
    Failed(String),
}

#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    pub service: &'static str,
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Names of the failing checks, e.g. `["database"]`.
    pub down: Vec<&'static str>,
    pub checks: BTreeMap<&'static str, Check>,
    /// Each consumer group of the service and how long it has been stalled.
    pub consumers: BTreeMap<String, ConsumerStatus>,
    /// Groups stalled longer than the threshold (readiness stays 200).
    pub stalled: Vec<String>,
    /// What the broker's ACLs deny the service's clients right now
    /// (`outbox_relay`, `consumer`), and the error. Readiness stays 200:
    /// the API still takes work, which waits until the ACLs allow it.
    #[serde(rename = "kafkaDenied")]
    pub kafka_denied: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerStatus {
    pub stalled_seconds: f64,
    pub stalled: bool,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Check {
    fn from_result(result: Result<(), String>) -> Self {
        match result {
            Ok(()) => Check {
                up: true,
                error: None,
            },
            Err(error) => Check {
                up: false,
                error: Some(error),
            },
        }
    }
}

impl Readiness {
    pub fn new(
        service: &'static str,
        pool: PgPool,
        producer: SagaProducer,
        refusals: Refusals,
        timeout: Duration,
        metrics: Arc<Metrics>,
        stall_threshold: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            service,
            pool,
            producer,
            refusals,
            timeout,
            metrics,
            stall_threshold,
            migrations: Mutex::new(MigrationState::Pending),
            shutting_down: AtomicBool::new(false),
        })
    }

    pub fn migrations_done(&self) {
        *self.migrations.lock().unwrap() = MigrationState::Done;
    }

    /// Whether the schema is in place, so the service's own routes can run.
    pub fn schema_ready(&self) -> bool {
        matches!(*self.migrations.lock().unwrap(), MigrationState::Done)
    }

    pub fn migrations_failed(&self, error: String) {
        *self.migrations.lock().unwrap() = MigrationState::Failed(error);
    }

    /// From now on readiness answers 503, so load balancers stop sending work.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    async fn check_database(&self) -> Result<(), String> {
        match &*self.migrations.lock().unwrap() {
            MigrationState::Pending => return Err("migrations not applied yet".into()),
            MigrationState::Failed(e) => return Err(format!("migrations failed: {e}")),
            MigrationState::Done => {}
        }
        match tokio::time::timeout(self.timeout, sqlx::query("SELECT 1").execute(&self.pool)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    pub async fn report(&self) -> ReadinessReport {
        let (database, kafka) = tokio::join!(
            self.check_database(),
            crate::kafka::probe_cluster(&self.producer, &self.refusals, self.timeout)
        );
        let mut checks = BTreeMap::from([
            ("database", Check::from_result(database)),
            ("kafka", Check::from_result(kafka)),
        ]);
        if self.shutting_down.load(Ordering::SeqCst) {
            checks.insert(
                "shutdown",
                Check::from_result(Err("the service is shutting down".into())),
            );
        }
        let down: Vec<&'static str> = checks
            .iter()
            .filter(|(_, c)| !c.up)
            .map(|(name, _)| *name)
            .collect();
        let consumers: BTreeMap<String, ConsumerStatus> = self
            .metrics
            .stalls()
            .into_iter()
            .map(|(group, stalled)| {
                let status = ConsumerStatus {
                    stalled_seconds: (stalled.as_secs_f64() * 10.0).round() / 10.0,
                    stalled: stalled > self.stall_threshold,
                };
                (group, status)
            })
            .collect();
        let stalled = consumers
            .iter()
            .filter(|(_, c)| c.stalled)
            .map(|(group, _)| group.clone())
            .collect();
        ReadinessReport {
            service: self.service,
            consumers,
            stalled,
            kafka_denied: self.metrics.denials().into_iter().collect(),
            status: if down.is_empty() {
                "ready"
            } else {
                "unavailable"
            },
            down,
            checks,
        }
    }
}

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let report = readiness.report().await;
    if report.down.is_empty() {
        HttpResponse::Ok().json(report)
    } else {
        tracing::warn!(down = ?report.down, checks = ?report.checks, "not ready");
        HttpResponse::ServiceUnavailable().json(report)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}
