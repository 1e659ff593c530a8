//! Admission control: past capacity, refuse fast instead of queueing.
//!
//! A request that writes (any method but GET, HEAD and OPTIONS on `/api/`)
//! needs a database connection. It is admitted only while fewer writes than
//! the current limit are in progress, after waiting at most
//! `ADMISSION_WAIT_MS` for a place; anything beyond is answered at once with
//! `503`, `Retry-After` and the JSON error body, before its body is read or
//! parsed. Without it, requests past capacity each parse their body and then
//! wait for the pool's acquire timeout before failing, so the service spends
//! its CPU on work it then throws away and goodput collapses. Reads, health
//! and metrics are never held back.
//!
//! The limit adapts (additive increase, multiplicative decrease, like TCP's
//! congestion window): every `WINDOW` the mean time of the writes admitted
//! in it is compared with `ADMISSION_LATENCY_TARGET_MS`. Slower while at
//! least half the limit was in use, and the limit shrinks by a tenth; within
//! the target, it grows by one, up to `ADMISSION_MAX_IN_FLIGHT`. It grows
//! back whether or not it was reached: a stall of a few tens of
//! milliseconds (a slow WAL flush) lowers it, and the moderate load that
//! follows rarely fills it, so a limit that grew only when reached would
//! stay lowered and turn the next short stall into refusals. A fixed limit
//! near the pool size protects the pool but not the CPU: when the machine itself is
//! saturated every admitted write slows down, in-flight work never reaches a
//! fixed limit sized for the pool, and refusals wait in the same CPU queue
//! as everything else. Following the admitted writes' latency instead admits
//! less exactly then, which leaves the service the headroom to answer its
//! door promptly. Written here rather than taken from a crate: the crates
//! that implement it (tower's adaptive limiters, Vector's fork) wrap tower
//! services or HTTP clients, not an actix middleware, and the rule is a
//! dozen lines.

use crate::http::ApiError;
use crate::throttle::LogThrottle;
use actix_web::http::Method;
use actix_web::{web, HttpMessage};
use prometheus::{IntCounter, IntGauge};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often the limit is reconsidered: long enough to hold tens of writes
/// at a few hundred per second, short enough to follow a surge within a
/// second (the limit can fall from 40 to 4 in about two seconds).
const WINDOW: Duration = Duration::from_millis(100);
/// Fewer samples than this in a window say nothing about latency.
const MIN_SAMPLES: u32 = 5;
/// The limit never falls below this (or the maximum, if lower), so a
/// service always admits some work.
const MIN_LIMIT: usize = 2;

pub struct Admission {
    in_flight: AtomicUsize,
    /// Wakes a waiting write when a place is freed.
    freed: Notify,
    wait: Duration,
    control: Mutex<Controller>,
    /// `admission_refused_total`
    refused: IntCounter,
    /// `admission_limit`
    limit_gauge: IntGauge,
}

impl Admission {
    pub fn new(
        max_in_flight: usize,
        target: Duration,
        wait: Duration,
        refused: IntCounter,
        limit_gauge: IntGauge,
    ) -> Self {
        let control = Controller::new(max_in_flight, target, Instant::now());
        limit_gauge.set(control.limit() as i64);
        Self {
            in_flight: AtomicUsize::new(0),
            freed: Notify::new(),
            wait,
            control: Mutex::new(control),
            refused,
            limit_gauge,
        }
    }

    fn controller(&self) -> std::sync::MutexGuard<'_, Controller> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_enter(&self) -> bool {
        let mut control = self.controller();
        let limit = control.limit();
        let entered = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        control.saw_in_flight(entered.map_or(limit, |before| before + 1));
        entered.is_ok()
    }

    /// A place now, or within the wait, or none.
    async fn enter(&self) -> Option<Place<'_>> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            // Registered before the check, so a place freed in between is not missed.
            let freed = self.freed.notified();
            if self.try_enter() {
                return Some(Place {
                    admission: self,
                    since: Instant::now(),
                });
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }
}

/// Set by the body reader when a request's whole body has arrived: a write's
/// time counts from then, so a client that sends its body slowly does not
/// pass for a slow service (the body read timeout deals with it).
pub struct BodyReceived(pub Instant);

/// A write's place; freed when dropped, with the time it was held.
struct Place<'a> {
    admission: &'a Admission,
    since: Instant,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let admission = self.admission;
        admission.in_flight.fetch_sub(1, Ordering::AcqRel);
        admission.freed.notify_one();
        let mut control = admission.controller();
        if let Some(limit) = control.record(self.since.elapsed(), Instant::now()) {
            admission.limit_gauge.set(limit as i64);
        }
    }
}

/// The limit and what the current window has seen (pure; the clock is passed in).
#[derive(Debug)]
struct Controller {
    limit: f64,
    min: f64,
    max: f64,
    target: Duration,
    window_start: Instant,
    samples: u32,
    total: Duration,
    /// The most writes in progress at once in this window.
    peak: usize,
}

