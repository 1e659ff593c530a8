//! Test support (feature `testing`): run a service's real application, or
//! its binary in a child process, on a free port against a fresh database on
//! the real local Postgres and the real local Kafka. `make test` starts both; the addresses come from
//! `PG_ADMIN_URL` and `KAFKA_BOOTSTRAP_SERVERS` (local defaults otherwise).

use crate::app::{Application, ServiceDefinition};
use crate::config::ServiceConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::time::{Duration, Instant};

pub fn admin_url() -> String {
    std::env::var("PG_ADMIN_URL").unwrap_or_else(|_| crate::local::admin_url())
}

pub fn kafka_bootstrap_servers() -> String {
    kafka_config().bootstrap_servers
}

/// The cluster the tests use, read from the environment as a service reads
/// it (`KAFKA_BOOTSTRAP_SERVERS`, and the security settings on a secured
/// stack), without a prefix.
pub fn kafka_config() -> crate::config::KafkaConfig {
    crate::config::KafkaConfig::from_env().expect("the Kafka settings in the environment")
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
        let url = with_database(&admin, &name);
        Self { name, url }
    }
}

/// `admin` (`PG_ADMIN_URL`) with its database swapped for `name`, its
/// parameters kept: on the secured stack they ask for TLS and name the CA,
/// whose path has slashes of its own.
fn with_database(admin: &str, name: &str) -> String {
    let (base, parameters) = match admin.split_once('?') {
        Some((base, parameters)) => (base, format!("?{parameters}")),
        None => (admin, String::new()),
    };
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}{parameters}"),
        None => panic!("PG_ADMIN_URL must end with /<database>"),
    }
}

/// Runs async clean-up from `Drop`, which may be called inside a runtime that
/// must not block: a private runtime on its own thread.
fn block_on_own_thread(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("clean-up runtime")
            .block_on(work)
    })
    .join();
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        block_on_own_thread(async move {
            if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                let _ = conn.execute(sql.as_str()).await;
            }
        });
    }
}

/// A private set of the catalogue's topics (`t<uuid>.order-created`, ...),
/// so tests running at once never see each other's records. Deleted on drop.
pub struct TestTopics {
    pub prefix: String,
}

impl TestTopics {
    pub async fn create() -> Self {
        let prefix = format!("t{}.", uuid::Uuid::now_v7().simple());
        let admin = admin_client();
        let topics: Vec<String> = crate::topics::catalogue()
            .iter()
            .map(|t| format!("{prefix}{}", t.name))
            .collect();
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|name| NewTopic::new(name, 2, TopicReplication::Fixed(1)))
            .collect();
        for result in admin
            .create_topics(&new, &AdminOptions::new())
            .await
            .expect("create test topics")
        {
            result.expect("test topic created");
        }
        Self { prefix }
    }

    /// The local broker with this set's prefix, as a service or sagactl sees it.
    pub fn kafka(&self) -> crate::config::KafkaConfig {
        crate::config::KafkaConfig {
            topic_prefix: self.prefix.clone(),
            ..kafka_config()
        }
    }

    /// The physical name of a catalogue topic in this set.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

impl Drop for TestTopics {
    fn drop(&mut self) {
        let topics: Vec<String> = crate::topics::catalogue()
            .iter()
            .map(|t| self.topic(&t.name))
            .collect();
        block_on_own_thread(async move {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            let _ = admin_client()
                .delete_topics(&refs, &AdminOptions::new())
                .await;
        });
    }
}

fn admin_client() -> AdminClient<DefaultClientContext> {
    admin_config().create().expect("Kafka admin client")
}

/// A running service on a free port.
pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    /// A pool on the service's database, for assertions on its rows.
    pub pool: PgPool,
    pub http: reqwest::Client,
    /// The admin token the service was given (a random one unless the test
    /// changed it), which [`TestApp::put_json`] sends.
    pub admin_token: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Spawns the service on a fresh database, with the local Kafka and `topics`,
/// and waits until it is ready.
pub async fn spawn_app(definition: ServiceDefinition, topics: &TestTopics) -> TestApp {
    let app = spawn_app_with(definition, topics, |_| {}).await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "service not ready: {body}");
    app
}

/// Like [`spawn_app`], letting the test change the configuration first
/// (e.g. point Kafka at a port where nothing listens).
pub async fn spawn_app_with(
    definition: ServiceDefinition,
    topics: &TestTopics,
    customise: impl FnOnce(&mut ServiceConfig),
) -> TestApp {
    let db = TestDatabase::create(definition.defaults.database).await;
    start(definition, topics, db, customise).await
}

