//! The real binary, as `make down` and Kubernetes stop it: SIGTERM.

use common::testing::{ServiceProcess, TestTopics};

#[tokio::test]
async fn the_binary_exits_0_after_sigterm_and_says_it_stopped() {
    let topics = TestTopics::create().await;
    let mut service =
        ServiceProcess::spawn(env!("CARGO_BIN_EXE_order-service"), &topics, &[]).await;
    let ready = service.status_until("/health/ready", 200).await;
    assert_eq!(ready, 200, "not ready:\n{}", service.output());

    let (status, output) = service.terminate().await;

    assert_eq!(status.code(), Some(0), "exit status {status}:\n{output}");
    assert!(
        output
            .lines()
            .any(|line| line.contains(r#"stopped service="order-service""#)),
        "no final 'stopped' line:\n{output}"
    );
}
