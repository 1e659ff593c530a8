-- One notification per source event: the unique event id enforces it.
CREATE TABLE notifications (
    id              UUID PRIMARY KEY,
    source_event_id UUID        NOT NULL UNIQUE,
    order_id        UUID        NOT NULL,
    customer_id     TEXT        NOT NULL,
    kind            TEXT        NOT NULL,
    channel         TEXT        NOT NULL CHECK (channel IN ('email', 'sms')),
    message         TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX notifications_order_id ON notifications (order_id);
