// One step of `make bench` (scripts/bench.sh): open-model load at RATE orders/s,
// WARMUP seconds that are not measured, DURATION seconds that are, then
// COOLDOWN seconds that are not (the load stays on while bench.sh takes its
// end-of-step snapshot). Each phase is a constant-arrival-rate scenario, so
// k6's metrics carry a `scenario` tag and the summary can report the measured
// phase (`step`) alone.
//
// Environment: RATE (orders/s, default 100), DURATION (s, default 30), WARMUP
// (s, default 5), COOLDOWN (s, default 2), MAX_VUS (cap on VUs per phase,
// default 1000), BENCH_SUMMARY (file the JSON summary goes to; unset = that
// JSON on stdout).
import { Counter } from 'k6/metrics';
import { placeOrder } from './orders.js';

const RATE = parseInt(__ENV.RATE || '100', 10);
const DURATION = parseInt(__ENV.DURATION || '30', 10);
const WARMUP = parseInt(__ENV.WARMUP || '5', 10);
const COOLDOWN = parseInt(__ENV.COOLDOWN || '2', 10);
const MAX_VUS = parseInt(__ENV.MAX_VUS || '1000', 10);
if (!(RATE > 0) || !(DURATION > 0) || !(MAX_VUS > 0) || !(WARMUP >= 0) || !(COOLDOWN >= 0)) {
  throw new Error(`RATE, DURATION, MAX_VUS must be positive, WARMUP and COOLDOWN >= 0 (got ${RATE}, ${DURATION}, ${MAX_VUS}, ${WARMUP}, ${COOLDOWN})`);
}

// Orders not accepted: any answer but a 202 with an orderId, timeouts included.
const rejected = new Counter('orders_rejected');
const accepted = new Counter('orders_accepted');

// VUs needed ≈ rate × latency: 500 ms worth at most (capped: each VU is a
// JavaScript runtime). Beyond that k6 drops iterations: the report counts
// them as errors. The measured step starts with all of them, since k6 also
// drops iterations while it starts more mid-run (a load-generator artefact,
// not the system's); warm-up and cool-down start with 200 ms worth.
function scenario(startSecs, durationSecs, gracefulStop, preAllocatedSecs) {
  return {
    executor: 'constant-arrival-rate',
    rate: RATE,
    timeUnit: '1s',
    startTime: `${startSecs}s`,
    duration: `${durationSecs}s`,
    gracefulStop,
    preAllocatedVUs: Math.min(MAX_VUS, Math.max(20, Math.ceil(RATE * preAllocatedSecs))),
    maxVUs: Math.min(MAX_VUS, Math.max(100, Math.ceil(RATE * 0.5))),
  };
}

const scenarios = { step: scenario(WARMUP, DURATION, '10s', 0.5) };
if (WARMUP > 0) {
  scenarios.warmup = scenario(0, WARMUP, '0s', 0.2);
}
if (COOLDOWN > 0) {
  scenarios.cooldown = scenario(WARMUP + DURATION, COOLDOWN, '0s', 0.2);
}

// Thresholds that always pass: they make k6 keep the step's sub-metrics
// (tag scenario:step) in the summary, with the POST latency of accepted
// orders (202) and of overload refusals (503) apart.
export const options = {
  scenarios,
  summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
  thresholds: {
    'http_req_duration{scenario:step}': ['max>=0'],
    'http_req_duration{scenario:step,status:202}': ['max>=0'],
    'http_req_duration{scenario:step,status:503}': ['max>=0'],
    'orders_refused_overloaded{scenario:step}': ['rate>=0'],
    'http_reqs{scenario:step}': ['count>=0'],
    'iterations{scenario:step}': ['count>=0'],
    'dropped_iterations{scenario:step}': ['count>=0'],
    'orders_accepted{scenario:step}': ['count>=0'],
    'orders_rejected{scenario:step}': ['count>=0'],
  },
};

// The wall-clock start of the scenarios (they start right after setup): the
// measured window is [start + WARMUP, start + WARMUP + DURATION]. bench.sh
// reads this line to time its snapshots.
export function setup() {
  const start = Date.now();
  console.log(`bench-start ${start}`);
  return { start, warmup: WARMUP, duration: DURATION, rate: RATE };
}

export default function () {
  if (placeOrder() === null) {
    rejected.add(1);
  } else {
    accepted.add(1);
  }
}

export function handleSummary(data) {
  return { [__ENV.BENCH_SUMMARY || 'stdout']: JSON.stringify(data, null, 1) };
}
