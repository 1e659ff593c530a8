// Shared by every k6 script here: random orders, the order-service URL, the
// common checks and thresholds. Local module only (no remote imports) so the
// tests run on machines and clusters without internet access. Keep k6/ flat:
// a Kubernetes ConfigMap is generated from these files and its keys cannot
// contain slashes.
import http from 'k6/http';
import { Rate } from 'k6/metrics';
import { check } from 'k6';

// Order-service base URL, without a trailing slash.
export function baseUrl() {
  return (__ENV.ORDER_SERVICE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
}

// K6_QUICK=1 (or true/yes) shortens every script to a smoke-sized run.
export function quick() {
  return /^(1|true|yes)$/i.test(__ENV.K6_QUICK || '');
}

// Customers come back, so billing reuses their credit accounts. An order costs
// about 150 on average and an account starts with 1000.00, so a pool of 10000
// keeps most orders PAID through long runs; a small pool (CUSTOMER_POOL=50)
// drains credit and exercises the PAYMENT_FAILED path.
const CUSTOMER_POOL = parseInt(__ENV.CUSTOMER_POOL || '10000', 10);

const PRODUCTS = [
  'Mug', 'T-shirt', 'Notebook', 'Pen', 'Backpack', 'Headphones', 'Keyboard',
  'Mouse', 'Water bottle', 'Desk lamp', 'Sticker pack', 'Phone case',
];

function randomInt(min, max) {
  return min + Math.floor(Math.random() * (max - min + 1));
}

// A price in [1.00, 101.00] with at most 2 decimals. It is built from integer
// cents: `Math.round(r * 10000) / 100 + 1` (the old proof of concept) yields
// prices such as 1.1400000000000001 for ~1.6 % of values, which the server
// rightly rejects (price must have at most 2 decimals), while cents / 100 is
// always the double that prints with at most 2 decimals.
function randomPrice() {
  return randomInt(100, 10100) / 100;
}

// A valid order body. subtotal and totalAmount are plain JavaScript float
// arithmetic on purpose: float noise like 137.01000000000002 is what browser
// clients send, and the server rounds those to cents before comparing.
export function randomOrder() {
  const items = [];
  const count = randomInt(1, 5);
  for (let i = 0; i < count; i++) {
    const product = randomInt(1, PRODUCTS.length);
    const price = randomPrice();
    const quantity = randomInt(1, 5);
    items.push({
      productId: `p-${product}`,
      name: PRODUCTS[product - 1],
      price,
      quantity,
      subtotal: price * quantity,
    });
  }
  return {
    customerId: `customer-${randomInt(1, CUSTOMER_POOL)}`,
    items,
    totalAmount: items.reduce((sum, item) => sum + item.subtotal, 0),
    currency: 'USD',
  };
}

// The parsed JSON body, or null (k6's res.json() throws on a non-JSON body).
export function jsonBody(res) {
  try {
    return res.json();
  } catch (_) {
    return null;
  }
}

// POSTs a random order and runs the shared checks. Returns the orderId, or
// null when the order was not accepted.
export function placeOrder() {
  const res = http.post(`${baseUrl()}/api/orders`, JSON.stringify(randomOrder()), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'POST /api/orders' },
  });
  const body = jsonBody(res);
  // Past capacity the service refuses at once with 503 + Retry-After: the
  // documented overload answer, counted apart ("refused fast", not "failed").
  if (res.status === 503 && res.headers['Retry-After']) {
    overloaded.add(1);
    check(res, { 'overload answer is 503 with Retry-After': () => body !== null && body.error === 'overloaded' });
    return null;
  }
  overloaded.add(0);
  const ok = check(res, {
    'status is 202': (r) => r.status === 202,
    'response has orderId': () => body !== null && typeof body.orderId !== 'undefined' && body.orderId !== null,
  });
  return ok ? body.orderId : null;
}

// Share of POSTs refused with the overload answer (503 + Retry-After).
export const overloaded = new Rate('orders_refused_overloaded');

// Thresholds every script shares; k6 exits non-zero (99) when one is crossed.
export const THRESHOLDS = {
  http_req_duration: ['p(95)<500'],
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
};

// DURATION as k6 wants it: "90s" and "2m" as they are, a bare number as
// seconds (k6 would take "30" for 30 ms and refuse the scenario).
export function durationFromEnv(fallback) {
  const value = __ENV.DURATION;
  if (!value) return fallback;
  return /^[0-9]+$/.test(value) ? `${value}s` : value;
}
