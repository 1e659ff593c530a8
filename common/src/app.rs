//! Building and running a service: the same code path for `main` and tests.
//!
//! Start-up never waits for Postgres or Kafka: the HTTP server comes up at
//! once (liveness 200, readiness 503), migrations run in the background as
//! soon as the database answers, and readiness turns 200 when both answer.

use crate::config::{ServiceConfig, ServiceDefaults};
use crate::consumer::{ConsumerDefinition, ConsumerRuntime};
use crate::health::{self, Readiness};
use crate::kafka::SagaProducer;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Relay};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Adds a service's own routes (and app data) next to the shared ones.
pub type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Everything that makes one service different from the others.
#[derive(Clone)]
pub struct ServiceDefinition {
    pub defaults: ServiceDefaults,
    /// The service's own migrations; the shared outbox/inbox tables are added.
    pub migrator: &'static Migrator,
    pub routes: Routes,
    pub consumers: Vec<ConsumerDefinition>,
    /// The service's registry, with its own metrics already registered.
    pub metrics: Arc<Metrics>,
}

impl ServiceDefinition {
    /// A service with one consumer group, named after the service, reading
    /// the topics the catalogue gives that group
    /// (`contract::topics::CONSUMER_GROUPS`).
    pub fn with_consumer(
        defaults: ServiceDefaults,
        migrator: &'static Migrator,
        routes: fn(&mut web::ServiceConfig),
        handler: impl crate::consumer::EventHandler,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            defaults,
            migrator,
            routes: Arc::new(routes),
            consumers: vec![ConsumerDefinition::new(
                defaults.name.into(),
                crate::topics::consumed_by(defaults.name),
                handler,
            )],
            metrics,
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    readiness: Arc<Readiness>,
    pool: PgPool,
    service: &'static str,
    background: Vec<JoinHandle<()>>,
    stop_background: watch::Sender<bool>,
    shutdown_timeout: Duration,
}

impl Application {
    /// Binds the listener (port 0 picks a free port), creates the pool and
    /// the Kafka producer, and starts migrations in the background; the outbox
    /// relay, the cleanup and the consumers start once they are applied.
    pub async fn build(
        config: ServiceConfig,
        definition: ServiceDefinition,
    ) -> anyhow::Result<Self> {
        crate::throttle::set_interval(config.log_repeat_interval);
        let address = format!("{}:{}", config.http.host, config.http.port);
        let listener = TcpListener::bind(&address)
            .with_context(|| format!("Failed to bind HTTP listener on {address}"))?;
        let port = listener.local_addr()?.port();

        let pool = crate::db::connect_lazy(&config.database)
            .context("Failed to configure the database pool")?;
        let context = crate::kafka::KafkaContext::default();
        let refusals = context.refusals();
        let producer: SagaProducer =
            crate::kafka::create_producer_with(&config.kafka, config.service_name, context)
                .context("Failed to create the Kafka producer")?;
        let readiness = Readiness::new(
            config.service_name,
            pool.clone(),
            producer.clone(),
            refusals,
            config.readiness_timeout,
            definition.metrics.clone(),
            config.consumer_stall_threshold,
        );

        let outbox = Outbox::new(config.service_name);
        let (stop_background, stop_rx) = watch::channel(false);
        let starter = BackgroundStarter {
            config: config.clone(),
            definition: definition.clone(),
            pool: pool.clone(),
            producer: producer.clone(),
            outbox: outbox.clone(),
            readiness: readiness.clone(),
            stop: stop_rx,
        };
        let background = vec![tokio::spawn(starter.run())];

        let readiness_data = web::Data::from(readiness.clone());
        let pool_data = web::Data::new(pool.clone());
        let producer_data = web::Data::new(producer);
        let outbox_data = web::Data::new(outbox);
        let metrics_data = web::Data::from(definition.metrics.clone());
        let admission_data = web::Data::new(crate::admission::Admission::new(
            config.http.admission_max_in_flight,
            config.http.admission_latency_target,
            config.http.admission_wait,
            definition.metrics.admission_refused.clone(),
            definition.metrics.admission_limit.clone(),
        ));
        let body_timeout_data = web::Data::new(BodyReadTimeout(config.http.body_read_timeout));
        let admin_guard = crate::admin::AdminGuard::new(config.admin_token.as_ref());
        let admin_endpoints = if admin_guard.enabled() {
            "enabled"
        } else {
            "disabled (no ADMIN_TOKEN)"
        };
        let admin_data = web::Data::new(admin_guard);
        let routes = definition.routes.clone();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(512));
        let descriptors = raise_descriptor_limit();
        let max_connections =
            connections_per_worker(config.http.max_connections_per_worker, workers, descriptors);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(readiness_data.clone())
                .app_data(pool_data.clone())
                .app_data(producer_data.clone())
                .app_data(outbox_data.clone())
                .app_data(metrics_data.clone())
                .app_data(admission_data.clone())
                .app_data(body_timeout_data.clone())
                .app_data(admin_data.clone())
                .app_data(crate::http::json_config())
                .app_data(crate::http::query_config())
                .wrap(actix_web::middleware::from_fn(refuse_until_schema_ready))
                .wrap(actix_web::middleware::from_fn(read_body_in_time))
                // Outside the body reader: a refused request's body is never read.
                .wrap(actix_web::middleware::from_fn(crate::admission::admit))
                .wrap(actix_web::middleware::from_fn(record_http_metrics))
                .wrap(actix_web::middleware::from_fn(trace_request))
                .configure(health::configure)
                .route("/metrics", web::get().to(crate::metrics::serve))
                .configure(|cfg| routes(cfg))
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(crate::http::ApiError::NotFound(
                        "no such route".into(),
                    ))
                }))
        })
        // We handle signals ourselves: readiness must turn 503 before the server stops.
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .workers(workers)
        .max_connections(max_connections)
        .client_request_timeout(config.http.header_read_timeout)
        .listen(listener)?
        .run();

        tracing::info!(
            service = config.service_name,
            %address,
            port,
            workers,
            max_connections_per_worker = max_connections,
            descriptor_limit = descriptors,
            header_read_timeout_ms = config.http.header_read_timeout.as_millis() as u64,
            body_read_timeout_ms = config.http.body_read_timeout.as_millis() as u64,
            admin_endpoints,
            "listening"
        );
        Ok(Self {
            port,
            server,
            readiness,
            pool,
            service: config.service_name,
            background,
            stop_background,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes: readiness turns 503, in-flight requests
    /// finish (up to `SHUTDOWN_TIMEOUT_SECS`), then the pool closes.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let handle: ServerHandle = self.server.handle();
        let server = tokio::spawn(self.server);
        tokio::select! {
            result = server => {
                return result.context("HTTP server task failed")?.context("HTTP server failed");
            }
            () = stop => {}
        }
        tracing::info!(service = self.service, "shutting down");
        self.readiness.begin_shutdown();
        handle.stop(true).await;
        // Consumers finish their record, the relay its batch.
        let _ = self.stop_background.send(true);
        let background = futures_util::future::join_all(self.background);
        if tokio::time::timeout(self.shutdown_timeout, background)
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time");
        }
        self.pool.close().await;
        tracing::info!(service = self.service, "stopped");
        Ok(())
    }
}

