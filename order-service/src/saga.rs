//! Closes each order's saga from the payment decision on `notification-events`:
//! PENDING -> PAID, or PENDING -> PAYMENT_FAILED (the compensating step: the
//! order is cancelled, its reason kept). A late or repeated event never moves
//! a final order.

use crate::store::{self, FinishOutcome};
use async_trait::async_trait;
use common::consumer::{EventHandler, HandleError};
use common::envelope::IncomingEvent;
use common::events::{self, PaymentFailed, PaymentSucceeded};
use common::outbox::Outbox;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct PaymentOutcomeHandler;

#[async_trait]
impl EventHandler for PaymentOutcomeHandler {
    fn accepts(&self, event_type: &str, event_version: i32) -> bool {
        event_version == events::V1
            && [events::PAYMENT_SUCCEEDED, events::PAYMENT_FAILED].contains(&event_type)
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
        _outbox: &Outbox,
    ) -> Result<(), HandleError> {
        let (order_id, status, reason): (Uuid, &str, Option<String>) =
            match event.event_type.as_str() {
                events::PAYMENT_SUCCEEDED => {
                    let body: PaymentSucceeded = event.payload_as()?;
                    (body.order_id, store::PAID, None)
                }
                _ => {
                    let body: PaymentFailed = event.payload_as()?;
                    (body.order_id, store::PAYMENT_FAILED, Some(body.reason))
                }
            };
        match store::finish(conn, order_id, status, reason.as_deref()).await? {
            FinishOutcome::Finished => {
                tracing::info!(%order_id, status, "saga finished");
                Ok(())
            }
            FinishOutcome::AlreadyFinal => {
                tracing::info!(%order_id, status, "order already final; event ignored");
                Ok(())
            }
            FinishOutcome::UnknownOrder => {
                Err(HandleError::Permanent(format!("unknown order {order_id}")))
            }
        }
    }
}
