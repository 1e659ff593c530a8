//! What the outbox costs in CPU, as a table against as logical decoding
//! messages in the WAL: the measurement behind "Outbox through the WAL" in
//! docs/performance.md.
//!
//! Table: the order's rows and two `OutboxBatch` rows per transaction, drained
//! by the service's own `Relay`. WAL: the same order rows and the two events as
//! `pg_logical_emit_message(true, ...)`, drained by a prototype relay that
//! peeks a `pgoutput` slot with the SQL interface under the relay's advisory
//! lock, publishes, and advances the slot past the last acknowledged commit.
//! Each phase prints the CPU seconds (user + system, from /proc) of Postgres
//! (the postmaster and all its children, backends and walsenders included),
//! of this process (writers and relay) and of Kafka's JVM, and per 10,000 events.
//!
//! ```sh
//! export STATE_DIR=... PG_ADMIN_URL=... KAFKA_BOOTSTRAP_SERVERS=...   # the stack's
//! PG_SERVER_OPTIONS="-c wal_level=logical" scripts/stack.sh up infra
//! cargo build --release -p common --example outbox_wal_bench
//! target/release/examples/outbox_wal_bench 200000 backlog-table backlog-wal backlog-stream
//! STEADY_RATE=1000 ROUND_MS=200 target/release/examples/outbox_wal_bench 0 steady-table steady-wal steady-stream
//! ```
//!
//! Phases (each on a fresh database, on topics of its own):
//! - `backlog-table`, `backlog-wal`: EVENTS events written (EVENTS/2 single-order
//!   transactions from 8 connections, nothing relaying), then drained to Kafka;
//!   the table then vacuumed, the slot then made to decode 10,000 transactions
//!   without events in its own database and in another one.
//! - `backlog-stream`: the same messages read once by `pg_recvlogical` (a
//!   walsender decoding as a relay on the replication protocol would; nothing
//!   is published).
//! - `steady-table`, `steady-wal`, `steady-stream`: STEADY_RATE orders/s (250)
//!   for STEADY_SECS (30) with the relay (or `pg_recvlogical`) running. The
//!   relay is woken after each commit and polls every 200 ms, or with ROUND_MS
//!   only polls, every ROUND_MS.

use chrono::{DateTime, SecondsFormat, Utc};
use common::config::OutboxConfig;
use common::events::{Event, OrderCreated, OrderLine, PaymentRequested};
use common::kafka::SagaProducer;
use common::metrics::Metrics;
use common::outbox::{Outbox, Relay};
use common::testing::{TestDatabase, TestTopics};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use sqlx::postgres::PgPoolOptions;
use sqlx::types::Decimal;
use sqlx::{Executor, PgPool};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const PUBLICATION: &str = "outbox_bench";
const PREFIX: &str = "outbox";
const WRITERS: usize = 8;
/// Decoded rows per peek: Begin, two messages and Commit per order, so 250
/// orders, the table relay's 500 events.
const PEEK_ROWS: i32 = 1_000;
/// The WAL relay's advisory lock (the table relay has its own).
const WAL_RELAY_LOCK: i64 = 0x7761_6c72; // "walr"
/// Wakes the WAL relay after a writer's commit, as `Outbox::committed` does the table's.
static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

// ---- CPU from /proc ----

/// CPU seconds (user + system, its reaped children's included) and parent of a process.
fn cpu_of(pid: u32) -> Option<(f64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (name) ": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let ticks: u64 = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .sum();
    // USER_HZ is 100 on every Linux ABI.
    Some((ticks as f64 / 100.0, fields[1].parse().ok()?))
}

fn pid_file(path: &str) -> u32 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {path}: is the stack of STATE_DIR running?"))
}

#[derive(Clone, Copy)]
struct Cpu {
    postgres: f64,
    this: f64,
    kafka: f64,
    at: Instant,
}

fn sample() -> Cpu {
    let state = std::env::var("STATE_DIR").expect("STATE_DIR: the stack's state directory");
    let postmaster = pid_file(&format!("{state}/postgres/postmaster.pid"));
    let kafka = pid_file(&format!("{state}/run/kafka.pid"));
    // Exited backends are in the postmaster's cutime; live ones are summed.
    let mut postgres = cpu_of(postmaster).map_or(0.0, |c| c.0);
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let pid = entry.file_name().to_str().and_then(|n| n.parse().ok());
        if let Some((cpu, ppid)) = pid.and_then(cpu_of) {
            if ppid == postmaster {
                postgres += cpu;
            }
        }
    }
    Cpu {
        postgres,
        this: cpu_of(std::process::id()).map_or(0.0, |c| c.0),
        kafka: cpu_of(kafka).map_or(0.0, |c| c.0),
        at: Instant::now(),
    }
}

