//! Decides each order's payment from `payment-requests`. Exactly one decision
//! per order, whatever is redelivered: the account row lock serialises a
//! customer's decisions and the payment's primary key admits one per order.

use crate::config::BillingConfig;
use crate::domain::{decide, gateway_latency, Decision};
use crate::store::{self, NewPayment};
use async_trait::async_trait;
use chrono::Utc;
use common::accepts::PaymentRequest;
use common::consumer::{EventHandler, HandleError, Handled};
use common::envelope::IncomingEvent;
use common::events::{PaymentFailed, PaymentSucceeded};
use common::metrics::Metrics;
use common::outbox::OutboxBatch;
use prometheus::IntCounterVec;
use sqlx::PgConnection;

pub struct PaymentRequestHandler {
    pub config: BillingConfig,
    /// `payment_decisions_total{outcome}`: `succeeded` or `failed`.
    pub decisions: IntCounterVec,
}

impl PaymentRequestHandler {
    pub fn new(config: BillingConfig, metrics: &Metrics) -> Self {
        let decisions = metrics.counter_vec(
            "payment_decisions_total",
            "Payment decisions, by outcome.",
            &["outcome"],
        );
        Self { config, decisions }
    }
}

#[async_trait]
impl EventHandler for PaymentRequestHandler {
    /// Decoding checks the body against our limits (amount > 0, cents only).
    type Events = PaymentRequest;

    /// The payment's primary key admits one decision per order, and a repeat
    /// finds it (`already_decided` under the account lock, or the insert's
    /// conflict) and pushes no outbox event: no inbox row is needed.
    const IDEMPOTENT_BY_KEY: bool = true;

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
        body: PaymentRequest,
        outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError> {
        // v1 is v2 without a description, which informs no decision.
        let (request, description) = match body {
            PaymentRequest::Requested(v1) => (v1, None),
            PaymentRequest::RequestedV2(v2) => (v2.request, v2.description),
        };
        let account = store::lock_account(
            conn,
            &request.customer_id,
            request.order_id,
            self.config.default_credit_limit,
        )
        .await?;
        if account.already_decided {
            tracing::info!(order_id = %request.order_id, "payment already decided; request ignored");
            return Ok(Handled::AlreadyApplied);
        }
        let latency = gateway_latency(request.order_id, &self.config.gateway);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let decision = decide(
            request.order_id,
            request.amount,
            account.available_credit,
            &self.config.gateway,
        );
        let (status, reason) = match &decision {
            Decision::Approved => (store::SUCCEEDED, None),
            Decision::Declined(reason) => (store::FAILED, Some(reason.as_str())),
        };
        let Some(payment) = store::record_payment(
            conn,
            NewPayment {
                order_id: request.order_id,
                customer_id: &request.customer_id,
                amount: request.amount,
                currency: &request.currency,
                status,
                decline_reason: reason,
                credit_limit_at_decision: account.credit_limit,
                spent_before: account.spent,
            },
        )
        .await?
        else {
            // Decided meanwhile by a concurrent copy of the request.
            tracing::info!(order_id = %request.order_id, "payment already decided; request ignored");
            return Ok(Handled::AlreadyApplied);
        };

        let decided_at = payment.decided_at.with_timezone(&Utc);
        let cause = Some(&event.trace);
        match decision {
            Decision::Approved => outbox.push(
                &PaymentSucceeded {
                    order_id: request.order_id,
                    customer_id: request.customer_id.clone(),
                    amount: request.amount,
                    currency: request.currency.clone(),
                    decided_at,
                },
                cause,
            ),
            Decision::Declined(reason) => outbox.push(
                &PaymentFailed {
                    order_id: request.order_id,
                    customer_id: request.customer_id.clone(),
                    amount: request.amount,
                    currency: request.currency.clone(),
                    reason,
                    decided_at,
                },
                cause,
            ),
        }?;
        let outcome = if status == store::SUCCEEDED {
            "succeeded"
        } else {
            "failed"
        };
        self.decisions.with_label_values(&[outcome]).inc();
        tracing::info!(
            order_id = %request.order_id,
            status,
            version = event.event_version,
            description = description.as_deref(),
            "payment decided"
        );
        Ok(Handled::Applied)
    }
}