impl Controller {
    fn new(max: usize, target: Duration, now: Instant) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: max,
            min: max.min(MIN_LIMIT as f64),
            max,
            target,
            window_start: now,
            samples: 0,
            total: Duration::ZERO,
            peak: 0,
        }
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn saw_in_flight(&mut self, writes: usize) {
        self.peak = self.peak.max(writes);
    }

    /// Records one admitted write's time; at the end of a window returns the
    /// limit when it changed.
    fn record(&mut self, took: Duration, now: Instant) -> Option<usize> {
        self.samples += 1;
        self.total += took;
        if now.duration_since(self.window_start) < WINDOW || self.samples < MIN_SAMPLES {
            return None;
        }
        let limit = self.limit();
        let mean = self.total / self.samples;
        // Only a limit in use is to blame: writes that are slow while few are
        // in progress (a distant database, a lock) are not helped by admitting
        // fewer, and would otherwise pin the limit at its floor.
        if mean > self.target && self.peak * 2 >= limit {
            self.limit = (self.limit * 0.9).max(self.min);
        } else if mean <= self.target {
            self.limit = (self.limit + 1.0).min(self.max);
        }
        self.window_start = now;
        self.samples = 0;
        self.total = Duration::ZERO;
        self.peak = 0;
        (self.limit() != limit).then(|| self.limit())
    }
}

fn needs_admission(request: &actix_web::dev::ServiceRequest) -> bool {
    !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && request.path().starts_with("/api/")
}

static REFUSALS: LogThrottle = LogThrottle::new("admission_refused");

/// The middleware; it holds the request's place until its response is ready.
pub async fn admit(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let admission = request.app_data::<web::Data<Admission>>().cloned();
    let Some(admission) = admission.filter(|_| needs_admission(&request)) else {
        return next.call(request).await.map(|r| r.map_into_boxed_body());
    };
    let entered = admission.enter().await;
    let answer = match entered {
        Some(mut place) => {
            let response = next.call(request).await;
            if let Ok(response) = &response {
                if let Some(received) = response.request().extensions().get::<BodyReceived>() {
                    place.since = place.since.max(received.0);
                }
            }
            response.map(|r| r.map_into_boxed_body())
        }
        None => {
            admission.refused.inc();
            REFUSALS.warn("over capacity: requests refused with 503 and Retry-After");
            Ok(request.error_response(ApiError::Overloaded))
        }
    };
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Duration = Duration::from_millis(10);

    /// Feeds one window of samples taking `took`, with at most `peak` writes
    /// in progress; returns the limit after it.
    fn window(c: &mut Controller, now: &mut Instant, took: Duration, peak: usize) -> usize {
        c.saw_in_flight(peak);
        for _ in 0..MIN_SAMPLES {
            *now += WINDOW / MIN_SAMPLES;
            c.record(took, *now);
        }
        c.limit()
    }

    #[test]
    fn slow_windows_with_the_limit_in_use_shrink_it_by_a_tenth_down_to_the_floor() {
        let mut now = Instant::now();
        let mut c = Controller::new(40, TARGET, now);
        assert_eq!(window(&mut c, &mut now, TARGET * 3, 40), 36);
        assert_eq!(window(&mut c, &mut now, TARGET * 3, 18), 32);
        for _ in 0..100 {
            let limit = c.limit();
            window(&mut c, &mut now, TARGET * 3, limit);
        }
        assert_eq!(c.limit(), MIN_LIMIT);
    }

    #[test]
    fn slow_windows_with_few_writes_in_progress_leave_the_limit_alone() {
        let mut now = Instant::now();
        let mut c = Controller::new(40, TARGET, now);
        for _ in 0..100 {
            window(&mut c, &mut now, TARGET * 3, 19);
        }
        assert_eq!(
            c.limit(),
            40,
            "a slow but lightly used service keeps its limit"
        );
    }

    #[test]
    fn prompt_windows_grow_the_limit_back_by_one_whether_or_not_it_is_reached() {
        let mut now = Instant::now();
        let mut c = Controller::new(40, TARGET, now);
        for _ in 0..20 {
            let limit = c.limit();
            window(&mut c, &mut now, TARGET * 2, limit);
        }
        let low = c.limit();
        assert!(low < 10, "{low}");
        // A stall lowered the limit; the load that follows is light (few
        // writes in progress) and prompt: the limit must not stay low.
        assert_eq!(window(&mut c, &mut now, TARGET / 2, 3), low + 1);
        assert_eq!(window(&mut c, &mut now, TARGET / 2, low + 1), low + 2);
        for _ in 0..100 {
            window(&mut c, &mut now, TARGET / 2, 3);
        }
        assert_eq!(c.limit(), 40, "never above the configured maximum");
    }

    #[test]
    fn a_window_with_too_few_samples_changes_nothing() {
        let mut now = Instant::now();
        let mut c = Controller::new(40, TARGET, now);
        now += WINDOW * 10;
        assert_eq!(c.record(TARGET * 100, now), None);
        assert_eq!(c.limit(), 40);
    }
}