fn report(what: &str, events: usize, start: Cpu) {
    let end = sample();
    let (pg, this, kafka) = (
        end.postgres - start.postgres,
        end.this - start.this,
        end.kafka - start.kafka,
    );
    let per = 10_000.0 / events.max(1) as f64;
    println!(
        "{what:<46} events={events:>7} wall={:>5.1}s | cpu s: postgres={pg:>6.2} this={this:>6.2} kafka={kafka:>6.2} | per 10k events: postgres={:.2} this={:.2} kafka={:.2} total={:.2}",
        (end.at - start.at).as_secs_f64(),
        pg * per,
        this * per,
        kafka * per,
        (pg + this + kafka) * per,
    );
}

// ---- writers ----

fn order_events() -> (OrderCreated, PaymentRequested) {
    let order_id = Uuid::now_v7();
    let price: Decimal = "12.50".parse().expect("a decimal");
    let items = (1..=2)
        .map(|n| OrderLine {
            product_id: format!("product-{n}"),
            name: format!("Product number {n}"),
            price,
            quantity: 2,
            subtotal: price * Decimal::from(2),
        })
        .collect();
    let total = price * Decimal::from(4);
    (
        OrderCreated {
            order_id,
            customer_id: "customer-42".into(),
            items,
            total_amount: total,
            currency: "EUR".into(),
            created_at: Utc::now(),
        },
        PaymentRequested {
            order_id,
            customer_id: "customer-42".into(),
            amount: total,
            currency: "EUR".into(),
        },
    )
}

/// An event as one logical decoding message: what an outbox row's columns hold.
#[derive(serde::Serialize, serde::Deserialize)]
struct WalEvent {
    event_id: Uuid,
    topic: String,
    key: String,
    event_type: String,
    event_version: i32,
    source: String,
    occurred_at: DateTime<Utc>,
    traceparent: Option<String>,
    payload: String,
}

fn wal_event<E: Event>(event: &E) -> Vec<u8> {
    serde_json::to_vec(&WalEvent {
        event_id: Uuid::now_v7(),
        topic: E::TOPIC.into(),
        key: event.key(),
        event_type: E::TYPE.into(),
        event_version: E::VERSION,
        source: "order-service".into(),
        occurred_at: Utc::now(),
        traceparent: None,
        payload: serde_json::to_string(event).expect("an event serialises"),
    })
    .expect("a message serialises")
}

/// Like order-service's tables, so the slot has their changes to decode too.
const SCHEMA: &str = "
    CREATE TABLE bench_orders (id UUID PRIMARY KEY, customer_id TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'PENDING',
      total_amount NUMERIC(14,2) NOT NULL, currency CHAR(3) NOT NULL,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
    CREATE INDEX ON bench_orders (customer_id, id);
    CREATE TABLE bench_order_items (order_id UUID NOT NULL REFERENCES bench_orders (id), line INT NOT NULL,
      product_id TEXT NOT NULL, name TEXT NOT NULL, quantity INT NOT NULL, unit_price NUMERIC(14,2) NOT NULL,
      PRIMARY KEY (order_id, line));";

const ORDER_SQL: &str = "
    WITH o AS (INSERT INTO bench_orders (id, customer_id, total_amount, currency) VALUES ($1, 'customer-42', 50, 'EUR'))
    INSERT INTO bench_order_items SELECT $1, n, 'product-' || n, 'Product number ' || n, 2, 12.50 FROM generate_series(1, 2) n";

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Table,
    Wal,
    /// The order's rows only: the other writes a slot decodes to find nothing.
    NoEvents,
}

