// Open-model throughput: RATE new orders per second (default 50) for DURATION
// (default 30s; a bare number is seconds), whether or not the server keeps up, so a slow server shows as
// latency and dropped_iterations instead of quietly lowering the load as the
// closed-model ramp in load-test.js would.
import { durationFromEnv, placeOrder, THRESHOLDS } from './orders.js';

const RATE = parseInt(__ENV.RATE || '50', 10);
const DURATION = durationFromEnv('30s');
if (!(RATE > 0)) {
  throw new Error(`RATE must be a positive integer, got "${__ENV.RATE}"`);
}

export const options = {
  scenarios: {
    orders: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      // VUs needed ≈ rate × latency: half a second's worth up front, room for
      // 2 s latency before k6 starts dropping iterations.
      preAllocatedVUs: Math.max(5, Math.ceil(RATE / 2)),
      maxVUs: Math.max(20, RATE * 2),
    },
  },
  thresholds: THRESHOLDS,
};

export default function () {
  placeOrder();
}
