//! The real local broker: the catalogue's topics exist as written, and a
//! record makes the round trip through our producer and a consumer.

use common::config::KafkaConfig;
use common::kafka::{client_config, create_producer};
use common::topics::catalogue;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use std::time::Duration;

fn kafka() -> KafkaConfig {
    common::testing::kafka_config()
}

fn admin() -> AdminClient<DefaultClientContext> {
    client_config(&kafka(), "test-admin")
        .create()
        .expect("admin client")
}

#[tokio::test]
async fn every_catalogue_topic_exists_with_its_partitions_and_retention() {
    let producer = create_producer(&kafka(), "test-catalogue").unwrap();
    let metadata = producer
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("broker metadata");
    let admin = admin();

    for topic in catalogue() {
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic.name)
            .unwrap_or_else(|| panic!("topic {} missing on the broker", topic.name));
        assert_eq!(
            found.partitions().len() as i32,
            topic.partitions,
            "{}",
            topic.name
        );

        let configs = admin
            .describe_configs(
                &[ResourceSpecifier::Topic(&topic.name)],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        let resource = configs[0].as_ref().expect("topic config");
        let retention = resource.get("retention.ms").and_then(|e| e.value.clone());
        assert_eq!(
            retention,
            Some(topic.retention_ms.to_string()),
            "{}",
            topic.name
        );
    }
}

#[tokio::test]
async fn a_produced_record_is_consumed_back_with_its_key_and_headers() {
    let topic = format!("test-roundtrip-{}", uuid::Uuid::now_v7());
    let admin = admin();
    admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap()[0]
        .as_ref()
        .expect("topic created");

    let producer = create_producer(&kafka(), "test-producer").unwrap();
    producer
        .send(
            FutureRecord::to(&topic)
                .key("order-1")
                .payload(r#"{"hello":"kafka"}"#)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "event-type",
                    value: Some("Probe"),
                })),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("delivered");

    let consumer: StreamConsumer = client_config(&kafka(), "test-consumer")
        .set("group.id", format!("test-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record within 30 s")
        .expect("no consumer error");

    assert_eq!(message.key(), Some(&b"order-1"[..]));
    assert_eq!(message.payload(), Some(&br#"{"hello":"kafka"}"#[..]));
    let header = message.headers().expect("headers").get(0);
    assert_eq!(header.key, "event-type");
    assert_eq!(header.value, Some(&b"Probe"[..]));

    admin
        .delete_topics(&[&topic], &AdminOptions::new())
        .await
        .unwrap();
}
