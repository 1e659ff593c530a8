//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! Each application owns its registry (so tests can run several services in
//! one process); every series carries a constant `service` label. The shared
//! metrics live here; a service registers its own domain metrics on the same
//! registry through [`Metrics::registry`].
//!
//! Names are a contract: the alert rules and the dashboard in `k8s/` use
//! them, and a test checks that every name they use is exported.
//!
//! Every label takes its values from a closed set, so no client input can
//! grow the registry (each new value is a series kept for the process's
//! life): `method` is one of the nine standard methods or `other`
//! ([`method_label`]); `route` is the route template or `unmatched`, never the
//! path; `status` is a `u16` the handlers and actix choose; `topic`, `group`
//! and `partition` are the service's own subscriptions and their partitions
//! (topics from the catalogue, group from the code, partitions from the
//! broker); `result`, `outcome`, `channel`, `kind` and `client` are words written in the code;
//! `version` and `revision` are fixed at build time; `service` is constant.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Latency buckets in seconds, from 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2,
    0.25, 0.35, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The methods that get a `method` label value of their own.
static STANDARD_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

/// The `method` label: a standard method by name, anything else `other`.
/// Any token is a valid HTTP method, so taking it as sent would let one client
/// add a series per request.
pub fn method_label(method: &Method) -> &'static str {
    STANDARD_METHODS
        .iter()
        .find(|standard| *standard == method)
        .map_or("other", Method::as_str)
}