/// Like [`spawn_app`], on a database the test prepared (e.g. one migrated
/// only up to an older version, with rows of that version in it).
pub async fn spawn_app_on(
    definition: ServiceDefinition,
    topics: &TestTopics,
    db: TestDatabase,
) -> TestApp {
    let app = start(definition, topics, db, |_| {}).await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "service not ready: {body}");
    app
}

async fn start(
    definition: ServiceDefinition,
    topics: &TestTopics,
    db: TestDatabase,
    customise: impl FnOnce(&mut ServiceConfig),
) -> TestApp {
    std::mem::forget(crate::telemetry::init(
        "test",
        crate::config::LogFormat::Text,
    ));
    let mut config =
        ServiceConfig::from_lookup(&definition.defaults, |_| None).expect("default configuration");
    config.http.port = 0;
    config.database.url = db.url.clone().into();
    config.kafka = topics.kafka();
    config.readiness_timeout = Duration::from_secs(2);
    config.shutdown_timeout = Duration::from_secs(5);
    config.outbox.poll_interval = Duration::from_millis(100);
    config.admin_token = Some(format!("test-admin-{}", uuid::Uuid::new_v4().simple()).into());
    customise(&mut config);
    let admin_token = config
        .admin_token
        .as_ref()
        .map(|t| contract::secret::ExposeSecret::expose_secret(t).to_owned());

    let app = Application::build(config, definition)
        .await
        .expect("build application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let pool = PgPool::connect(&db.url)
        .await
        .expect("connect to test database");
    TestApp {
        address,
        db,
        pool,
        // Idle connections are dropped well before the server's 5 s
        // keep-alive closes them: reusing one just as the server closes it
        // fails the request (an incomplete message) for no fault of the code.
        http: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client"),
        admin_token,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// Shuts the service down gracefully (as on SIGTERM), keeping its database.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("service task").expect("clean shutdown");
        }
    }

    /// Starts the service again on the same database (after [`TestApp::stop`]).
    pub async fn restart(self, definition: ServiceDefinition, topics: &TestTopics) -> TestApp {
        let TestApp { db, mut stop, .. } = self;
        assert!(stop.take().is_none(), "stop() the app before restarting it");
        start(definition, topics, db, |_| {}).await
    }

    /// Sends `method path`, as `build` completes the request.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        build(self.http.request(method, format!("{}{path}", self.address)))
            .send()
            .await
            .expect("request to the service")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, |r| r.json(body))
            .await
    }

    /// Posts `body` as it is, labelled `content_type`; returns the status and
    /// the JSON body (null when there is none).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> (u16, serde_json::Value) {
        let response = self
            .send(reqwest::Method::POST, path, |r| {
                r.header("content-type", content_type).body(body)
            })
            .await;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// `PUT path` with `body`, as an operator sends it: with the admin
    /// token (`Authorization: Bearer`) the service was given, if any.
    pub async fn put_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        let admin = self.admin_token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = admin.iter().map(|a| ("authorization", &a[..])).collect();
        self.put_json_with_headers(path, body, &headers).await
    }

    /// `PUT path` with `body` and exactly `headers`: no admin token unless
    /// one of them carries it.
    pub async fn put_json_with_headers(
        &self,
        path: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, |r| {
            headers
                .iter()
                .fold(r.json(body), |r, (k, v)| r.header(*k, *v))
        })
        .await
    }

    /// Polls `GET path` until `done` holds for its JSON body, or `within` elapses.
    pub async fn get_until(
        &self,
        path: &str,
        within: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let body: serde_json::Value = self.get(path).await.json().await.unwrap_or_default();
            if done(&body) || Instant::now() >= deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, |r| r).await
    }

    /// `GET path`'s JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    /// The count `sql` (`SELECT count(*) ...`) finds in the service's database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
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

/// The fields a 4xx error body names, in order.
pub fn named_fields(error: &serde_json::Value) -> Vec<String> {
    error["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Tables in the `public` schema of the test database, sorted.
pub async fn table_names(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        .fetch_all(pool)
        .await
        .expect("list tables")
}

/// The plans Postgres makes for `sql` (a service's query, `$n` parameters)
/// executed with `arguments` (SQL literals, e.g. `'c-1', 20`): the custom
/// plan, and the generic plan it may switch to after five executions of a
/// prepared statement. Sequential scans are disabled, so a query no index
/// serves shows a Seq Scan (or another index) instead of the expected one.
pub async fn query_plans(database_url: &str, sql: &str, arguments: &str) -> [String; 2] {
    let mut conn = PgConnection::connect(database_url)
        .await
        .expect("connect for EXPLAIN");
    conn.execute("SET enable_seqscan = off")
        .await
        .expect("disable sequential scans");
    conn.execute(format!("PREPARE planned AS {sql}").as_str())
        .await
        .expect("prepare the query");
    let mut plans = Vec::new();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        conn.execute(format!("SET plan_cache_mode = {mode}").as_str())
            .await
            .expect("set plan_cache_mode");
        let lines: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN EXECUTE planned({arguments})"))
                .fetch_all(&mut conn)
                .await
                .expect("EXPLAIN");
        plans.push(format!("{mode}:\n{}", lines.join("\n")));
    }
    plans.try_into().expect("two plans")
}

/// Produces one raw record (for redelivery and poison-record tests).
pub async fn produce_raw(topic: &str, key: &str, headers: &[(&str, &str)], payload: &[u8]) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = admin_config()
        // Records up to the broker's default limit, for size tests.
        .set("message.max.bytes", "1048576")
        .create()
        .expect("producer");
    let headers = headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        })
    });
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(payload)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("record delivered");
}

