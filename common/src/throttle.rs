//! Repeated warnings without log storms: a warning that can fire for every
//! request or every client error (refusals, pool timeouts, consumer errors)
//! is written at most once per interval (`LOG_REPEAT_INTERVAL_SECS`), with
//! the number suppressed since the last line. What is suppressed is counted
//! in `log_lines_suppressed_total{kind}`, so no occurrence goes unseen.

use prometheus::{IntCounterVec, Opts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// The interval every throttle uses, in milliseconds; one per process (set
/// from the configuration at start-up), since the throttles are statics.
static INTERVAL_MS: AtomicU64 = AtomicU64::new(10_000);

/// `log_lines_suppressed_total{kind}`: `kind` is a word written in the code.
pub static SUPPRESSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "log_lines_suppressed_total",
            "Repeated warning lines not written because one of their kind was written within LOG_REPEAT_INTERVAL_SECS.",
        ),
        &["kind"],
    )
    .expect("valid metric")
});

/// Sets how often a repeated warning may be written.
pub fn set_interval(interval: Duration) {
    INTERVAL_MS.store(interval.as_millis() as u64, Ordering::Relaxed);
}

/// One kind of repeated warning; declare it as a `static` at its call site.
pub struct LogThrottle {
    kind: &'static str,
    /// When the last line was written and how many were suppressed since.
    state: Mutex<Option<(Instant, u64)>>,
}

impl LogThrottle {
    pub const fn new(kind: &'static str) -> Self {
        Self {
            kind,
            state: Mutex::new(None),
        }
    }

    /// Logs `message` as a warning unless one of this kind was logged within
    /// the interval; returns whether it was written.
    pub fn warn(&self, message: impl std::fmt::Display) -> bool {
        let interval = Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Some((at, suppressed)) if at.elapsed() < interval => {
                *suppressed += 1;
                SUPPRESSED.with_label_values(&[self.kind]).inc();
                false
            }
            _ => {
                let suppressed = state.map_or(0, |(_, n)| n);
                tracing::warn!(kind = self.kind, suppressed, "{message}");
                *state = Some((Instant::now(), 0));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_rest_counted() {
        static THROTTLE: LogThrottle = LogThrottle::new("unit_test");
        set_interval(Duration::from_millis(200));
        let counted = || SUPPRESSED.with_label_values(&["unit_test"]).get();
        let written = (0..1000).filter(|_| THROTTLE.warn("again")).count();
        assert_eq!(written, 1);
        assert_eq!(counted(), 999);
        std::thread::sleep(Duration::from_millis(250));
        assert!(THROTTLE.warn("again"), "a new interval writes again");
        assert_eq!(THROTTLE.state.lock().unwrap().unwrap().1, 0);
        assert_eq!(counted(), 999);
    }
}
