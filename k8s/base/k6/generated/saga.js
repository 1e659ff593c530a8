// End-to-end saga latency: each iteration places an order and polls
// GET /api/orders/{id} until its status is final (PAID or PAYMENT_FAILED).
//   saga_completion  ms from the 202 to the first poll that saw a final status
//                    (resolution is the poll interval, ~100 ms)
//   saga_completed   share of accepted orders that were final within the timeout
// Env: SAGA_TIMEOUT_MS (30000), POLL_INTERVAL_MS (100), VUS, DURATION;
// K6_QUICK=1 runs 5 VUs for 20 s.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { baseUrl, durationFromEnv, jsonBody, placeOrder, quick, THRESHOLDS } from './orders.js';

const TIMEOUT_MS = parseInt(__ENV.SAGA_TIMEOUT_MS || '30000', 10);
const POLL_MS = parseInt(__ENV.POLL_INTERVAL_MS || '100', 10);
const FINAL = ['PAID', 'PAYMENT_FAILED'];

const sagaCompletion = new Trend('saga_completion', true);
const sagaCompleted = new Rate('saga_completed');
const sagaPaid = new Counter('saga_paid');
const sagaPaymentFailed = new Counter('saga_payment_failed');
const sagaTimedOut = new Counter('saga_timed_out');

export const options = {
  scenarios: {
    saga: {
      executor: 'constant-vus',
      vus: parseInt(__ENV.VUS || (quick() ? '5' : '10'), 10),
      duration: durationFromEnv(quick() ? '20s' : '2m'),
      // An iteration can poll for up to TIMEOUT_MS: let the last ones finish
      // rather than cutting them off and losing their measurement.
      gracefulStop: `${Math.ceil(TIMEOUT_MS / 1000) + 5}s`,
    },
  },
  thresholds: Object.assign({}, THRESHOLDS, {
    saga_completed: ['rate>0.99'],
  }),
  summaryTrendStats: ['avg', 'min', 'med', 'p(50)', 'p(95)', 'p(99)', 'max', 'count'],
};

export default function () {
  const orderId = placeOrder();
  // A rejected order has no saga; the checks threshold already counts it.
  if (orderId === null) {
    sleep(1);
    return;
  }
  const accepted = Date.now();
  const url = `${baseUrl()}/api/orders/${orderId}`;
  while (Date.now() - accepted < TIMEOUT_MS) {
    sleep(POLL_MS / 1000);
    const res = http.get(url, { tags: { name: 'GET /api/orders/{id}' } });
    check(res, { 'poll status is 200': (r) => r.status === 200 });
    const body = res.status === 200 ? jsonBody(res) : null;
    const status = body && body.status;
    if (FINAL.indexOf(status) !== -1) {
      sagaCompletion.add(Date.now() - accepted);
      sagaCompleted.add(true);
      (status === 'PAID' ? sagaPaid : sagaPaymentFailed).add(1);
      return;
    }
  }
  sagaCompleted.add(false);
  sagaTimedOut.add(1);
}
