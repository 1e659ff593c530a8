-- One notification per source event (unique event id), and per order at most
-- one "order received" and one payment result, whatever is redelivered.
CREATE TABLE notifications (
    id              UUID PRIMARY KEY,
    source_event_id UUID        NOT NULL UNIQUE,
    order_id        UUID        NOT NULL,
    customer_id     TEXT        NOT NULL,
    kind            TEXT        NOT NULL
                    CHECK (kind IN ('ORDER_RECEIVED', 'PAYMENT_SUCCEEDED', 'PAYMENT_FAILED')),
    channel         TEXT        NOT NULL CHECK (channel IN ('email', 'sms')),
    message         TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX notifications_order_id ON notifications (order_id);
CREATE UNIQUE INDEX notifications_one_per_kind ON notifications (order_id, (kind = 'ORDER_RECEIVED'));