/// Reads `topic` from the beginning until `count` records arrived or
/// `within` elapsed, and returns what arrived.
pub async fn read_topic(
    topic: &str,
    count: usize,
    within: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = admin_config()
        .set("group.id", format!("test-reader-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + within;
    let mut records = Vec::new();
    while records.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => records.push(m.detach()),
            Ok(Err(e)) => panic!("reading {topic}: {e}"),
            Err(_) => break,
        }
    }
    records
}

fn admin_config() -> ClientConfig {
    crate::kafka::client_config(&kafka_config(), "test-admin")
}

impl TestApp {
    /// Polls one series until it equals `expected` (counters move just after
    /// the commit a test can observe), 20 s at most; returns the last value.
    pub async fn metric_eventually(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        expected: f64,
    ) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut value = self.metric(name, labels).await;
        while value != expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            value = self.metric(name, labels).await;
        }
        value
    }

    /// The value of one series from `GET /metrics` (0 when absent), matched
    /// by name and by every label given.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self
            .get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(series, _)| series.split('{').next() == Some(name))
            .filter(|(series, _)| {
                labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, value)| value.parse::<f64>().expect("metric value"))
            .sum()
    }
}

/// The log lines a test's services write, as JSON objects. Call
/// [`LogCapture::install`] before the first service starts, in a process of
/// its own (see [`run_alone_in_child_process`]): the subscriber is global to
/// the process.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn install() -> Self {
        use tracing_subscriber::util::SubscriberInitExt;
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info,sqlx=warn,actix_server=warn")
            .with_writer(move || writer.clone())
            .finish()
            .try_init()
            .expect("the first subscriber of this test binary");
        capture
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Every line written so far that has `field` equal to `value`.
    pub fn lines_with(&self, field: &str, value: &str) -> Vec<serde_json::Value> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line[field] == value)
            .collect()
    }
}

/// The readiness every service must reach: 200 once its database is migrated
/// (holding exactly `tables`, sorted) and Kafka answers. Returns the body.
pub async fn assert_ready_and_migrated(
    app: &TestApp,
    service: &str,
    tables: &[&str],
) -> serde_json::Value {
    let (status, body) = app.readiness_until(200, Duration::from_secs(20)).await;
    assert_eq!(status, 200, "readiness body: {body}");
    assert_eq!(body["service"], service);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["up"], true);
    assert_eq!(body["checks"]["kafka"]["up"], true);
    assert_eq!(table_names(&app.pool).await, tables);
    body
}

/// The health tests every service passes, written once: readiness (with the
/// service's `name` and the `tables` its migrations leave) and liveness.
/// `definition` is an expression giving the service's `ServiceDefinition`.
#[macro_export]
macro_rules! health_tests {
    ($definition:expr, $name:expr, $tables:expr $(,)?) => {
        #[tokio::test]
        async fn ready_answers_200_once_its_database_is_migrated_and_kafka_answers() {
            let topics = $crate::testing::TestTopics::create().await;
            let app = $crate::testing::spawn_app($definition, &topics).await;
            $crate::testing::assert_ready_and_migrated(&app, $name, &$tables).await;
        }

        #[tokio::test]
        async fn live_answers_200_while_the_process_runs() {
            let topics = $crate::testing::TestTopics::create().await;
            let app = $crate::testing::spawn_app($definition, &topics).await;
            let response = app.get("/health/live").await;
            assert_eq!(response.status().as_u16(), 200);
        }
    };
}

/// Environment variable that marks the child process of
/// [`run_alone_in_child_process`].
const ALONE: &str = "COMMON_TESTING_ALONE";

