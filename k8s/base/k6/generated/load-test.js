// Closed-model ramp (the proof of concept's shape): 5 → 20 → 50 virtual users
// placing random orders with a one-second think time, then back down.
// K6_QUICK=1 squeezes the same shape into about 30 s (plus k6's graceful stop).
import { sleep } from 'k6';
import { placeOrder, quick, THRESHOLDS } from './orders.js';

const STAGES = quick()
  ? [
      { duration: '5s', target: 5 },
      { duration: '8s', target: 20 },
      { duration: '10s', target: 50 },
      { duration: '7s', target: 0 },
    ]
  : [
      { duration: '30s', target: 5 },
      { duration: '1m', target: 20 },
      { duration: '1m', target: 50 },
      { duration: '1m', target: 50 },
      { duration: '30s', target: 0 },
    ];

export const options = {
  stages: STAGES,
  thresholds: THRESHOLDS,
};

export default function () {
  placeOrder();
  sleep(1);
}
