//! order-service's HTTP edges against hostile clients, over raw TCP on the real
//! stack: methods no one knows. The shared code in `common::app` does
//! the work, so these hold for all three services.

use common::config::ServiceConfig;
use common::testing::{spawn_app_with, TestApp, TestTopics};
use futures_util::future::join_all;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn spawn(topics: &TestTopics, customise: impl FnOnce(&mut ServiceConfig)) -> TestApp {
    let app = spawn_app_with(order_service::definition(), topics, customise).await;
    let (status, body) = app.readiness_until(200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "service not ready: {body}");
    app
}

fn socket(app: &TestApp) -> SocketAddr {
    app.address
        .trim_start_matches("http://")
        .parse()
        .expect("test app address")
}

/// Reads one response (head and `Content-Length` body) off a keep-alive
/// connection; `None` when the server closed it first.
async fn read_response(stream: &mut BufReader<TcpStream>) -> Option<(u16, String)> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.ok()?;
        head.push(byte);
    }
    let head = String::from_utf8(head).expect("ASCII head");
    let status = head.get(9..12)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn unknown_method_tokens_do_not_grow_the_metrics() {
    const REQUESTS: usize = 10_000;
    const CONNECTIONS: usize = 4;
    let topics = TestTopics::create().await;
    let app = spawn(&topics, |_| {}).await;
    let address = socket(&app);

    let tokens: Vec<String> = (0..REQUESTS)
        .map(|_| format!("X{}", uuid::Uuid::now_v7().simple()).to_uppercase())
        .collect();
    let clients = tokens
        .chunks(REQUESTS / CONNECTIONS)
        .map(|tokens| async move {
            let mut stream = BufReader::new(TcpStream::connect(address).await.expect("connect"));
            let mut statuses = Vec::new();
            for (i, token) in tokens.iter().enumerate() {
                // Known routes and unknown paths alike: neither may become a label.
                let path = match i % 3 {
                    0 => "/health/live".to_owned(),
                    1 => "/api/orders".to_owned(),
                    _ => format!("/nowhere/{token}"),
                };
                let request = format!("{token} {path} HTTP/1.1\r\nHost: test\r\n\r\n");
                stream
                    .get_mut()
                    .write_all(request.as_bytes())
                    .await
                    .expect("write");
                let (status, _) = read_response(&mut stream)
                    .await
                    .expect("a response on the kept-alive connection");
                statuses.push(status);
            }
            statuses
        });
    let statuses: Vec<u16> = join_all(clients).await.into_iter().flatten().collect();
    let unknown_paths = (0..REQUESTS / CONNECTIONS).filter(|i| i % 3 == 2).count() * CONNECTIONS;
    assert_eq!(statuses.len(), REQUESTS);
    assert!(
        statuses.iter().all(|s| (400..500).contains(s)),
        "every unknown method gets a 4xx"
    );

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.len() < 1_000_000, "{} bytes", metrics.len());
    for token in &tokens {
        assert!(!metrics.contains(token.as_str()), "{token} became a label");
    }
    assert_eq!(
        app.metric("http_requests_total", &[("method", "other")])
            .await,
        REQUESTS as f64
    );
    assert_eq!(
        app.metric(
            "http_requests_total",
            &[("method", "other"), ("route", "unmatched")]
        )
        .await,
        unknown_paths as f64,
        "unknown paths are counted as `unmatched`"
    );
}