pub struct Metrics {
    registry: Registry,
    /// `http_requests_total{method, route, status}`: method by
    /// [`method_label`], route the template or `unmatched`.
    pub http_requests: IntCounterVec,
    /// `http_request_duration_seconds{method, route}`, labelled as above.
    pub http_duration: HistogramVec,
    /// Gauges read from the database at scrape time, each by one query
    /// returning a float8: `outbox_pending_rows`,
    /// `outbox_oldest_pending_age_seconds`, and those a service adds.
    sql_gauges: Mutex<Vec<(Gauge, &'static str)>>,
    /// `admission_refused_total`: writes refused with 503 over capacity.
    pub admission_refused: IntCounter,
    /// `admission_limit`: writes admitted at once right now (adapts; see `common::admission`).
    pub admission_limit: IntGauge,
    /// `outbox_published_total`
    pub outbox_published: IntCounter,
    /// `outbox_publish_latency_seconds`: from the row's commit to the broker's acknowledgement.
    pub outbox_publish_latency: Histogram,
    /// `outbox_publish_errors_total`
    pub outbox_publish_errors: IntCounter,
    /// `consumer_records_total{topic, group, result}`, result one of
    /// `processed`, `duplicate`, `dead_lettered`, `retried`.
    pub consumer_records: IntCounterVec,
    /// `consumer_handle_duration_seconds{topic, group}`
    pub consumer_duration: HistogramVec,
    /// `consumer_lag{topic, partition, group}`: records after the position
    /// the consumer has reached (its last handled record), 0 only when
    /// nothing waits.
    pub consumer_lag: IntGaugeVec,
    /// `consumer_stalled_seconds{group}`: how long the group has been busy
    /// on the same records without finishing one (0 when idle or moving).
    consumer_stalled: GaugeVec,
    stall_clocks: Mutex<Vec<(String, Arc<StallClock>)>>,
    /// `kafka_access_denied{client}`: 1 while the broker's ACLs deny what
    /// that client of the service needs, `client` one of [`KafkaClient`].
    kafka_access_denied: IntGaugeVec,
    denials: Mutex<Vec<(KafkaClient, String)>>,
    /// `build_info{version, revision}` = 1
    pub build_info: IntGaugeVec,
}

impl Metrics {
    pub fn new(service: &str) -> Arc<Self> {
        let labels = HashMap::from([("service".to_owned(), service.to_owned())]);
        let registry = Registry::new_custom(None, Some(labels)).expect("valid registry labels");
        let histogram = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let metrics = Self {
            http_requests: IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests by method, route template and status.",
                ),
                &["method", "route", "status"],
            )
            .unwrap(),
            http_duration: HistogramVec::new(
                histogram("http_request_duration_seconds", "HTTP request latency."),
                &["method", "route"],
            )
            .unwrap(),
            sql_gauges: Mutex::new(Vec::new()),
            admission_refused: IntCounter::new(
                "admission_refused_total",
                "Writes refused with 503 and Retry-After because the service was at capacity.",
            )
            .unwrap(),
            admission_limit: IntGauge::new(
                "admission_limit",
                "Writes admitted at once right now; shrinks while admitted writes are slower than ADMISSION_LATENCY_TARGET_MS.",
            )
            .unwrap(),
            outbox_published: IntCounter::new(
                "outbox_published_total",
                "Outbox rows published to Kafka.",
            )
            .unwrap(),
            outbox_publish_latency: Histogram::with_opts(histogram(
                "outbox_publish_latency_seconds",
                "From an outbox row's commit to the broker's acknowledgement.",
            ))
            .unwrap(),
            outbox_publish_errors: IntCounter::new(
                "outbox_publish_errors_total",
                "Outbox batches that could not be fully published.",
            )
            .unwrap(),
            consumer_records: IntCounterVec::new(
                Opts::new(
                    "consumer_records_total",
                    "Consumed records by topic, group and result.",
                ),
                &["topic", "group", "result"],
            )
            .unwrap(),
            consumer_duration: HistogramVec::new(
                histogram(
                    "consumer_handle_duration_seconds",
                    "Time to handle one record, retries included.",
                ),
                &["topic", "group"],
            )
            .unwrap(),
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    "consumer_lag",
                    "Records after the consumer's position (its last handled record).",
                ),
                &["topic", "partition", "group"],
            )
            .unwrap(),
            consumer_stalled: GaugeVec::new(
                Opts::new(
                    "consumer_stalled_seconds",
                    "Seconds the group has been busy on the same records without finishing one.",
                ),
                &["group"],
            )
            .unwrap(),
            stall_clocks: Mutex::new(Vec::new()),
            kafka_access_denied: IntGaugeVec::new(
                Opts::new(
                    "kafka_access_denied",
                    "1 while the broker's ACLs deny what this client of the service needs (its work waits).",
                ),
                &["client"],
            )
            .unwrap(),
            denials: Mutex::new(Vec::new()),
            build_info: IntGaugeVec::new(
                Opts::new("build_info", "Always 1; labels name the build."),
                &["version", "revision"],
            )
            .unwrap(),
            registry,
        };
        metrics.register_all();
        for client in KafkaClient::ALL {
            metrics.access_granted(client);
        }
        metrics.gauge_from_sql(
            "outbox_pending_rows",
            "Outbox rows not yet published.",
            "SELECT count(*)::float8 FROM outbox WHERE published_at IS NULL",
        );
        metrics.gauge_from_sql(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0)
               FROM outbox WHERE published_at IS NULL",
        );
        metrics
            .build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("GIT_REVISION").unwrap_or("unknown"),
            ])
            .set(1);
        Arc::new(metrics)
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.http_requests.clone()),
            Box::new(self.http_duration.clone()),
            Box::new(self.admission_refused.clone()),
            Box::new(self.admission_limit.clone()),
            Box::new(self.outbox_published.clone()),
            Box::new(self.outbox_publish_latency.clone()),
            Box::new(self.outbox_publish_errors.clone()),
            Box::new(self.consumer_records.clone()),
            Box::new(self.consumer_duration.clone()),
            Box::new(self.consumer_lag.clone()),
            Box::new(self.consumer_stalled.clone()),
            Box::new(self.kafka_access_denied.clone()),
            Box::new(self.build_info.clone()),
            Box::new(crate::throttle::SUPPRESSED.clone()),
        ];
        for collector in collectors {
            self.registry
                .register(collector)
                .expect("metric registered once");
        }
    }

    /// Registers a gauge whose value `sql` (one float8) reads at each scrape.
    pub fn gauge_from_sql(&self, name: &str, help: &str, sql: &'static str) {
        let gauge = Gauge::new(name, help).unwrap();
        self.register(&gauge);
        self.sql_gauges.lock().unwrap().push((gauge, sql));
    }

    /// Refreshes the database-backed gauges; a dead database keeps the last values.
    async fn refresh_sql_gauges(&self, pool: &sqlx::PgPool) {
        let gauges = self.sql_gauges.lock().unwrap().clone();
        let refresh = async {
            for (gauge, sql) in gauges {
                match sqlx::query_scalar::<_, f64>(sql).fetch_one(pool).await {
                    Ok(value) => gauge.set(value),
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), refresh).await;
    }

    /// Registers a service's own metric.
    pub fn register<C: prometheus::core::Collector + Clone + 'static>(&self, collector: &C) {
        self.registry
            .register(Box::new(collector.clone()))
            .expect("metric registered once");
    }

    /// The stall clock of a consumer group, reported as `consumer_stalled_seconds`.
    pub fn stall_clock(&self, group: &str) -> Arc<StallClock> {
        let clock = Arc::new(StallClock::default());
        self.stall_clocks
            .lock()
            .unwrap()
            .push((group.to_owned(), clock.clone()));
        self.consumer_stalled.with_label_values(&[group]).set(0.0);
        clock
    }

    /// Each consumer group and how long it has been stalled.
    pub fn stalls(&self) -> Vec<(String, Duration)> {
        self.stall_clocks
            .lock()
            .unwrap()
            .iter()
            .map(|(group, clock)| (group.clone(), clock.stalled_for()))
            .collect()
    }

    /// The broker denied `client` what it needs: `why` is shown by readiness
    /// until [`Metrics::access_granted`]. Returns whether this is news (the
    /// client was not denied already, or for another reason), to log once.
    pub fn access_denied(&self, client: KafkaClient, why: String) -> bool {
        self.kafka_access_denied
            .with_label_values(&[client.label()])
            .set(1);
        let mut denials = self.denials.lock().unwrap();
        match denials.iter_mut().find(|(c, _)| *c == client) {
            Some((_, known)) if *known == why => false,
            Some((_, known)) => {
                *known = why;
                true
            }
            None => {
                denials.push((client, why));
                true
            }
        }
    }

    /// `client` did what it needs again; returns whether it had been denied.
    pub fn access_granted(&self, client: KafkaClient) -> bool {
        self.kafka_access_denied
            .with_label_values(&[client.label()])
            .set(0);
        let mut denials = self.denials.lock().unwrap();
        let before = denials.len();
        denials.retain(|(c, _)| *c != client);
        denials.len() < before
    }

    /// What the broker denies right now, per client.
    pub fn denials(&self) -> Vec<(&'static str, String)> {
        self.denials
            .lock()
            .unwrap()
            .iter()
            .map(|(client, why)| (client.label(), why.clone()))
            .collect()
    }

    pub fn render(&self) -> String {
        for (group, stalled) in self.stalls() {
            self.consumer_stalled
                .with_label_values(&[group.as_str()])
                .set(stalled.as_secs_f64());
        }
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding");
        String::from_utf8(buffer).expect("metrics are UTF-8")
    }

    /// Creates and registers one of a service's own counter families.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
        self.register(&counter);
        counter
    }

    /// Creates and registers one of a service's own histograms, with the shared latency buckets.
    pub fn latency_histogram(&self, name: &str, help: &str) -> Histogram {
        let histogram =
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
                .expect("valid histogram");
        self.register(&histogram);
        histogram
    }
}

