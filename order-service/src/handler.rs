//! Closes each order's saga from the payment decision on `notification-events`:
//! PENDING -> PAID, or PENDING -> PAYMENT_FAILED (the compensating step: the
//! order is cancelled, its reason kept). A late or repeated event never moves
//! a final order.

use crate::store::{self, Finish, FinishOutcome};
use async_trait::async_trait;
use common::accepts::PaymentOutcome;
use common::consumer::{Decoded, EventHandler, HandleError, Handled};
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
        event: &IncomingEvent,
        body: PaymentOutcome,
        outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError> {
        common::consumer::handle_as_batch(self, conn, event, body, outbox).await
    }

    /// The batch's status changes in one statement.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: Vec<Decoded<'_, PaymentOutcome>>,
        _outbox: &mut OutboxBatch,
    ) -> Result<Vec<Handled>, HandleError> {
        let spans: Vec<&tracing::Span> = events.iter().map(|d| d.span).collect();
        let results: Vec<(Uuid, &str, Option<String>)> = events
            .into_iter()
            .map(|d| match d.body {
                PaymentOutcome::Succeeded(e) => (e.order_id, store::PAID, None),
                PaymentOutcome::Failed(e) => (e.order_id, store::PAYMENT_FAILED, Some(e.reason)),
            })
            .collect();
        let finishes: Vec<Finish> = results
            .iter()
            .map(|(id, status, reason)| Finish {
                id: *id,
                status,
                failure_reason: reason.as_deref(),
            })
            .collect();
        let outcomes = store::finish_all(conn, &finishes).await?;
        // Refused before anything is counted: the batch is rolled back.
        if let Some(unknown) = finishes
            .iter()
            .zip(&outcomes)
            .find(|(_, outcome)| matches!(outcome, FinishOutcome::UnknownOrder))
        {
            let order_id = unknown.0.id;
            return Err(HandleError::Permanent(format!("unknown order {order_id}")));
        }
        Ok(finishes
            .iter()
            .zip(outcomes)
            .zip(spans)
            .map(|((finish, outcome), span)| {
                let _entered = span.enter();
                let (order_id, status) = (finish.id, finish.status);
                if let FinishOutcome::Finished { duration } = outcome {
                    let outcome = if status == store::PAID {
                        "paid"
                    } else {
                        "payment_failed"
                    };
                    self.finished.with_label_values(&[outcome]).inc();
                    self.duration.observe(duration.as_secs_f64());
                    tracing::info!(%order_id, status, duration_ms = duration.as_millis() as u64, "saga finished");
                    Handled::Applied
                } else {
                    tracing::info!(%order_id, status, "order already final; event ignored");
                    Handled::AlreadyApplied
                }
            })
            .collect())
    }
}