/// One order-service-like transaction: the order, its two items and (but
/// with `NoEvents`) its two events.
async fn write_order(pool: &PgPool, outbox: &Outbox, transport: Transport) {
    let (created, requested) = order_events();
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(ORDER_SQL)
        .bind(created.order_id)
        .execute(&mut *tx)
        .await
        .expect("insert the order");
    match transport {
        Transport::Table => {
            let mut batch = outbox.batch();
            batch.push(&created, None).expect("an event");
            batch.push(&requested, None).expect("an event");
            batch.insert(&mut tx).await.expect("insert the outbox rows");
        }
        Transport::Wal => {
            sqlx::query(
                "SELECT count(pg_logical_emit_message(true, $2, m)) FROM unnest($1::bytea[]) WITH ORDINALITY AS u(m, n)",
            )
            .bind(vec![wal_event(&created), wal_event(&requested)])
            .bind(PREFIX)
            .execute(&mut *tx)
            .await
            .expect("emit the messages");
        }
        Transport::NoEvents => {}
    }
    tx.commit().await.expect("commit");
    outbox.committed();
    WAKE.notify_one();
}

/// `orders` transactions from WRITERS connections at once, as fast as they go.
async fn write_orders(pool: &PgPool, orders: usize, transport: Transport) {
    let outbox = Outbox::new("order-service");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (pool, outbox) = (pool.clone(), outbox.clone());
            let count = orders / WRITERS + usize::from(w < orders % WRITERS);
            tokio::spawn(async move {
                for _ in 0..count {
                    write_order(&pool, &outbox, transport).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
}

// ---- the WAL relay prototype ----

/// One pgoutput message (protocol 1, `messages` on) of those a publication
/// without tables sends.
enum Decoded<'a> {
    Begin { commit_time: DateTime<Utc> },
    Message { content: &'a [u8] },
    Commit { end_lsn: u64 },
}

fn decode(data: &[u8]) -> Option<Decoded<'_>> {
    let u64_at = |at: usize| Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?));
    match *data.first()? {
        // Begin: final LSN, commit time (µs since 2000-01-01), xid.
        b'B' => {
            let postgres_epoch = DateTime::from_timestamp(946_684_800, 0)?;
            let micros = i64::try_from(u64_at(9)?).ok()?;
            Some(Decoded::Begin {
                commit_time: postgres_epoch + chrono::Duration::microseconds(micros),
            })
        }
        // Message: flags, LSN, prefix (NUL-terminated), length, content.
        b'M' => {
            let rest = data.get(10..)?;
            let rest = &rest[rest.iter().position(|b| *b == 0)? + 1..];
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            Some(Decoded::Message {
                content: rest.get(4..4 + len)?,
            })
        }
        // Commit: flags, commit LSN, end LSN, commit time.
        b'C' => Some(Decoded::Commit {
            end_lsn: u64_at(10)?,
        }),
        _ => None,
    }
}

