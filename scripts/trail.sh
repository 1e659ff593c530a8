#!/usr/bin/env bash
# Prints one order's story across the three services and the three topics:
#   scripts/trail.sh <orderId>
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

id=${1:?usage: trail.sh <orderId>}
orders=http://127.0.0.1:${ORDER_SERVICE_PORT:-8080}
billing=http://127.0.0.1:${BILLING_SERVICE_PORT:-8081}
notifications=http://127.0.0.1:${NOTIFICATION_SERVICE_PORT:-8082}
pretty() { python3 -m json.tool 2>/dev/null || cat; }

echo "--- order (order-service GET /api/orders/$id)"
curl -sS "$orders/api/orders/$id" | pretty
echo "--- payment (billing-service GET /api/payments/$id)"
curl -sS "$billing/api/payments/$id" | pretty
echo "--- notifications (notification-service GET /api/notifications?orderId=$id)"
curl -sS "$notifications/api/notifications?orderId=$id" | pretty
echo "--- records keyed $id on order-created, payment-requests, notification-events"
# One consumer over the three topics; it stops 3 s after the last record.
"$ROOT_DIR/kafka-setup/bin/kafka-console-consumer" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" \
  --include '^(order-created|payment-requests|notification-events)$' --from-beginning --timeout-ms 3000 \
  --property print.partition=true --property print.offset=true \
  --property print.key=true --property print.headers=true 2>/dev/null | grep -F -- "$id" || echo "(none found)"