/// Resolves on the first SIGTERM (Kubernetes, `make down`) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = interrupt.recv() => tracing::info!("SIGINT received"),
    }
}

/// The whole `main` of a service: configuration, logging, build, serve.
pub async fn run_service(definition: ServiceDefinition) -> anyhow::Result<()> {
    let config = ServiceConfig::from_env(&definition.defaults)?;
    let _telemetry = crate::telemetry::init(definition.defaults.name, config.log_format);
    let app = Application::build(config, definition).await?;
    app.run_until_stopped().await
}

/// Runs migrations (waiting for the database), then starts the relay, the
/// cleanup and the consumers, and waits for them to stop.
struct BackgroundStarter {
    config: ServiceConfig,
    definition: ServiceDefinition,
    pool: PgPool,
    producer: SagaProducer,
    outbox: Outbox,
    readiness: Arc<Readiness>,
    stop: watch::Receiver<bool>,
}

impl BackgroundStarter {
    async fn run(self) {
        let migrator = crate::db::service_migrator(self.definition.migrator);
        let mut stop = self.stop.clone();
        tokio::select! {
            result = crate::db::migrate_when_reachable(&self.pool, &migrator) => match result {
                Ok(()) => {
                    tracing::info!("database migrations applied");
                    self.readiness.migrations_done();
                }
                Err(e) => {
                    tracing::error!(error = %e, "database migrations failed; the service stays unready");
                    self.readiness.migrations_failed(e.to_string());
                    return;
                }
            },
            _ = stop.changed() => return,
        }

        let mut tasks = Vec::new();
        let relay = Relay {
            pool: self.pool.clone(),
            producer: self.producer.clone(),
            outbox: self.outbox.clone(),
            config: self.config.outbox.clone(),
            topic_prefix: self.config.kafka.topic_prefix.clone(),
            metrics: self.definition.metrics.clone(),
            kafka: self.config.kafka.clone(),
            client_id: self.config.service_name.to_owned(),
        };
        if self.config.relay_enabled {
            tasks.push(tokio::spawn(relay.run(self.stop.clone())));
        } else {
            tracing::info!(
                "outbox relay disabled (OUTBOX_RELAY_ENABLED=false): events wait in the outbox"
            );
        }
        tasks.push(tokio::spawn(crate::outbox::run_cleanup(
            self.pool.clone(),
            self.config.outbox.clone(),
            self.stop.clone(),
        )));
        if !self.config.consumers_enabled {
            tracing::info!(
                "consumers disabled (CONSUMERS_ENABLED=false): records wait on their topics"
            );
        }
        let consumers = self.definition.consumers.clone();
        for definition in consumers
            .into_iter()
            .filter(|_| self.config.consumers_enabled)
        {
            let runtime = ConsumerRuntime {
                pool: self.pool.clone(),
                producer: self.producer.clone(),
                outbox: self.outbox.clone(),
                kafka: self.config.kafka.clone(),
                client_id: format!("{}-{}", self.config.service_name, definition.group),
                batch_size: self.config.consumer_batch_size,
                batch_wait: self.config.consumer_batch_wait,
                max_attempts: self.config.consumer_max_attempts,
                metrics: self.definition.metrics.clone(),
            };
            tasks.push(tokio::spawn(runtime.run(definition, self.stop.clone())));
        }
        futures_util::future::join_all(tasks).await;
    }
}

