//! What each phase measured, and the summary file: k6's JSON shape
//! (`metrics["<name>{scenario:<phase>,...}"].values`), so `sagactl bench step`
//! reads either generator's file the same way.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::schedule::{Phase, Schedule};

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status; 0 when there was no answer (connection refused, reset,
    /// timeout), as k6 reports it.
    pub status: u16,
    /// The `orderId` of a 202: the order was accepted.
    pub order_id: Option<String>,
    /// 503 with `Retry-After` and `{"error":"overloaded"}`: refused fast on purpose.
    pub overloaded: bool,
    /// Send + wait + receive, without the connection's setup.
    pub duration: Duration,
    /// Setup of a fresh connection (TCP connect and HTTP handshake), if this
    /// request needed one.
    pub connecting: Option<Duration>,
}

/// Latencies in microseconds: quantiles from an HDR histogram (3 significant
/// digits), average, minimum and maximum exact.
#[derive(Debug, Clone)]
pub struct Trend {
    histogram: Histogram<u64>,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

impl Default for Trend {
    fn default() -> Self {
        Self {
            // 1 µs to an hour: far beyond any request timeout.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
        }
    }
}

impl Trend {
    pub fn record(&mut self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(us.max(1));
        self.sum_us += u128::from(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The smallest recorded value (within the histogram's precision) that
    /// at least `q` of the samples do not exceed; `None` without samples.
    /// Kept within the exact minimum and maximum, which a bucket's upper
    /// bound could otherwise pass.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (self.count() > 0).then(|| {
            let us = self
                .histogram
                .value_at_quantile(q)
                .clamp(self.min_us, self.max_us);
            us as f64 / 1000.0
        })
    }

    /// k6's trend statistics in milliseconds (`summaryTrendStats` of
    /// `k6/bench.js`). Without samples every value is null, where k6 writes 0:
    /// the report then shows "–" rather than a latency nobody measured.
    fn values(&self) -> Value {
        let n = self.count();
        let ms = |us: u64| (n > 0).then(|| us as f64 / 1000.0);
        json!({
            "avg": (n > 0).then(|| self.sum_us as f64 / n as f64 / 1000.0),
            "min": ms(self.min_us),
            "med": self.quantile_ms(0.5),
            "p(95)": self.quantile_ms(0.95),
            "p(99)": self.quantile_ms(0.99),
            "max": ms(self.max_us),
        })
    }
}

/// Counters and latencies of one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    /// Requests that ended, answered or not (k6's `http_reqs`).
    pub requests: u64,
    pub accepted: u64,
    /// Not accepted: any other answer, transport errors included.
    pub rejected: u64,
    pub overloaded: u64,
    /// Status 0 or ≥ 400 (k6's `http_req_failed`).
    pub failed: u64,
    /// Status 0: refused, reset or timed out (a service down, in `make chaos`).
    pub unanswered: u64,
    /// Arrivals not sent because `--max-in-flight` requests were outstanding.
    pub dropped: u64,
    /// Requests still outstanding when the generator gave up waiting.
    pub interrupted: u64,
    pub duration: Trend,
    pub duration_202: Trend,
    pub duration_503: Trend,
    pub connecting: Trend,
}

impl PhaseStats {
    pub fn record(&mut self, answer: &Answer) {
        self.requests += 1;
        if answer.order_id.is_some() {
            self.accepted += 1;
        } else {
            self.rejected += 1;
        }
        if answer.overloaded {
            self.overloaded += 1;
        }
        if answer.status == 0 || answer.status >= 400 {
            self.failed += 1;
        }
        if answer.status == 0 {
            self.unanswered += 1;
        }
        self.duration.record(answer.duration);
        match answer.status {
            202 => self.duration_202.record(answer.duration),
            503 => self.duration_503.record(answer.duration),
            _ => {}
        }
        if let Some(connecting) = answer.connecting {
            self.connecting.record(connecting);
        }
    }

    /// This phase's metrics under k6's names, tagged `scenario:<phase>`.
    fn metrics(&self, phase: Phase, seconds: u64, into: &mut Map<String, Value>) {
        let tag =
            |name: &str, extra: &str| format!("{name}{{scenario:{}{extra}}}", phase.scenario());
        let per_s = |count: u64| {
            if seconds > 0 {
                count as f64 / seconds as f64
            } else {
                0.0
            }
        };
        let counter = |count: u64| json!({"type": "counter", "contains": "default", "values": {"count": count, "rate": per_s(count)}});
        let rate = |passes: u64, total: u64| {
            let share = if total > 0 {
                passes as f64 / total as f64
            } else {
                0.0
            };
            json!({"type": "rate", "contains": "default", "values": {"rate": share, "passes": passes, "fails": total - passes}})
        };
        let trend = |t: &Trend| json!({"type": "trend", "contains": "time", "values": t.values()});
        into.insert(tag("http_reqs", ""), counter(self.requests));
        into.insert(tag("iterations", ""), counter(self.requests));
        into.insert(tag("orders_accepted", ""), counter(self.accepted));
        into.insert(tag("orders_rejected", ""), counter(self.rejected));
        into.insert(tag("dropped_iterations", ""), counter(self.dropped));
        into.insert(tag("interrupted_iterations", ""), counter(self.interrupted));
        into.insert(
            tag("orders_refused_overloaded", ""),
            rate(self.overloaded, self.requests),
        );
        into.insert(tag("http_req_failed", ""), rate(self.failed, self.requests));
        into.insert(tag("http_req_duration", ""), trend(&self.duration));
        into.insert(
            tag("http_req_duration", ",status:202"),
            trend(&self.duration_202),
        );
        into.insert(
            tag("http_req_duration", ",status:503"),
            trend(&self.duration_503),
        );
        into.insert(tag("http_req_connecting", ""), trend(&self.connecting));
    }
}

