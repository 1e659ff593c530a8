-- GET /api/orders?customerId=: a customer's orders newest first, keyset on id
-- (`customer_id = $1 AND id < $after ORDER BY id DESC`) from one index range.
CREATE INDEX orders_customer_id_id ON orders (customer_id, id);
