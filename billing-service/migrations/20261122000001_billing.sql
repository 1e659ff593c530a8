-- One credit account per customer; available_credit never goes below zero.
CREATE TABLE accounts (
    customer_id      TEXT PRIMARY KEY,
    credit_limit     NUMERIC(14, 2) NOT NULL CHECK (credit_limit >= 0),
    available_credit NUMERIC(14, 2) NOT NULL CHECK (available_credit >= 0),
    created_at       TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ    NOT NULL DEFAULT now()
);

-- Exactly one payment decision per order: the primary key enforces it.
CREATE TABLE payments (
    order_id       UUID PRIMARY KEY,
    customer_id    TEXT           NOT NULL REFERENCES accounts (customer_id),
    amount         NUMERIC(14, 2) NOT NULL,
    currency       CHAR(3)        NOT NULL,
    status         TEXT           NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED')),
    decline_reason TEXT,
    decided_at     TIMESTAMPTZ    NOT NULL DEFAULT now()
);
