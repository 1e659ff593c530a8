-- Dead letters whose copy on `<topic>.dlq` had to be cut to fit the broker's
-- record size: the whole original is kept here, in the database of the
-- service that refused it, so `sagactl dlq show` and `replay` still reach it.
-- Header names and values are bytes (Kafka allows any, Postgres text refuses NUL).
CREATE TABLE dead_letters (
    id                 UUID        PRIMARY KEY,
    consumer_group     TEXT        NOT NULL,
    topic              TEXT        NOT NULL,
    kafka_partition    INT         NOT NULL,
    kafka_offset       BIGINT      NOT NULL,
    message_key        BYTEA,
    message_value      BYTEA,
    header_names       BYTEA[]     NOT NULL,
    header_values      BYTEA[]     NOT NULL,
    error              TEXT        NOT NULL,
    failed_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A record redelivered after a crash is stored once.
    UNIQUE (consumer_group, topic, kafka_partition, kafka_offset)
);
