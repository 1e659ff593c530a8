//! Closes each order's saga from the payment decision on `notification-events`:
//! PENDING -> PAID, or PENDING -> PAYMENT_FAILED (the compensating step: the
//! order is cancelled, its reason kept). A late or repeated event never moves
//! a final order.

use crate::store::{self, FinishOutcome};
use async_trait::async_trait;
use common::accepts::PaymentOutcome;
use common::consumer::{EventHandler, HandleError, Handled};
use common::envelope::IncomingEvent;
use common::metrics::Metrics;
use common::outbox::OutboxBatch;
use prometheus::{Histogram, IntCounterVec};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct PaymentOutcomeHandler {
    /// `saga_finished_total{outcome}`: `paid` or `payment_failed`.
    pub finished: IntCounterVec,
    /// `saga_duration_seconds`: order created → final status.
    pub duration: Histogram,
}

impl PaymentOutcomeHandler {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            finished: metrics.counter_vec(
                "saga_finished_total",
                "Sagas finished, by outcome.",
                &["outcome"],
            ),
            duration: metrics.latency_histogram(
                "saga_duration_seconds",
                "From order creation to its final status.",
            ),
        }
    }
}

#[async_trait]
impl EventHandler for PaymentOutcomeHandler {
    type Events = PaymentOutcome;

    /// Only a PENDING order moves, once (the guarded update): a repeat finds
    /// it final and changes nothing, so no inbox row is needed.
    const IDEMPOTENT_BY_KEY: bool = true;

    async fn handle(
        &self,
        conn: &mut PgConnection,
        _event: &IncomingEvent,
        body: PaymentOutcome,
        _outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError> {
        let (order_id, status, reason): (Uuid, &str, Option<String>) = match body {
            PaymentOutcome::Succeeded(e) => (e.order_id, store::PAID, None),
            PaymentOutcome::Failed(e) => (e.order_id, store::PAYMENT_FAILED, Some(e.reason)),
        };
        match store::finish(conn, order_id, status, reason.as_deref()).await? {
            FinishOutcome::Finished { duration } => {
                let outcome = if status == store::PAID {
                    "paid"
                } else {
                    "payment_failed"
                };
                self.finished.with_label_values(&[outcome]).inc();
                self.duration.observe(duration.as_secs_f64());
                tracing::info!(%order_id, status, duration_ms = duration.as_millis() as u64, "saga finished");
                Ok(Handled::Applied)
            }
            FinishOutcome::AlreadyFinal => {
                tracing::info!(%order_id, status, "order already final; event ignored");
                Ok(Handled::AlreadyApplied)
            }
            FinishOutcome::UnknownOrder => {
                Err(HandleError::Permanent(format!("unknown order {order_id}")))
            }
        }
    }
}
