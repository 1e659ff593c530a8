//! One notification per order event: "order received" (email) from
//! `order-created`, and the payment result from `notification-events` (email
//! on success, sms on failure). Redeliveries add nothing: each order's
//! "received" and "payment result" are unique (`notifications_one_per_kind`),
//! and a repeated event has the same order and kind.

use crate::domain::{notification_for, Notification};
use crate::store;
use async_trait::async_trait;
use common::accepts::Notifiable;
use common::consumer::{Decoded, EventHandler, HandleError, Handled};
use common::envelope::IncomingEvent;
use common::metrics::Metrics;
use common::outbox::OutboxBatch;
use prometheus::IntCounterVec;
use sqlx::PgConnection;
use uuid::Uuid;

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
        outbox: &mut OutboxBatch,
    ) -> Result<Handled, HandleError> {
        common::consumer::handle_as_batch(self, conn, event, body, outbox).await
    }

    /// The batch's notifications in one statement.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: Vec<Decoded<'_, Notifiable>>,
        _outbox: &mut OutboxBatch,
    ) -> Result<Vec<Handled>, HandleError> {
        let spans: Vec<&tracing::Span> = events.iter().map(|d| d.span).collect();
        let notifications: Vec<(Uuid, Uuid, Notification)> = events
            .into_iter()
            .map(|d| (Uuid::now_v7(), d.event.event_id, notification_for(d.body)))
            .collect();
        let stored = store::insert_all(conn, &notifications).await?;
        Ok(notifications
            .iter()
            .zip(spans)
            .map(|((id, _, n), span)| {
                let _entered = span.enter();
                if stored.contains(id) {
                    self.sent.with_label_values(&[n.channel]).inc();
                    tracing::info!(order_id = %n.order_id, kind = n.kind, channel = n.channel, "notification sent");
                    Handled::Applied
                } else {
                    tracing::info!(order_id = %n.order_id, kind = n.kind, "order already notified; event ignored");
                    Handled::AlreadyApplied
                }
            })
            .collect())
    }
}