/// The settings a summary records next to the metrics.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub max_in_flight: usize,
    pub start_unix_ms: u128,
}

/// The whole summary: the run's settings and every phase's metrics.
pub fn summary(schedule: &Schedule, settings: &Settings, phases: &[PhaseStats; 3]) -> Value {
    let mut metrics = Map::new();
    for phase in Phase::ALL {
        phases[phase.index()].metrics(phase, schedule.seconds(phase), &mut metrics);
    }
    json!({
        "generator": {
            "name": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "url": settings.url,
            "rate": schedule.rate,
            "warmup_s": schedule.warmup_s,
            "duration_s": schedule.duration_s,
            "cooldown_s": schedule.cooldown_s,
            "max_in_flight": settings.max_in_flight,
            "start_unix_ms": settings.start_unix_ms as u64,
        },
        "metrics": metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, ms: u64) -> Answer {
        Answer {
            status,
            order_id: (status == 202).then(|| "0193a0b2-7c1e-7000-8000-000000000001".into()),
            overloaded: status == 503,
            duration: Duration::from_millis(ms),
            connecting: None,
        }
    }

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() <= expected * 0.001)
    }

    #[test]
    fn quantiles_follow_the_samples() {
        let mut trend = Trend::default();
        for ms in 1..=1000 {
            trend.record(Duration::from_millis(ms));
        }
        assert!(
            close(trend.quantile_ms(0.5), 500.0),
            "{:?}",
            trend.quantile_ms(0.5)
        );
        assert!(
            close(trend.quantile_ms(0.95), 950.0),
            "{:?}",
            trend.quantile_ms(0.95)
        );
        assert!(
            close(trend.quantile_ms(0.99), 990.0),
            "{:?}",
            trend.quantile_ms(0.99)
        );
        let values = trend.values();
        assert_eq!(values["min"], 1.0);
        assert_eq!(values["max"], 1000.0);
        assert_eq!(values["avg"], 500.5);
    }

    #[test]
    fn sub_millisecond_latencies_keep_their_microseconds() {
        let mut trend = Trend::default();
        trend.record(Duration::from_micros(250));
        trend.record(Duration::from_micros(750));
        assert_eq!(trend.quantile_ms(0.5), Some(0.25));
        assert_eq!(trend.values()["max"], 0.75);
    }

    #[test]
    fn a_trend_without_samples_is_null_not_zero() {
        let values = Trend::default().values();
        for stat in ["avg", "min", "med", "p(95)", "p(99)", "max"] {
            assert!(values[stat].is_null(), "{stat}");
        }
    }

    #[test]
    fn the_summary_has_the_keys_sagactl_bench_reads_for_the_step() {
        let schedule = Schedule {
            rate: 10,
            warmup_s: 1,
            duration_s: 2,
            cooldown_s: 1,
        };
        let mut phases: [PhaseStats; 3] = Default::default();
        let step = &mut phases[Phase::Step.index()];
        for _ in 0..12 {
            step.record(&answer(202, 4));
        }
        for _ in 0..6 {
            step.record(&answer(503, 1));
        }
        step.record(&answer(0, 60_000));
        step.dropped = 1;
        phases[Phase::Warmup.index()].record(&answer(202, 4));
        let settings = Settings {
            url: "http://127.0.0.1:8080".into(),
            max_in_flight: 5,
            start_unix_ms: 1,
        };
        let summary = summary(&schedule, &settings, &phases);
        let metric = |name: &str| summary["metrics"][name]["values"].clone();

        assert_eq!(metric("http_reqs{scenario:step}")["count"], 19);
        assert_eq!(metric("http_reqs{scenario:step}")["rate"], 9.5);
        assert_eq!(metric("orders_accepted{scenario:step}")["count"], 12);
        assert_eq!(metric("orders_rejected{scenario:step}")["count"], 7);
        assert_eq!(metric("dropped_iterations{scenario:step}")["count"], 1);
        assert_eq!(
            metric("orders_refused_overloaded{scenario:step}")["passes"],
            6
        );
        assert_eq!(
            metric("orders_refused_overloaded{scenario:step}")["fails"],
            13
        );
        assert!(
            (metric("orders_refused_overloaded{scenario:step}")["rate"]
                .as_f64()
                .unwrap()
                - 6.0 / 19.0)
                .abs()
                < 1e-9
        );
        assert_eq!(metric("http_req_failed{scenario:step}")["passes"], 7);
        for name in [
            "http_req_duration{scenario:step}",
            "http_req_duration{scenario:step,status:202}",
            "http_req_duration{scenario:step,status:503}",
        ] {
            for stat in ["med", "p(95)", "p(99)", "max", "avg", "min"] {
                assert!(metric(name)[stat].is_number(), "{name} {stat}");
            }
        }
        assert_eq!(
            metric("http_req_duration{scenario:step,status:202}")["p(99)"],
            4.0
        );
        assert_eq!(
            metric("http_req_duration{scenario:step,status:503}")["max"],
            1.0
        );
        assert_eq!(metric("http_req_duration{scenario:step}")["max"], 60_000.0);
        // Warm-up and cool-down are reported under their own tags, never in the step's.
        assert_eq!(metric("http_reqs{scenario:warmup}")["count"], 1);
        assert_eq!(metric("http_reqs{scenario:cooldown}")["count"], 0);
        assert!(metric("http_req_duration{scenario:cooldown}")["p(99)"].is_null());
    }
}
