-- GET /api/notifications?customerId=: a customer's notifications newest first
-- (`customer_id = $1 ORDER BY id DESC`) from one index range.
CREATE INDEX notifications_customer_id_id ON notifications (customer_id, id);
