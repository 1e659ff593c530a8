//! Building and running a service: the same code path for `main` and tests.
//!
//! Start-up never waits for Postgres or Kafka: the HTTP server comes up at
//! once (liveness 200, readiness 503), migrations run in the background as
//! soon as the database answers, and readiness turns 200 when both answer.

use crate::config::ServiceConfig;
use crate::health::{self, Readiness};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use rdkafka::producer::FutureProducer;
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

/// Adds a service's own routes (and app data) next to the shared ones.
pub type Routes = fn(&mut web::ServiceConfig);

pub struct Application {
    port: u16,
    server: Server,
    readiness: Arc<Readiness>,
    pool: PgPool,
    service: &'static str,
}

impl Application {
    /// Binds the listener (port 0 picks a free port), creates the pool and
    /// the Kafka producer, and starts migrations in the background.
    pub async fn build(
        config: ServiceConfig,
        migrator: &'static Migrator,
        routes: Routes,
    ) -> anyhow::Result<Self> {
        let address = format!("{}:{}", config.http.host, config.http.port);
        let listener = TcpListener::bind(&address)
            .with_context(|| format!("Failed to bind HTTP listener on {address}"))?;
        let port = listener.local_addr()?.port();

        let pool = crate::db::connect_lazy(&config.database)
            .context("Failed to configure the database pool")?;
        let producer: FutureProducer =
            crate::kafka::create_producer(&config.kafka, config.service_name)
                .context("Failed to create the Kafka producer")?;
        let readiness = Readiness::new(
            config.service_name,
            pool.clone(),
            producer.clone(),
            config.readiness_timeout,
        );

        let migrations_readiness = readiness.clone();
        let migrations_pool = pool.clone();
        tokio::spawn(async move {
            match crate::db::migrate_when_reachable(&migrations_pool, migrator).await {
                Ok(()) => {
                    tracing::info!("database migrations applied");
                    migrations_readiness.migrations_done();
                }
                Err(e) => {
                    tracing::error!(error = %e, "database migrations failed; the service stays unready");
                    migrations_readiness.migrations_failed(e.to_string());
                }
            }
        });

        let readiness_data = web::Data::from(readiness.clone());
        let pool_data = web::Data::new(pool.clone());
        let producer_data = web::Data::new(producer);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(readiness_data.clone())
                .app_data(pool_data.clone())
                .app_data(producer_data.clone())
                .configure(health::configure)
                .configure(routes)
        })
        // We handle signals ourselves: readiness must turn 503 before the server stops.
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .listen(listener)?
        .run();

        tracing::info!(service = config.service_name, %address, port, "listening");
        Ok(Self {
            port,
            server,
            readiness,
            pool,
            service: config.service_name,
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
pub async fn run_service(
    defaults: &crate::config::ServiceDefaults,
    migrator: &'static Migrator,
    routes: Routes,
) -> anyhow::Result<()> {
    let config = ServiceConfig::from_env(defaults)?;
    crate::telemetry::init(config.log_format);
    let app = Application::build(config, migrator, routes).await?;
    app.run_until_stopped().await
}
