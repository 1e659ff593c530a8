-- What the consumer tests' handler did: one row per event it was given, with
-- no key of its own, so only the inbox keeps a repeat from adding a row.
CREATE TABLE probe_effects (order_id UUID NOT NULL, event_id UUID NOT NULL);