fn headers(event: &WalEvent) -> OwnedHeaders {
    use common::envelope;
    let event_id = event.event_id.to_string();
    let version = event.event_version.to_string();
    let occurred_at = event
        .occurred_at
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut headers = OwnedHeaders::new_with_capacity(7);
    for (key, value) in [
        (envelope::EVENT_ID, event_id.as_str()),
        (envelope::EVENT_TYPE, event.event_type.as_str()),
        (envelope::EVENT_VERSION, version.as_str()),
        (envelope::SOURCE, event.source.as_str()),
        (envelope::OCCURRED_AT, occurred_at.as_str()),
        (envelope::CONTENT_TYPE, envelope::JSON),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    if let Some(traceparent) = &event.traceparent {
        headers = headers.insert(Header {
            key: envelope::TRACEPARENT,
            value: Some(traceparent.as_str()),
        });
    }
    headers
}

/// A logical slot on the bench database, dropped on drop (before the
/// database, which cannot be dropped while a slot uses it).
struct Slot {
    name: String,
    admin: String,
}

impl Slot {
    async fn create(pool: &PgPool) -> Self {
        pool.execute(format!("CREATE PUBLICATION {PUBLICATION}").as_str())
            .await
            .expect("create the publication");
        let name = format!("outbox_bench_{}", Uuid::now_v7().simple());
        sqlx::query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')")
            .bind(&name)
            .execute(pool)
            .await
            .expect("create the slot (wal_level=logical?)");
        Self {
            name,
            admin: common::testing::admin_url(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (name, admin) = (self.name.clone(), self.admin.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async move {
                    if let Ok(pool) = PgPoolOptions::new().connect(&admin).await {
                        let _ = sqlx::query("SELECT pg_drop_replication_slot($1)")
                            .bind(&name)
                            .execute(&pool)
                            .await;
                    }
                })
        })
        .join();
    }
}

struct WalRelay {
    pool: PgPool,
    producer: SagaProducer,
    slot: String,
    topic_prefix: String,
    metrics: Arc<Metrics>,
}

impl WalRelay {
    /// One round: peek up to PEEK_ROWS decoded rows under the relay's lock,
    /// publish their events in order, and advance the slot past the last
    /// commit whose events were all acknowledged. Returns the events published.
    async fn round(&self) -> usize {
        let mut tx = self.pool.begin().await.expect("begin");
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
            "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2,
                    'proto_version', '1', 'publication_names', $3, 'messages', 'true')
              WHERE (SELECT pg_try_advisory_xact_lock($4))",
        )
        .bind(&self.slot)
        .bind(PEEK_ROWS)
        .bind(PUBLICATION)
        .bind(WAL_RELAY_LOCK)
        .fetch_all(&mut *tx)
        .await
        .expect("peek the slot");
        let mut deliveries = Vec::new();
        // (events enqueued up to this commit, its end LSN, its commit time)
        let mut commits = Vec::new();
        let mut commit_time = Utc::now();
        for (data,) in &rows {
            match decode(data) {
                Some(Decoded::Begin { commit_time: at }) => commit_time = at,
                Some(Decoded::Message { content }) => {
                    let event: WalEvent = serde_json::from_slice(content).expect("a WalEvent");
                    let topic = format!("{}{}", self.topic_prefix, event.topic);
                    let record = FutureRecord::to(&topic)
                        .key(&event.key)
                        .payload(&event.payload)
                        .headers(headers(&event));
                    match self.producer.send_result(record) {
                        Ok(delivery) => deliveries.push(delivery),
                        Err((e, _)) => panic!("enqueue: {e}"),
                    }
                }
                Some(Decoded::Commit { end_lsn }) => {
                    commits.push((deliveries.len(), end_lsn, commit_time))
                }
                None => {}
            }
        }
        let results = futures_util::future::join_all(deliveries).await;
        let acknowledged = results
            .iter()
            .take_while(|r| matches!(r, Ok(Ok(_))))
            .count();
        let done: Vec<_> = commits
            .into_iter()
            .take_while(|(upto, _, _)| *upto <= acknowledged)
            .collect();
        let Some(&(published, end_lsn, _)) = done.last() else {
            return 0;
        };
        sqlx::query("SELECT pg_replication_slot_advance($1, $2::pg_lsn)")
            .bind(&self.slot)
            .bind(format!("{:X}/{:X}", end_lsn >> 32, end_lsn & 0xffff_ffff))
            .execute(&mut *tx)
            .await
            .expect("advance the slot");
        tx.commit().await.expect("commit");
        let now = Utc::now();
        let mut before = 0;
        for (upto, _, at) in done {
            let latency = (now - at).to_std().unwrap_or_default().as_secs_f64();
            for _ in before..upto {
                self.metrics.outbox_publish_latency.observe(latency);
            }
            before = upto;
        }
        self.metrics.outbox_published.inc_by(published as u64);
        published
    }
}

/// `pg_recvlogical` reading the slot from the replication protocol: decoding
/// once, as a walsender does, output thrown away.
fn recvlogical(db: &TestDatabase, slot: &str, end: Option<&str>) -> std::process::Command {
    // PG_BIN, else the newest Debian cluster's, as scripts/lib.sh picks them.
    let bin = std::env::var("PG_BIN").unwrap_or_else(|_| {
        let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        versions.sort_unstable();
        format!(
            "/usr/lib/postgresql/{}/bin",
            versions.last().expect("PG_BIN")
        )
    });
    let mut command = std::process::Command::new(format!("{bin}/pg_recvlogical"));
    command
        .args(["-d", &db.url, "--slot", slot, "--start", "--no-loop"])
        .args(["-o", "proto_version=1", "-o", "messages=true"])
        .args(["-o", &format!("publication_names={PUBLICATION}")])
        .args(["-f", "/dev/null", "-s", "1", "-F", "1"]);
    if let Some(end) = end {
        command.args(["--endpos", end]);
    }
    command
}

// ---- phases ----

async fn connect(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(WRITERS as u32 + 2)
        .connect(url)
        .await
        .expect("connect to the bench database")
}