/// For a test that needs the process to itself, such as one that installs
/// [`LogCapture`] (the log subscriber is global, and any service a sibling
/// test starts first takes it). `test` is `concat!(module_path!(), "::name")`.
/// In the test binary's own process this runs `test` alone in a child process
/// of the same binary, asserts it passed, and returns false; in that child it
/// returns true: the caller then does the test's work.
pub fn run_alone_in_child_process(test: &str) -> bool {
    // libtest names a test by its path without the crate's name.
    let name = test.split_once("::").map_or(test, |(_, name)| name);
    if std::env::var(ALONE).as_deref() == Ok(name) {
        return true;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ALONE, name)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name}, alone in a child process, failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A filter matching nothing passes too: make sure the test ran.
    assert!(stdout.contains("1 passed"), "{name} did not run:\n{stdout}");
    false
}

/// A TCP port nothing listens on now, chosen by the kernel.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A service's real binary in a child process, as a user runs it: on a free
/// port, a fresh database, the local Kafka and a private set of topics, with
/// its output kept. The child is killed when this is dropped (`kill_on_drop`),
/// however the test ends.
pub struct ServiceProcess {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    child: tokio::process::Child,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    // No idle connections: one kept open would hold up the graceful shutdown.
    http: reqwest::Client,
    _db: TestDatabase,
}

impl ServiceProcess {
    /// Starts `binary` (`env!("CARGO_BIN_EXE_<name>")`), with `env` on top of
    /// the settings above. Does not wait for it: see [`ServiceProcess::status_until`].
    pub async fn spawn(binary: &str, topics: &TestTopics, env: &[(&str, &str)]) -> Self {
        let name = std::path::Path::new(binary)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("service");
        let db = TestDatabase::create(name).await;
        let port = free_port();
        let mut child = tokio::process::Command::new(binary)
            .env("HTTP_PORT", port.to_string())
            .env("DATABASE_URL", &db.url)
            .env("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers())
            .env("KAFKA_TOPIC_PREFIX", &topics.prefix)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        // Read both pipes as the child writes, so a full pipe never blocks it.
        let output = std::sync::Arc::default();
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), &output),
            collect(child.stderr.take().expect("piped stderr"), &output),
        ];
        Self {
            address: format!("http://127.0.0.1:{port}"),
            child,
            output,
            readers,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("HTTP client"),
            _db: db,
        }
    }

    /// `GET path` with `headers`.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        headers
            .iter()
            .fold(
                self.http.get(format!("{}{path}", self.address)),
                |r, (k, v)| r.header(*k, *v),
            )
            .send()
            .await
    }

    /// `PUT path` with the JSON `body` and `headers`.
    pub async fn put_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> reqwest::Result<reqwest::Response> {
        headers
            .iter()
            .fold(
                self.http.put(format!("{}{path}", self.address)).json(body),
                |r, (k, v)| r.header(*k, *v),
            )
            .send()
            .await
    }

    /// Polls `GET path` until it answers `expected`, 60 s at most; returns
    /// the last status (0 while nothing listens). Panics, with the process's
    /// output, if it exits meanwhile.
    pub async fn status_until(&mut self, path: &str, expected: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = match self.get(path, &[]).await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            if status == expected || Instant::now() >= deadline {
                return status;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                let output = self.output_to_the_end().await;
                panic!("the service exited ({exit}) before answering:\n{output}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Sends SIGTERM, as `make down` and Kubernetes do, and waits for the
    /// process to exit (60 s at most); returns its status and all its output.
    pub async fn terminate(&mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("the service is still running");
        // SAFETY: kill(2) on our own child's pid touches no memory.
        let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        assert_eq!(
            sent,
            0,
            "SIGTERM to {pid}: {}",
            std::io::Error::last_os_error()
        );
        let Ok(status) = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await
        else {
            panic!("no exit 60 s after SIGTERM:\n{}", self.output());
        };
        let status = status.expect("wait for the service");
        (status, self.output_to_the_end().await)
    }

    /// Everything the process wrote so far, stdout and stderr.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// The output of a process that has exited: once both pipes are read to
    /// their end, so its last lines are in.
    async fn output_to_the_end(&mut self) -> String {
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        self.output()
    }
}

/// Appends all that `pipe` yields to `into`, in a task of its own.
fn collect(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::AsyncReadExt;
    let into = into.clone();
    tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buffer).await {
            into.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_url_keeps_the_admin_urls_tls_parameters() {
        assert_eq!(
            with_database("postgres://p:p@127.0.0.1:1/postgres", "t1"),
            "postgres://p:p@127.0.0.1:1/t1"
        );
        assert_eq!(
            with_database(
                "postgres://p:p@127.0.0.1:1/postgres?sslmode=verify-full&sslrootcert=/x/ca.pem",
                "t1"
            ),
            "postgres://p:p@127.0.0.1:1/t1?sslmode=verify-full&sslrootcert=/x/ca.pem"
        );
    }
}
