//! A flood of refusals writes a bounded number of log lines: one per
//! `LOG_REPEAT_INTERVAL_SECS`, each carrying how many were suppressed since
//! the last, and the suppressed ones counted in `log_lines_suppressed_total`.
//! In a process of its own: it installs the process's log subscriber.

use crate::support::AtCapacity;
use common::testing::{run_alone_in_child_process, spawn_app_with, LogCapture, TestTopics};
use futures_util::stream::{self, StreamExt};
use order_service::testing::order_body;
use std::time::{Duration, Instant};

const FLOOD: usize = 3_000;
const INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_flood_of_refusals_logs_one_line_per_interval_with_the_suppressed_count() {
    if !run_alone_in_child_process(concat!(
        module_path!(),
        "::a_flood_of_refusals_logs_one_line_per_interval_with_the_suppressed_count"
    )) {
        return;
    }
    let logs = LogCapture::install();
    let topics = TestTopics::create().await;
    let app = spawn_app_with(
        order_service::definition(Default::default()),
        &topics,
        |c| {
            c.database.max_connections = 4;
            c.database.acquire_timeout = Duration::from_secs(60);
            c.http.admission_max_in_flight = 2;
            c.log_repeat_interval = INTERVAL;
        },
    )
    .await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "{body}");
    let capacity = AtCapacity::fill(&app, 2).await;

    let started = Instant::now();
    let statuses: Vec<u16> = stream::iter(0..FLOOD)
        .map(|_| async {
            let response = app.post_json("/api/orders", &order_body("c-2")).await;
            response.status().as_u16()
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let flood_took = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 503), "every write refused");

    // One more refusal after the interval writes the line that reports what
    // the last interval suppressed.
    tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
    let last = app.post_json("/api/orders", &order_body("c-2")).await;
    assert_eq!(last.status().as_u16(), 503);
    capacity.release().await;

    let refused = FLOOD + 1;
    assert_eq!(
        app.metric("admission_refused_total", &[]).await,
        refused as f64
    );
    let lines = logs.lines_with("kind", "admission_refused");
    let at_most = flood_took.as_secs() as usize / INTERVAL.as_secs() as usize + 2;
    assert!(
        !lines.is_empty() && lines.len() <= at_most,
        "{} lines for {refused} refusals in {flood_took:?} (at most {at_most})",
        lines.len()
    );
    let suppressed: u64 = lines
        .iter()
        .map(|line| line["suppressed"].as_u64().expect("a suppressed count"))
        .sum();
    assert_eq!(
        lines.len() as u64 + suppressed,
        refused as u64,
        "every refusal is a line or counted in the next one"
    );
    assert_eq!(
        app.metric(
            "log_lines_suppressed_total",
            &[("kind", "admission_refused")]
        )
        .await,
        suppressed as f64
    );
}