async fn bench_database(outbox_table: bool) -> (TestDatabase, PgPool) {
    let db = TestDatabase::create("outbox_bench").await;
    let pool = connect(&db.url).await;
    if outbox_table {
        common::db::service_migrator(&sqlx::migrate::Migrator::DEFAULT)
            .run(&pool)
            .await
            .expect("the outbox migrations");
    }
    pool.execute(SCHEMA).await.expect("the order tables");
    (db, pool)
}

fn relay_config(poll_interval: Duration) -> OutboxConfig {
    OutboxConfig {
        batch_size: 500,
        poll_interval,
        outbox_retention: Duration::ZERO,
        inbox_retention: Duration::from_secs(86_400),
        cleanup_interval: Duration::from_secs(60),
    }
}

fn table_relay(pool: &PgPool, outbox: Outbox, poll: Duration, topics: &TestTopics) -> Relay {
    let kafka = topics.kafka();
    Relay {
        pool: pool.clone(),
        producer: common::kafka::create_producer(&kafka, "outbox-bench").expect("a producer"),
        outbox,
        config: relay_config(poll),
        topic_prefix: topics.prefix.clone(),
        metrics: Metrics::new("outbox-bench"),
        kafka,
        client_id: "outbox-bench".into(),
    }
}

fn wal_relay(pool: &PgPool, slot: &Slot, topics: &TestTopics) -> WalRelay {
    WalRelay {
        pool: pool.clone(),
        producer: common::kafka::create_producer(&topics.kafka(), "outbox-bench")
            .expect("a producer"),
        slot: slot.name.clone(),
        topic_prefix: topics.prefix.clone(),
        metrics: Metrics::new("outbox-bench"),
    }
}

