//! order-service's HTTP edges against hostile clients, over raw TCP on the real
//! stack: methods no one knows, bodies and heads that trickle in, more
//! connections than the service takes. The shared code in `common::app` does
//! the work, so these hold for all three services.

use common::config::ServiceConfig;
use common::testing::{spawn_app_with, TestApp, TestTopics};
use futures_util::future::join_all;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn spawn(topics: &TestTopics, customise: impl FnOnce(&mut ServiceConfig)) -> TestApp {
    let app = spawn_app_with(
        order_service::definition(Default::default()),
        topics,
        customise,
    )
    .await;
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

/// Descriptors this test process holds: the service's and the clients' alike.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
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

/// A one-off request on a new connection: the status and how long it took.
async fn fresh_get(address: SocketAddr, path: &str) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut stream = BufReader::new(TcpStream::connect(address).await.expect("connect"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .expect("write");
    let response = read_response(&mut stream).await;
    (response.map(|(status, _)| status), started.elapsed())
}

/// What a trickling client saw by the time the server closed on it.
struct Trickled {
    /// What the server answered, all of it.
    answer: String,
    /// The server closed the connection before `until`.
    closed: bool,
    /// Still open on this side, so the server's descriptor can be told apart.
    _held: TcpStream,
}

/// Sends `drip` every `every` until the server answers; then reads until the
/// server closes the connection, or `until`.
async fn trickle(mut stream: TcpStream, drip: &[u8], every: Duration, until: Instant) -> Trickled {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let mut next_drip = tokio::time::Instant::now() + every;
    let closed = loop {
        tokio::select! {
            // Reading first: a drip after the server's answer would only earn a reset.
            biased;
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break true,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            () = tokio::time::sleep_until(until.into()) => break false,
            () = tokio::time::sleep_until(next_drip), if answer.is_empty() => {
                let _ = stream.write_all(drip).await;
                next_drip += every;
            }
        }
    };
    Trickled {
        answer: String::from_utf8_lossy(&answer).into_owned(),
        closed,
        _held: stream,
    }
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

#[tokio::test]
async fn a_slow_body_flood_leaves_health_answering_and_its_connections_are_closed() {
    const FLOOD: usize = 5_000;
    const WAVE: usize = 250;
    // Long enough for the whole flood to be in place before the first time out.
    const BODY_TIMEOUT: Duration = Duration::from_secs(20);
    // Other tests of this binary open and close a few descriptors meanwhile.
    const SLACK: usize = 300;
    let topics = TestTopics::create().await;
    let app = spawn(&topics, |c| {
        c.http.body_read_timeout = BODY_TIMEOUT;
        // Admit the whole flood, so that the body timeout is what frees it
        // (by default admission would refuse all but a few at once).
        c.http.admission_max_in_flight = FLOOD + WAVE;
    })
    .await;
    let address = socket(&app);
    let baseline = open_descriptors();

    // Full heads announcing a 1000-byte body, then its first byte.
    let head = b"POST /api/orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
    let mut flood = Vec::with_capacity(FLOOD);
    let mut peak = baseline;
    for _ in 0..FLOOD / WAVE {
        let wave = (0..WAVE).map(|_| async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            stream.write_all(head).await.expect("write head");
            stream
        });
        flood.extend(join_all(wave).await);
        // One descriptor on each side per connection once the service accepted
        // it. Waiting for that paces the waves to the service's accept loop, as
        // the listener's queue (128) would otherwise overflow and delay some.
        let waited = Instant::now();
        peak = open_descriptors();
        while peak < baseline + 2 * flood.len() - SLACK && waited.elapsed() < Duration::from_secs(2)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            peak = open_descriptors();
        }
    }
    assert!(
        peak >= baseline + 2 * FLOOD - SLACK,
        "the flood is in place: {peak} descriptors, {baseline} before"
    );

    let (status, took) = fresh_get(address, "/health/live").await;
    assert_eq!(status, Some(200));
    assert!(
        took < Duration::from_secs(1),
        "/health/live took {took:?} under the flood"
    );

    let until = Instant::now() + BODY_TIMEOUT + Duration::from_secs(20);
    let trickled = join_all(
        flood
            .into_iter()
            .map(|stream| tokio::spawn(trickle(stream, b" ", Duration::from_secs(1), until))),
    )
    .await;
    let trickled: Vec<Trickled> = trickled.into_iter().map(Result::unwrap).collect();
    let timed_out = trickled
        .iter()
        .filter(|t| t.answer.starts_with("HTTP/1.1 408"))
        .count();
    let closed = trickled.iter().filter(|t| t.closed).count();
    assert_eq!((timed_out, closed), (FLOOD, FLOOD), "answered 408, closed");
    assert!(
        trickled[0].answer.contains(r#""error":"request_timeout""#),
        "{}",
        trickled[0].answer
    );

    // The clients still hold their ends: the service's own are gone.
    let after = open_descriptors();
    assert!(
        after <= baseline + FLOOD + SLACK,
        "{after} descriptors with the clients' {FLOOD} still open, {baseline} before"
    );
    drop(trickled);
    let after_clients = open_descriptors();
    assert!(
        after_clients <= baseline + SLACK,
        "{after_clients} descriptors, {baseline} before"
    );
    assert_eq!(
        app.metric(
            "http_requests_total",
            &[("route", "/api/orders"), ("status", "408")]
        )
        .await,
        FLOOD as f64
    );
    assert_eq!(fresh_get(address, "/health/live").await.0, Some(200));
}

#[tokio::test]
async fn a_trickled_body_gets_408_and_loses_its_connection_chunked_or_not_on_any_route() {
    const BODY_TIMEOUT: Duration = Duration::from_secs(1);
    let topics = TestTopics::create().await;
    let app = spawn(&topics, |c| c.http.body_read_timeout = BODY_TIMEOUT).await;
    let address = socket(&app);
    let chunked = "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n";
    let sized = "Content-Length: 100\r\n\r\n{";
    let cases = [
        ("POST /api/orders", chunked, &b"1\r\n \r\n"[..]),
        ("POST /api/orders", sized, &b" "[..]),
        // Routes that never read a body: actix would drain a chunked one for ever.
        ("GET /health/live", chunked, &b"1\r\n \r\n"[..]),
        ("GET /health/live", sized, &b" "[..]),
    ];
    let started = Instant::now();
    let until = started + Duration::from_secs(15);
    let runs = cases.iter().map(|(request, body, drip)| async move {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let head =
            format!("{request} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{body}");
        stream.write_all(head.as_bytes()).await.expect("write");
        trickle(stream, drip, Duration::from_millis(200), until).await
    });
    for ((request, body, _), seen) in cases.iter().zip(join_all(runs).await) {
        let case = format!("{request} {}", body.lines().next().unwrap());
        assert!(
            seen.answer.starts_with("HTTP/1.1 408"),
            "{case}: {}",
            seen.answer
        );
        assert!(
            seen.answer
                .to_ascii_lowercase()
                .contains("connection: close"),
            "{case}: {}",
            seen.answer
        );
        assert!(
            seen.closed,
            "{case}: still open after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_head_that_never_ends_gets_408_and_loses_its_connection() {
    let topics = TestTopics::create().await;
    let app = spawn(&topics, |c| {
        c.http.header_read_timeout = Duration::from_secs(1)
    })
    .await;
    let mut stream = TcpStream::connect(socket(&app)).await.expect("connect");
    stream
        .write_all(b"POST /api/orders HTTP/1.1\r\nHost: test\r\n")
        .await
        .expect("write");
    let seen = trickle(
        stream,
        b"X-Slow: 1\r\n",
        Duration::from_millis(200),
        Instant::now() + Duration::from_secs(15),
    )
    .await;
    assert!(seen.answer.starts_with("HTTP/1.1 408"), "{}", seen.answer);
    assert!(seen.closed, "the connection is closed");
}

#[tokio::test]
async fn a_worker_at_its_connection_limit_accepts_the_next_one_only_when_one_closes() {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let topics = TestTopics::create().await;
    // Not waiting for readiness: its client would keep a connection of its own.
    let app = spawn_app_with(
        order_service::definition(Default::default()),
        &topics,
        |c| c.http.max_connections_per_worker = std::num::NonZeroUsize::new(1),
    )
    .await;
    let address = socket(&app);

    // One kept-alive connection per worker, each answered, so each is accepted
    // (and kept for the 5 s of actix's keep-alive, longer than this test).
    let mut held = Vec::new();
    for _ in 0..workers {
        let mut stream = BufReader::new(TcpStream::connect(address).await.expect("connect"));
        stream
            .get_mut()
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(read_response(&mut stream).await.map(|r| r.0), Some(200));
        held.push(stream);
    }

    let waiting = tokio::spawn(fresh_get(address, "/health/live"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "answered beyond the connection limit"
    );
    drop(held.pop());
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("answered once a connection closed")
        .unwrap();
    assert_eq!(status, Some(200));
}
