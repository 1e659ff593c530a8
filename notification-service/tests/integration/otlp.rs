//! Span export, with the real binary: spans reach an OTLP/HTTP receiver
//! only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, carrying the trace id of
//! the request that made them.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::testing::{ServiceProcess, TestTopics};
use std::sync::{Arc, Mutex};

/// The requests an OTLP/HTTP receiver got: path and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A collector stand-in on a free port that answers 200 to every POST and
/// keeps what it got. Returns its address.
fn start_receiver(received: &Received) -> String {
    let kept = received.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push((request.path().to_owned(), body.to_vec()));
                HttpResponse::Ok()
                    .content_type("application/x-protobuf")
                    .finish()
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind the OTLP receiver");
    let address = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    address
}

/// Runs notification-service with `env`, sends one request carrying `trace`
/// in its `traceparent`, and stops it with SIGTERM, which flushes its spans.
async fn one_traced_request(trace: &uuid::Uuid, env: &[(&str, &str)]) {
    let topics = TestTopics::create().await;
    let mut service =
        ServiceProcess::spawn(env!("CARGO_BIN_EXE_notification-service"), &topics, env).await;
    let live = service.status_until("/health/live", 200).await;
    assert_eq!(live, 200, "not live:\n{}", service.output());
    let traceparent = format!("00-{}-00f067aa0ba902b7-01", trace.simple());
    let response = service
        .get("/health/live", &[("traceparent", &traceparent)])
        .await
        .expect("the traced request");
    assert_eq!(response.status().as_u16(), 200);
    let (status, output) = service.terminate().await;
    assert!(status.success(), "exit status {status}:\n{output}");
}

/// Whether `haystack` holds `needle`'s bytes in a row: a span's trace id is
/// its 16 raw bytes in the protobuf body.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn spans_reach_the_otlp_endpoint_with_the_requests_trace_id() {
    let received = Received::default();
    let endpoint = start_receiver(&received);
    let trace = uuid::Uuid::new_v4();

    one_traced_request(&trace, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;

    let received = received.lock().unwrap();
    assert!(
        received
            .iter()
            .any(|(path, body)| path == "/v1/traces" && holds(body, trace.as_bytes())),
        "no span of trace {} among {} request(s) to the receiver: {:?}",
        trace.simple(),
        received.len(),
        received.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn no_span_is_exported_when_otel_exporter_otlp_endpoint_is_empty() {
    let received = Received::default();
    let endpoint = start_receiver(&received);

    // The traces-only variable points at the receiver too: were an exporter
    // built despite the empty endpoint, its spans would arrive there.
    one_traced_request(
        &uuid::Uuid::new_v4(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{endpoint}/v1/traces"),
            ),
        ],
    )
    .await;

    let received = received.lock().unwrap();
    assert!(
        received.is_empty(),
        "spans were exported without OTEL_EXPORTER_OTLP_ENDPOINT: {} request(s)",
        received.len()
    );
}