/// Until migrations are applied, the service's own routes answer 503 rather
/// than failing on tables that do not exist yet; health and metrics always run.
async fn refuse_until_schema_ready(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let ready = request
        .app_data::<web::Data<Readiness>>()
        .is_some_and(|r| r.schema_ready());
    if ready || request.path().starts_with("/health/") || request.path() == "/metrics" {
        return next.call(request).await.map(|r| r.map_into_boxed_body());
    }
    Err(crate::http::ApiError::Unavailable(
        "the service is starting: database migrations are not applied yet".into(),
    )
    .into())
}

/// Descriptors kept for everything but HTTP connections: the database pool,
/// Kafka's sockets, log files (at most half the limit when it is small).
const RESERVED_DESCRIPTORS: u64 = 1024;

/// actix's own default for connections per worker, the ceiling when the
/// descriptor limit is higher still.
const MAX_CONNECTIONS_PER_WORKER: usize = 25_600;

/// Raises the soft RLIMIT_NOFILE to the hard limit (with the `rlimit` crate)
/// and returns the limit in force. Many systems start processes at a soft
/// limit of 1024, far below the hard one, and a server that runs out of
/// descriptors can neither accept connections nor open database or Kafka
/// sockets; raising the soft limit up to the hard one needs no privilege.
fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            let (soft, _) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
            tracing::warn!(error = %e, soft, "could not raise the descriptor limit (RLIMIT_NOFILE)");
            soft
        }
    }
}

/// Connections each worker accepts (actix's `max_connections`): the
/// `HTTP_MAX_CONNECTIONS_PER_WORKER` asked for, or as many as the descriptor
/// limit leaves room for, and never more than that room, so the workers
/// together stop accepting before the process runs out of descriptors.
fn connections_per_worker(
    configured: Option<std::num::NonZeroUsize>,
    workers: usize,
    descriptors: u64,
) -> usize {
    let reserved = RESERVED_DESCRIPTORS.min(descriptors / 2);
    let room = usize::try_from((descriptors - reserved) / workers.max(1) as u64)
        .unwrap_or(usize::MAX)
        .max(1);
    match configured.map(std::num::NonZeroUsize::get) {
        None => room.min(MAX_CONNECTIONS_PER_WORKER),
        Some(asked) if asked > room => {
            tracing::warn!(
                asked,
                allowed = room,
                descriptors,
                workers,
                "HTTP_MAX_CONNECTIONS_PER_WORKER lowered to what the descriptor limit allows"
            );
            room
        }
        Some(asked) => asked,
    }
}

/// `HTTP_BODY_READ_TIMEOUT_MS`, for [`read_body_in_time`].
struct BodyReadTimeout(Duration);