/// The service's Kafka clients that the broker's ACLs can deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaClient {
    /// Publishes the outbox.
    OutboxRelay,
    /// Reads the group's topics.
    Consumer,
}

impl KafkaClient {
    const ALL: [Self; 2] = [Self::OutboxRelay, Self::Consumer];

    pub fn label(self) -> &'static str {
        match self {
            Self::OutboxRelay => "outbox_relay",
            Self::Consumer => "consumer",
        }
    }
}

/// When a consumer started on records it has not finished; `None` while it
/// waits for records. Read at scrape time, so a consumer stuck inside a
/// retry (or a hung statement) still shows a rising value.
#[derive(Default)]
pub struct StallClock {
    busy_since: Mutex<Option<Instant>>,
}

impl StallClock {
    /// Records are fetched and being handled (keeps the earlier start).
    pub fn busy(&self) {
        self.busy_since
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
    }

    /// A record was finished; the next one starts now.
    pub fn progressed(&self) {
        let mut since = self.busy_since.lock().unwrap();
        if since.is_some() {
            *since = Some(Instant::now());
        }
    }

    /// Everything fetched is finished.
    pub fn idle(&self) {
        *self.busy_since.lock().unwrap() = None;
    }

    pub fn stalled_for(&self) -> Duration {
        self.busy_since
            .lock()
            .unwrap()
            .map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// `GET /metrics`: refreshes the database-backed gauges, then renders.
pub async fn serve(metrics: web::Data<Metrics>, pool: web::Data<sqlx::PgPool>) -> HttpResponse {
    metrics.refresh_sql_gauges(&pool).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_keep_their_name_and_any_other_token_is_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::CONNECT), "CONNECT");
        for token in ["FOO", "get", "PROPFIND", "X-1234"] {
            let method = Method::from_bytes(token.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{token}");
        }
    }
}
