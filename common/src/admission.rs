//! Admission control: past capacity, refuse fast instead of queueing.
//!
//! A request that writes (any method but GET, HEAD and OPTIONS on `/api/`)
//! needs a database connection. It is admitted only while fewer than
//! `ADMISSION_MAX_IN_FLIGHT` such requests are in progress, after waiting at
//! most `ADMISSION_WAIT_MS` for a place; anything beyond is answered at once
//! with `503`, `Retry-After` and the JSON error body, before its body is
//! read or parsed. Without it, requests past capacity each parse their body
//! and then wait for the pool's acquire timeout before failing, so the
//! service spends its CPU on work it then throws away and goodput collapses.
//! Reads, health and metrics are never held back.
//!
//! A fixed limit near the pool size, rather than an adaptive one: the pool
//! is the resource being protected and its size is known, so the limit is
//! predictable and easy to reason about (tokio's semaphore, no new crate).

use crate::http::ApiError;
use crate::throttle::LogThrottle;
use actix_web::http::Method;
use actix_web::web;
use prometheus::IntCounter;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Admission {
    places: Arc<Semaphore>,
    wait: Duration,
    /// `admission_refused_total`
    refused: IntCounter,
}

impl Admission {
    pub fn new(max_in_flight: usize, wait: Duration, refused: IntCounter) -> Self {
        Self {
            places: Arc::new(Semaphore::new(max_in_flight)),
            wait,
            refused,
        }
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
    let place = match admission.places.clone().try_acquire_owned() {
        Ok(place) => Ok(place),
        Err(_) => tokio::time::timeout(admission.wait, admission.places.clone().acquire_owned())
            .await
            .map_err(|_| ())
            .and_then(|r| r.map_err(|_| ())),
    };
    match place {
        Ok(_place) => next.call(request).await.map(|r| r.map_into_boxed_body()),
        Err(()) => {
            admission.refused.inc();
            REFUSALS.warn("over capacity: requests refused with 503 and Retry-After");
            Ok(request.error_response(ApiError::Overloaded))
        }
    }
}
