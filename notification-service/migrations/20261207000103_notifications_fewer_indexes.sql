-- notifications_one_per_kind (order_id, kind = 'ORDER_RECEIVED') leads with
-- order_id, so it serves every lookup by order (the listing's orderId filter,
-- sagactl trail) as well as notifications_order_id did.
DROP INDEX notifications_order_id;

-- One notification per event needs no unique event id: a repeat of an event
-- (the same record redelivered, or another event for the same order and
-- kind) has the same order and kind and is refused by
-- notifications_one_per_kind. Nothing looks a notification up by its source
-- event; the column stays, as the API shows it.
ALTER TABLE notifications DROP CONSTRAINT notifications_source_event_id_key;
