-- No query looks an outbox row up by event_id (the relay reads by id, the
-- audit and the gauges by published_at), and every event id is a UUID v7 the
-- producing service generates: the unique index only cost an index entry per
-- published event.
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key;
