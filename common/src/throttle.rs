//! Repeated warnings without log storms: a warning that can fire for every
//! request or every client error (refusals, pool timeouts, consumer errors)
//! is written at most once per interval, with the number suppressed since
//! the last line. The occurrences themselves are counted by metrics.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of repeated warning; declare it as a `static` at its call site.
pub struct LogThrottle {
    kind: &'static str,
    interval: Duration,
    /// When the last line was written and how many were suppressed since.
    state: Mutex<Option<(Instant, u64)>>,
}

impl LogThrottle {
    pub const fn new(kind: &'static str, interval: Duration) -> Self {
        Self {
            kind,
            interval,
            state: Mutex::new(None),
        }
    }

    /// Logs `message` as a warning unless one of this kind was logged within
    /// the interval; returns whether it was written.
    pub fn warn(&self, message: impl std::fmt::Display) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Some((at, suppressed)) if at.elapsed() < self.interval => {
                *suppressed += 1;
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
        static THROTTLE: LogThrottle = LogThrottle::new("test", Duration::from_millis(200));
        let written = (0..1000).filter(|_| THROTTLE.warn("again")).count();
        assert_eq!(written, 1);
        std::thread::sleep(Duration::from_millis(250));
        assert!(THROTTLE.warn("again"), "a new interval writes again");
        assert_eq!(THROTTLE.state.lock().unwrap().unwrap().1, 0);
    }
}
