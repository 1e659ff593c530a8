//! One notification per order event: "order received" (email) from
//! `order-created`, and the payment result from `notification-events` (email
//! on success, sms on failure). Redeliveries add nothing: each order's
//! "received" and "payment result" are unique (`notifications_one_per_kind`),
//! and a repeated event has the same order and kind.

use crate::domain::notification_for;
use crate::store;
use async_trait::async_trait;
use common::accepts::Notifiable;
use common::consumer::{EventHandler, HandleError, Handled};
use common::envelope::IncomingEvent;
use common::metrics::Metrics;
use common::outbox::OutboxBatch;
use prometheus::IntCounterVec;
use sqlx::PgConnection;

pub struct NotificationHandler {
    /// `notifications_total{channel}`
    pub sent: IntCounterVec,
}

impl NotificationHandler {
    pub fn new(metrics: &Metrics) -> Self {
        let sent = metrics.counter_vec(
            "notifications_total",
            "Notifications stored, by channel.",
            &["channel"],
        );
        Self { sent }
    }
}

#[async_trait]
impl EventHandler for NotificationHandler {
    type Events = Notifiable;

    /// Each order has at most one "received" and one payment result
    /// (`notifications_one_per_kind`), and a repeat of either inserts nothing:
    /// no inbox row is needed.
    const IDEMPOTENT_BY_KEY: bool = true;

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
        body: Notifiable,
        _outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError> {
        let n = notification_for(body);
        if store::insert(conn, event.event_id, &n).await? {
            self.sent.with_label_values(&[n.channel]).inc();
            tracing::info!(order_id = %n.order_id, kind = n.kind, channel = n.channel, "notification sent");
            Ok(Handled::Applied)
        } else {
            tracing::info!(order_id = %n.order_id, kind = n.kind, "order already notified; event ignored");
            Ok(Handled::AlreadyApplied)
        }
    }
}
