#!/usr/bin/env bash
# `make run`: provision, build, start everything in the background, wait until
# the three services are ready, and say where everything is.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT_DIR/scripts/provision.sh"
"$ROOT_DIR/scripts/stack.sh" up all

# One demo order through the whole saga, then its trail.
orders=$(service_url order-service)
say "placing a demo order: POST $orders/api/orders"
response=$(curl -sS -X POST "$orders/api/orders" -H 'content-type: application/json' -d '{
  "customerId": "demo-customer",
  "items": [{"productId": "p-100", "name": "Espresso machine", "price": 249.99, "quantity": 1, "subtotal": 249.99},
            {"productId": "p-200", "name": "Coffee beans 1 kg", "price": 18.5, "quantity": 2, "subtotal": 37}],
  "totalAmount": 286.99}')
order_id=$(sed -n 's/.*"orderId":"\([^"]*\)".*/\1/p' <<<"$response")
[ -n "$order_id" ] || die "the demo order was not accepted: $response"
for _ in $(seq 1 60); do
  curl -sS "$orders/api/orders/$order_id" | grep -q '"status":"PENDING"' || break
  sleep 0.5
done
say "demo order $order_id:"
sagactl trail "$order_id"

cat <<EOF

The saga stack is up (state and data in $STATE_DIR, kept across restarts).

  order-service         $(service_url order-service)   log: $LOG_DIR/order-service.log
  billing-service       $(service_url billing-service)   log: $LOG_DIR/billing-service.log
  notification-service  $(service_url notification-service)   log: $LOG_DIR/notification-service.log
  Kafka (KRaft)         $KAFKA_BOOTSTRAP_SERVERS   log: $LOG_DIR/kafka-server.log${SECURED_KAFKA_NOTE}
  PostgreSQL            $PG_ADDRESS   log: $LOG_DIR/postgres.log
                        one database per service (user = password = database name)${PG_TLS:+, TLS only}

Health:           curl -s $orders/health/ready
Topics:           kafka-setup/bin/kafka-topics --bootstrap-server $KAFKA_BOOTSTRAP_SERVERS --describe
Read a topic:     kafka-setup/bin/kafka-console-consumer --bootstrap-server $KAFKA_BOOTSTRAP_SERVERS \\
                    --topic order-created --from-beginning --property print.headers=true
Consumer groups:  kafka-setup/bin/kafka-consumer-groups --bootstrap-server $KAFKA_BOOTSTRAP_SERVERS --list
Place an order:   curl -si -X POST $orders/api/orders -H 'content-type: application/json' \\
                    -d '{"customerId":"c-1","items":[{"productId":"p-1","name":"Mug","price":4.99,"quantity":2,"subtotal":9.98}],"totalAmount":9.98}'
Set a limit:      curl -s -X PUT $(service_url billing-service)/api/accounts/c-1 -H 'content-type: application/json' \\
                    -H "Authorization: Bearer \$(cat $ADMIN_TOKEN_FILE)" -d '{"creditLimit": 250}'
Follow an order:  $ADMIN_ENV_PREFIX$(cargo_bin sagactl) trail <orderId>
Audit the saga:   $ADMIN_ENV_PREFIX$(cargo_bin sagactl) audit        (and: sagactl dlq list | show | replay)
Database:         psql '$(service_database_url order-service)'
Status / stop:    make status / make down
EOF
