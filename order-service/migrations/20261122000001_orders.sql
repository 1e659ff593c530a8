-- Orders and their items. Status moves PENDING -> PAID | PAYMENT_FAILED, never back.
CREATE TABLE orders (
    id             UUID PRIMARY KEY,
    customer_id    TEXT           NOT NULL,
    status         TEXT           NOT NULL DEFAULT 'PENDING'
                   CHECK (status IN ('PENDING', 'PAID', 'PAYMENT_FAILED')),
    total_amount   NUMERIC(14, 2) NOT NULL CHECK (total_amount > 0),
    currency       CHAR(3)        NOT NULL,
    failure_reason TEXT,
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ    NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
    order_id   UUID           NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line       INT            NOT NULL,
    product_id TEXT           NOT NULL,
    name       TEXT           NOT NULL,
    quantity   INT            NOT NULL CHECK (quantity > 0),
    unit_price NUMERIC(14, 2) NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, line)
);

-- Finding sagas stuck in PENDING is a range scan, not a full one.
CREATE INDEX orders_pending_created_at ON orders (created_at) WHERE status = 'PENDING';

-- Idempotency-Key of POST /api/orders: the same key with the same body gives
-- back the same order; the same key with another body is refused.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_body TEXT        NOT NULL,
    order_id     UUID        NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
