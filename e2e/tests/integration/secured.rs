//! The secured stack (`SECURITY=on`): `make test` starts a secured Kafka and
//! Postgres on free ports and runs these ignored tests with the admin
//! principal's settings in the environment (`KAFKA_*`, `PG_ADMIN_URL` with
//! TLS) and `SECURED_STACK_DIR` (`ca.pem`, `passwords/<principal>`).

use common::testing::kafka_config;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

#[test]
#[ignore = "needs the secured stack: make test starts it (SECURITY=on)"]
fn the_admin_principal_lists_the_topics_and_a_plaintext_client_is_refused() {
    let kafka = kafka_config();
    let admin: BaseConsumer = ClientConfig::from_iter(kafka.client_settings("secured-admin"))
        .create()
        .expect("admin client");
    let metadata = admin
        .fetch_metadata(None, Duration::from_secs(30))
        .expect("the admin principal reads the cluster's metadata");
    let names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    for topic in common::topics::catalogue() {
        assert!(
            names.contains(&topic.name.as_str()),
            "{} missing",
            topic.name
        );
    }

    let plaintext: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", "secured-plaintext")
        .create()
        .expect("plaintext client");
    assert!(
        plaintext
            .fetch_metadata(None, Duration::from_secs(5))
            .is_err(),
        "a plaintext client got metadata from the secured listener"
    );
}