/// Reads the whole request body before routing, within
/// `HTTP_BODY_READ_TIMEOUT_MS` of the head and up to [`MAX_BODY_BYTES`]:
/// a body that has not fully arrived by then gets 408, a larger one 413 (a
/// `Content-Length` over the limit before anything is read), and either way
/// the connection is closed. Without this a client that trickles a body one
/// byte now and then holds its connection, and a descriptor, for ever.
///
/// [`MAX_BODY_BYTES`]: crate::http::MAX_BODY_BYTES
async fn read_body_in_time(
    timeout: web::Data<BodyReadTimeout>,
    mut request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use crate::http::{ApiError, FieldError, MAX_BODY_BYTES};
    use actix_web::HttpMessage;
    let timeout = timeout.0;
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut payload = request.take_payload();
    let refusal = if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        ApiError::TooLarge
    } else {
        match tokio::time::timeout(timeout, read_body(&mut payload, MAX_BODY_BYTES)).await {
            Ok(Ok(body)) => {
                request
                    .extensions_mut()
                    .insert(crate::admission::BodyReceived(std::time::Instant::now()));
                request.set_payload(actix_web::dev::Payload::from(body.freeze()));
                return next.call(request).await.map(|r| r.map_into_boxed_body());
            }
            Ok(Err(BodyError::TooLarge)) => ApiError::TooLarge,
            Ok(Err(BodyError::Payload(e))) => ApiError::BadRequest {
                message: format!("the request body could not be read: {e}"),
                fields: vec![FieldError::new("body", "could not be read")],
            },
            // Counted by `http_requests_total{status="408"}`, not logged: a
            // flood would print a line per connection.
            Err(_elapsed) => ApiError::RequestTimeout,
        }
    };
    // actix closes a connection whose request body is unread when the response
    // is written, but drains a dropped chunked body, which a trickling client
    // can make last for ever: the response keeps the payload alive until then.
    Ok(request.error_response(refusal).map_body(|head, body| {
        head.set_connection_type(actix_web::http::ConnectionType::Close);
        actix_web::body::BoxBody::new(HoldingUnreadPayload {
            body,
            _payload: payload,
        })
    }))
}

/// Why [`read_body`] stopped short of the body's end.
enum BodyError {
    /// More than the limit arrived.
    TooLarge,
    /// The connection broke or the chunked framing was bad.
    Payload(actix_web::error::PayloadError),
}

/// The body's bytes, or [`BodyError::TooLarge`] as soon as they pass `limit`.
async fn read_body(
    payload: &mut actix_web::dev::Payload,
    limit: usize,
) -> Result<web::BytesMut, BodyError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(BodyError::Payload)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A response body that owns the request's unread payload until it has been
/// written (see [`read_body_in_time`]).
struct HoldingUnreadPayload {
    body: actix_web::body::BoxBody,
    _payload: actix_web::dev::Payload,
}

impl actix_web::body::MessageBody for HoldingUnreadPayload {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Counts and times every request by method, route template and status
/// (all from closed sets: see [`crate::metrics`]).
async fn record_http_metrics(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = crate::metrics::method_label(request.method());
    // The template of the matched route, never the path a client chose.
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &response {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        metrics
            .http_requests
            .with_label_values(&[method, route.as_str(), &status.to_string()])
            .inc();
        metrics
            .http_duration
            .with_label_values(&[method, route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

/// Continues the caller's `traceparent` or starts a trace: handlers get it as
/// `web::ReqData<TraceContext>`, the request's log lines carry `trace_id`, and
/// the response says `traceparent` so a client can find its order's trace.
async fn trace_request(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    use tracing::Instrument;
    let incoming = request
        .headers()
        .get(crate::envelope::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    let trace = crate::trace::TraceContext::continue_or_start(incoming);
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.path(),
        trace_id = %trace.trace_id,
    );
    crate::telemetry::link_to_trace(&span, &trace);
    let header = actix_web::http::header::HeaderValue::from_str(&trace.to_string()).ok();
    request.extensions_mut().insert(trace);
    let mut response = next.call(request).instrument(span).await?;
    if let Some(value) = header {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(crate::envelope::TRACEPARENT),
            value,
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;

    #[test]
    fn connections_fit_in_the_descriptor_limit_beside_a_reserve() {
        assert_eq!(connections_per_worker(None, 2, 20_000), (20_000 - 1024) / 2);
        // A small limit keeps half for the rest of the process.
        assert_eq!(connections_per_worker(None, 2, 1024), 256);
        // A huge (or unlimited) limit is capped at actix's default.
        assert_eq!(connections_per_worker(None, 4, u64::MAX), 25_600);
    }

    #[test]
    fn an_asked_limit_is_kept_unless_descriptors_cannot_back_it() {
        let asked = |n| NonZeroUsize::new(n);
        assert_eq!(connections_per_worker(asked(500), 2, 20_000), 500);
        assert_eq!(connections_per_worker(asked(50_000), 2, 20_000), 9_488);
        assert_eq!(connections_per_worker(asked(50_000), 1, 1), 1);
    }
}