async fn until_published(metrics: &Metrics, events: usize) {
    while (metrics.outbox_published.get() as usize) < events {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn backlog_table(events: usize) {
    let topics = TestTopics::create().await;
    let (_db, pool) = bench_database(true).await;
    let start = sample();
    write_orders(&pool, events / 2, Transport::Table).await;
    report("table: write (order + 2 outbox rows)", events, start);

    let relay = table_relay(
        &pool,
        Outbox::new("order-service"),
        Duration::from_millis(200),
        &topics,
    );
    let metrics = relay.metrics.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let start = sample();
    let running = tokio::spawn(relay.run(stopped));
    until_published(&metrics, events).await;
    report("table: relay drains the backlog", events, start);
    let _ = stop.send(true);
    running.await.expect("the relay");

    let start = sample();
    pool.execute("VACUUM outbox").await.expect("vacuum");
    report("table: VACUUM outbox", events, start);
}

async fn backlog_wal(events: usize, stream: bool) {
    let topics = TestTopics::create().await;
    let (db, pool) = bench_database(false).await;
    let slot = Slot::create(&pool).await;
    let start = sample();
    write_orders(&pool, events / 2, Transport::Wal).await;
    report("wal: write (order + 2 messages)", events, start);

    if stream {
        let (end,): (String,) = sqlx::query_as("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&pool)
            .await
            .expect("the WAL position");
        let start = sample();
        let status = recvlogical(&db, &slot.name, Some(&end))
            .status()
            .expect("pg_recvlogical");
        assert!(status.success(), "pg_recvlogical: {status}");
        // Until the postmaster reaped the walsender (its CPU then in its cutime).
        tokio::time::sleep(Duration::from_secs(1)).await;
        report("wal: decoded once by pg_recvlogical", events, start);
        return;
    }

    let relay = wal_relay(&pool, &slot, &topics);
    let start = sample();
    let (mut published, mut rounds) = (0, 0);
    while published < events {
        published += relay.round().await;
        rounds += 1;
    }
    report(
        &format!("wal: relay drains the backlog, {rounds} peeks"),
        events,
        start,
    );

    // Transactions without events still have to be decoded, in this database
    // and, the WAL being the cluster's, in any other.
    const OTHERS: usize = 10_000;
    write_orders(&pool, OTHERS, Transport::NoEvents).await;
    let start = sample();
    assert_eq!(relay.round().await, 0);
    report("wal: one peek over 10k txns without events", OTHERS, start);
    let (_other, other_pool) = bench_database(false).await;
    write_orders(&other_pool, OTHERS, Transport::NoEvents).await;
    let start = sample();
    relay.round().await;
    report("wal: one peek over 10k txns of another db", OTHERS, start);
    other_pool.close().await;
    pool.close().await;
    drop(slot);
}

#[derive(Clone, Copy, PartialEq)]
enum Steady {
    Table,
    Wal,
    Stream,
}

async fn steady(kind: Steady, rate: u32, secs: u32, round: Option<Duration>) {
    let topics = TestTopics::create().await;
    let (db, pool) = bench_database(kind == Steady::Table).await;
    let slot = match kind {
        Steady::Table => None,
        _ => Some(Slot::create(&pool).await),
    };
    let outbox = Outbox::new("order-service");
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (metrics, running, mut receiver) = match (kind, &slot) {
        (Steady::Table, _) => {
            // With ROUND_MS the relay is not woken by commits, only polls.
            let (relay_outbox, poll) = match round {
                Some(interval) => (Outbox::new("order-service"), interval),
                None => (outbox.clone(), Duration::from_millis(200)),
            };
            let relay = table_relay(&pool, relay_outbox, poll, &topics);
            (
                relay.metrics.clone(),
                Some(tokio::spawn(relay.run(stopped))),
                None,
            )
        }
        (Steady::Wal, Some(slot)) => {
            let relay = wal_relay(&pool, slot, &topics);
            let metrics = relay.metrics.clone();
            let running = tokio::spawn(async move {
                while !*stopped.borrow() {
                    let published = relay.round().await;
                    if let Some(interval) = round {
                        tokio::time::sleep(interval).await;
                    } else if published == 0 {
                        tokio::select! {
                            () = WAKE.notified() => {}
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = stopped.changed() => {}
                        }
                    }
                }
            });
            (metrics, Some(running), None)
        }
        (_, slot) => {
            let slot = &slot.as_ref().expect("a slot").name;
            let child = recvlogical(&db, slot, None)
                .spawn()
                .expect("pg_recvlogical");
            (Metrics::new("outbox-bench"), None, Some(child))
        }
    };

    let orders = (rate * secs) as usize;
    let start = sample();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut writes = Vec::with_capacity(orders);
    for _ in 0..orders {
        tick.tick().await;
        let (pool, outbox) = (pool.clone(), outbox.clone());
        let transport = if kind == Steady::Table {
            Transport::Table
        } else {
            Transport::Wal
        };
        writes.push(tokio::spawn(async move {
            write_order(&pool, &outbox, transport).await
        }));
    }
    for write in writes {
        write.await.expect("a write");
    }
    let name = match kind {
        Steady::Table => "table",
        Steady::Wal => "wal",
        Steady::Stream => "wal, pg_recvlogical (no Kafka)",
    };
    let what = format!("{name}: {rate} orders/s, write + relay");
    if let Some(mut child) = receiver.take() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = child.kill();
        let _ = child.wait();
        report(&what, orders * 2, start);
    } else {
        until_published(&metrics, orders * 2).await;
        report(&what, orders * 2, start);
        let latency = &metrics.outbox_publish_latency;
        println!(
            "    mean commit -> acknowledgement {:.1} ms",
            latency.get_sample_sum() / latency.get_sample_count() as f64 * 1000.0
        );
    }
    let _ = stop.send(true);
    if let Some(running) = running {
        running.await.expect("the relay");
    }
    pool.close().await;
    drop(slot);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: outbox_wal_bench EVENTS PHASE... (backlog-table backlog-wal backlog-stream steady-table steady-wal steady-stream)";
    let events: usize = args.first().and_then(|a| a.parse().ok()).expect(usage);
    let number = |name: &str, default: u32| {
        std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}")))
    };
    let (rate, secs) = (number("STEADY_RATE", 250), number("STEADY_SECS", 30));
    let round = std::env::var("ROUND_MS")
        .ok()
        .map(|ms| Duration::from_millis(ms.parse().expect("ROUND_MS")));
    for phase in &args[1..] {
        match phase.as_str() {
            "backlog-table" => backlog_table(events).await,
            "backlog-wal" => backlog_wal(events, false).await,
            "backlog-stream" => backlog_wal(events, true).await,
            "steady-table" => steady(Steady::Table, rate, secs, round).await,
            "steady-wal" => steady(Steady::Wal, rate, secs, round).await,
            "steady-stream" => steady(Steady::Stream, rate, secs, round).await,
            other => panic!("unknown phase {other}; {usage}"),
        }
    }
}
