-- Shared by every service's database (merged into each service's migrations
-- by common::db::service_migrator).

-- Transactional outbox: rows are written in the same transaction as the state
-- change they announce; the relay publishes them in id order and marks them.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    event_id      UUID        NOT NULL UNIQUE,
    topic         TEXT        NOT NULL,
    message_key   TEXT        NOT NULL,
    event_type    TEXT        NOT NULL,
    event_version INT         NOT NULL,
    source        TEXT        NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    traceparent   TEXT,
    payload       TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at  TIMESTAMPTZ
);
-- The relay only ever scans what is left to publish.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Idempotent consumer: one row per (consumer group, event) processed, written
-- in the same transaction as the state change.
CREATE TABLE inbox (
    consumer_group TEXT        NOT NULL,
    event_id       UUID        NOT NULL,
    event_type     TEXT        NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
CREATE INDEX inbox_received_at ON inbox (received_at);
