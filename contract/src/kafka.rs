//! Where the Kafka cluster is and how names on it are prefixed.

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BOOTSTRAP_SERVERS`, default `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// `KAFKA_TOPIC_PREFIX`, default empty: prepended to every topic name and
    /// consumer group id, so
    /// several environments (or test runs) can share one cluster.
    pub topic_prefix: String,
}

impl KafkaConfig {
    /// The physical name of a catalogue topic (or consumer group).
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }

    /// The settings every client of this cluster starts from, producer or
    /// consumer, service or tool (`ClientConfig::from_iter` takes them).
    pub fn client_settings(&self, client_id: &str) -> [(String, String); 2] {
        [
            ("bootstrap.servers".into(), self.bootstrap_servers.clone()),
            ("client.id".into(), client_id.into()),
        ]
    }
}
