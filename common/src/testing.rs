//! Test support (feature `testing`): run a service's real application on a
//! free port against a fresh database on the real local Postgres and the real
//! local Kafka. `make test` starts both; the addresses come from
//! `PG_ADMIN_URL` and `KAFKA_BOOTSTRAP_SERVERS` (local defaults otherwise).

use crate::app::{Application, Routes};
use crate::config::{ServiceConfig, ServiceDefaults};
use sqlx::migrate::Migrator;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::time::{Duration, Instant};

pub fn admin_url() -> String {
    std::env::var("PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:55432/postgres".into())
}

pub fn kafka_bootstrap_servers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A uniquely named database, dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create(prefix: &str) -> Self {
        let name = format!(
            "test_{}_{}",
            prefix.replace('-', "_"),
            uuid::Uuid::now_v7().simple()
        );
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach Postgres at {admin} (is `make up` running?): {e}")
        });
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create test database");
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("PG_ADMIN_URL must end with /<database>"),
        };
        Self { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        // Drop runs outside async context: use a private runtime on its own thread.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                        let _ = conn.execute(sql.as_str()).await;
                    }
                })
        })
        .join();
    }
}

/// A running service on a free port.
pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    /// A pool on the service's database, for assertions on its rows.
    pub pool: PgPool,
    pub http: reqwest::Client,
}

/// Spawns the service on a fresh database with the local Kafka.
pub async fn spawn_app(
    defaults: &ServiceDefaults,
    migrator: &'static Migrator,
    routes: Routes,
) -> TestApp {
    spawn_app_with(defaults, migrator, routes, |_| {}).await
}

/// Like [`spawn_app`], letting the test change the configuration first
/// (e.g. point Kafka at a port where nothing listens).
pub async fn spawn_app_with(
    defaults: &ServiceDefaults,
    migrator: &'static Migrator,
    routes: Routes,
    customise: impl FnOnce(&mut ServiceConfig),
) -> TestApp {
    crate::telemetry::init(crate::config::LogFormat::Text);
    let db = TestDatabase::create(defaults.database).await;
    let mut config = ServiceConfig::from_lookup(defaults, |_| None).expect("default configuration");
    config.http.port = 0;
    config.database.url = db.url.clone();
    config.kafka.bootstrap_servers = kafka_bootstrap_servers();
    config.readiness_timeout = Duration::from_secs(2);
    customise(&mut config);

    let app = Application::build(config, migrator, routes)
        .await
        .expect("build application");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let pool = PgPool::connect(&db.url)
        .await
        .expect("connect to test database");
    TestApp {
        address,
        db,
        pool,
        http: reqwest::Client::new(),
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request to the service")
    }

    /// Polls `/health/ready` until it answers `expected` or `within` elapses;
    /// returns the last status and JSON body either way.
    pub async fn readiness_until(
        &self,
        expected: u16,
        within: Duration,
    ) -> (u16, serde_json::Value) {
        let deadline = Instant::now() + within;
        loop {
            let response = self.get("/health/ready").await;
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("readiness body is JSON");
            if status == expected || Instant::now() >= deadline {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Tables in the `public` schema of the test database, sorted.
pub async fn table_names(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        .fetch_all(pool)
        .await
        .expect("list tables")
}
