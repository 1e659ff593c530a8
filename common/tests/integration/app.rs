//! The shared application skeleton against the real Postgres and Kafka:
//! readiness (and what it says when either is down), the outbox relay and
//! the cleanup of expired outbox and inbox rows.

use common::app::ServiceDefinition;
use common::config::ServiceDefaults;
use common::testing::{assert_ready_and_migrated, spawn_app, spawn_app_with, TestTopics};
use sqlx::migrate::Migrator;
use std::time::Duration;

pub(crate) const PROBE: ServiceDefaults = ServiceDefaults {
    name: "probe-service",
    http_port: 0,
    database: "probe",
};
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("tests/migrations");

fn probe() -> ServiceDefinition {
    ServiceDefinition {
        defaults: PROBE,
        migrator: &MIGRATOR,
        routes: std::sync::Arc::new(|_| {}),
        consumers: vec![],
        metrics: common::metrics::Metrics::new("probe-service"),
    }
}

/// An event only these tests publish: the relay does not care what it carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct Probe {
    n: i32,
}

impl common::events::WithinLimits for Probe {
    fn check_limits(&self) -> Result<(), String> {
        Ok(())
    }
}

impl common::events::Event for Probe {
    const TYPE: &'static str = "Probe";
    const VERSION: i32 = 1;
    const TOPIC: &'static str = common::topics::ORDER_CREATED;
    /// One key for all: their order must hold.
    fn order_id(&self) -> uuid::Uuid {
        uuid::Uuid::nil()
    }
}

/// A TCP port on loopback where nothing listens.
const DEAD_ADDRESS: &str = "127.0.0.1:9";

#[tokio::test]
async fn ready_answers_200_and_migrations_ran_when_both_dependencies_answer() {
    let topics = TestTopics::create().await;
    let app = spawn_app(probe(), &topics).await;

    let body = assert_ready_and_migrated(
        &app,
        "probe-service",
        &[
            "_sqlx_migrations",
            "dead_letters",
            "inbox",
            "outbox",
            "probe",
            "probe_effects",
        ],
    )
    .await;

    assert_eq!(body["down"], serde_json::json!([]));
}

#[tokio::test]
async fn ready_answers_503_naming_kafka_when_no_broker_answers() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| {
        c.kafka.bootstrap_servers = DEAD_ADDRESS.into();
    })
    .await;

    // Wait for migrations, so that only Kafka is down.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = app.readiness_until(200, Duration::ZERO).await;
        if body["checks"]["database"]["up"] == true || std::time::Instant::now() > deadline {
            break (status, body);
        }
    };

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["down"], serde_json::json!(["kafka"]), "{body}");
    assert!(body["checks"]["kafka"]["error"].is_string(), "{body}");
    assert_eq!(app.get("/health/live").await.status().as_u16(), 200);
}

/// What answers a Kubernetes Service address before its endpoints exist may
/// be anything (here, an HTTP server): the service must wait that out, not
/// stay unready for good.
#[tokio::test]
async fn garbage_on_the_database_port_at_start_is_waited_out_until_postgres_answers() {
    use contract::secret::ExposeSecret;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap();
    let postgres_answers = Arc::new(AtomicBool::new(false));
    let topics = TestTopics::create().await;
    let mut postgres = String::new();
    let app = spawn_app_with(probe(), &topics, |c| {
        let url = c.database.url.expose_secret().to_owned();
        // postgres://user:password@HOST:PORT/db -> the same through `front`.
        let (credentials, rest) = url.split_once('@').unwrap();
        let (address, path) = rest.split_once('/').unwrap();
        postgres = address.to_owned();
        c.database.url = format!("{credentials}@{front}/{path}").into();
    })
    .await;
    let answers = postgres_answers.clone();
    let target = postgres.clone();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            if answers.load(Ordering::SeqCst) {
                let target = target.clone();
                tokio::spawn(async move {
                    let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            } else {
                use tokio::io::AsyncWriteExt;
                let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        }
    });

    let (status, body) = app.readiness_until(200, Duration::from_secs(3)).await;
    assert_eq!(
        status, 503,
        "ready while the database port answers HTTP: {body}"
    );
    assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");
    postgres_answers.store(true, Ordering::SeqCst);

    let tables = [
        "_sqlx_migrations",
        "dead_letters",
        "inbox",
        "outbox",
        "probe",
        "probe_effects",
    ];
    assert_ready_and_migrated(&app, "probe-service", &tables).await;
}

#[tokio::test]
async fn ready_answers_503_naming_the_database_when_postgres_is_unreachable() {
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| {
        c.database.url = format!("postgres://probe:probe@{DEAD_ADDRESS}/probe").into();
    })
    .await;

    let (status, body) = app.readiness_until(503, Duration::from_secs(10)).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");
    assert_eq!(body["checks"]["kafka"]["up"], true, "{body}");
}

#[tokio::test]
async fn the_relay_publishes_rows_in_order_with_the_envelope_and_cleanup_bounds_both_tables() {
    use common::outbox::Outbox;
    use rdkafka::message::Message;
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| {
        // Kept 1 s after publication, then removed by the cleanup.
        c.outbox.outbox_retention = Duration::from_secs(1);
        c.outbox.inbox_retention = Duration::from_secs(3600);
        c.outbox.cleanup_interval = Duration::from_millis(300);
        // Twenty rows make seven batches chained in one transaction.
        c.outbox.batch_size = 3;
    })
    .await;
    app.readiness_until(200, Duration::from_secs(30)).await;

    let outbox = Outbox::new("probe-service");
    let mut tx = app.pool.begin().await.unwrap();
    let mut event_ids = Vec::new();
    for n in 0..20 {
        let event_id = outbox.add(&mut tx, &Probe { n }, None).await.unwrap();
        event_ids.push(event_id.to_string());
    }
    sqlx::query("INSERT INTO inbox (consumer_group, event_id, event_type, received_at) VALUES ('g', gen_random_uuid(), 'X', now() - interval '2 hours'), ('g', gen_random_uuid(), 'X', now())")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let records = common::testing::read_topic(
        &topics.topic(common::topics::ORDER_CREATED),
        20,
        Duration::from_secs(20),
    )
    .await;
    let published: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap()).unwrap();
            let event_id = common::kafka::header_text(r, common::envelope::EVENT_ID).unwrap();
            (body["n"].to_string(), event_id.to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> =
        (0..20).map(|n: i32| n.to_string()).zip(event_ids).collect();
    assert_eq!(
        published, expected,
        "same key: published once each, in insertion order"
    );

    // Published outbox rows (retention 1 s) and the 2-hour-old inbox row go; the fresh inbox row stays.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && (app.count("SELECT count(*) FROM outbox").await > 0
            || app.count("SELECT count(*) FROM inbox").await > 1)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM inbox").await, 1);
}

#[tokio::test]
async fn a_backlog_of_many_batches_is_published_once_each_in_order_and_deleted() {
    use common::outbox::Outbox;
    use rdkafka::message::Message;
    const ROWS: i32 = 120;
    let topics = TestTopics::create().await;
    // 120 rows committed at once, in batches of 7: 18 batches, chained over
    // three relay transactions.
    let app = spawn_app_with(probe(), &topics, |c| c.outbox.batch_size = 7).await;
    app.readiness_until(200, Duration::from_secs(30)).await;
    let outbox = Outbox::new("probe-service");
    let mut tx = app.pool.begin().await.unwrap();
    for n in 0..ROWS {
        outbox.add(&mut tx, &Probe { n }, None).await.unwrap();
    }
    tx.commit().await.unwrap();
    outbox.committed();

    let records = common::testing::read_topic(
        &topics.topic(common::topics::ORDER_CREATED),
        ROWS as usize,
        Duration::from_secs(30),
    )
    .await;
    let published: Vec<i64> = records
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap()).unwrap();
            body["n"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(
        published,
        (0..i64::from(ROWS)).collect::<Vec<_>>(),
        "same key: published once each, in insertion order"
    );
    let published = app
        .metric_eventually("outbox_published_total", &[], f64::from(ROWS))
        .await;
    assert_eq!(published, f64::from(ROWS));
    assert_eq!(
        app.count("SELECT count(*) FROM outbox").await,
        0,
        "published rows are deleted"
    );
}

#[tokio::test]
async fn outbox_rows_stay_pending_while_kafka_is_unreachable() {
    use common::outbox::Outbox;
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| {
        c.kafka.bootstrap_servers = DEAD_ADDRESS.into();
    })
    .await;
    // Wait for migrations (only Kafka is down).
    app.get_until("/health/ready", Duration::from_secs(20), |b| {
        b["checks"]["database"]["up"] == true
    })
    .await;
    let mut conn = app.pool.acquire().await.unwrap();
    Outbox::new("probe-service")
        .add(&mut conn, &Probe { n: 0 }, None)
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn with_the_relay_disabled_events_wait_in_the_outbox_and_nothing_is_published() {
    use common::outbox::Outbox;
    let topics = TestTopics::create().await;
    let app = spawn_app_with(probe(), &topics, |c| c.relay_enabled = false).await;
    app.readiness_until(200, Duration::from_secs(30)).await;

    let outbox = Outbox::new("probe-service");
    let mut tx = app.pool.begin().await.unwrap();
    for n in 0..3 {
        outbox.add(&mut tx, &Probe { n }, None).await.unwrap();
    }
    tx.commit().await.unwrap();
    outbox.committed();

    let records = common::testing::read_topic(
        &topics.topic(common::topics::ORDER_CREATED),
        1,
        Duration::from_secs(4),
    )
    .await;
    assert!(records.is_empty(), "published {} records", records.len());
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 3);
}
