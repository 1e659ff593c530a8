//! The saga's topic names. They must match the catalogue in
//! `kafka-setup/topics.conf`, which creates them; a test checks that they do.

pub const ORDER_CREATED: &str = "order-created";
pub const PAYMENT_REQUESTS: &str = "payment-requests";
pub const NOTIFICATION_EVENTS: &str = "notification-events";

/// The topics the saga's events travel on; each has a dead-letter twin.
pub const SAGA_TOPICS: [&str; 3] = [ORDER_CREATED, PAYMENT_REQUESTS, NOTIFICATION_EVENTS];

/// Suffix of every dead-letter topic: `<topic>.dlq`.
const DLQ_SUFFIX: &str = ".dlq";

/// The dead-letter topic that takes poison records of `topic`.
pub fn dlq(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}

/// The dead-letter topics of [`SAGA_TOPICS`].
pub fn dlq_topics() -> Vec<String> {
    SAGA_TOPICS.iter().map(|t| dlq(t)).collect()
}

/// `name` as a dead-letter topic: kept when it already is one, else its
/// twin (`payment-requests` and `payment-requests.dlq` both name the latter).
pub fn as_dlq(name: &str) -> String {
    if name.ends_with(DLQ_SUFFIX) {
        name.to_owned()
    } else {
        dlq(name)
    }
}

/// The topic whose poison records `dlq_topic` takes (the name itself when
/// it is not a dead-letter topic).
pub fn dlq_origin(dlq_topic: &str) -> &str {
    dlq_topic.strip_suffix(DLQ_SUFFIX).unwrap_or(dlq_topic)
}

/// Each consumer group of the saga and the topics it reads (the configured
/// prefix is added to both): the services subscribe from here, and
/// `sagactl audit` reports what waits for each group.
pub const CONSUMER_GROUPS: [(&str, &[&str]); 3] = [
    ("order-service", &[NOTIFICATION_EVENTS]),
    ("billing-service", &[PAYMENT_REQUESTS]),
    (
        "notification-service",
        &[ORDER_CREATED, NOTIFICATION_EVENTS],
    ),
];

/// The topics `group` reads; panics for a group not in [`CONSUMER_GROUPS`]
/// (a programming error, caught by every service's tests at start).
pub fn consumed_by(group: &str) -> Vec<&'static str> {
    CONSUMER_GROUPS
        .iter()
        .find(|(name, _)| *name == group)
        .map(|(_, topics)| topics.to_vec())
        .unwrap_or_else(|| panic!("consumer group {group} is not in topics::CONSUMER_GROUPS"))
}

/// One topic as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueTopic {
    pub name: String,
    pub partitions: i32,
    pub retention_ms: i64,
    pub min_insync_replicas: i32,
}

/// The catalogue file, compiled in so the binary and tests see the same text.
pub const CATALOGUE: &str = include_str!("../../kafka-setup/topics.conf");

/// Parses the catalogue format (see the file's header): blank lines and `#`
/// comments ignored, whitespace-separated columns.
pub fn parse_catalogue(text: &str) -> Result<Vec<CatalogueTopic>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(number, line)| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [name, partitions, retention, min_isr] = cols[..] else {
                return Err(format!(
                    "line {number}: expected 4 columns, got {}",
                    cols.len()
                ));
            };
            let int = |what: &str, v: &str| -> Result<i64, String> {
                v.parse()
                    .map_err(|_| format!("line {number}: {what} {v:?} is not a number"))
            };
            Ok(CatalogueTopic {
                name: name.to_owned(),
                partitions: int("partitions", partitions)? as i32,
                retention_ms: int("retention.ms", retention)?,
                min_insync_replicas: int("min.insync.replicas", min_isr)? as i32,
            })
        })
        .collect()
}

/// The catalogue this build was compiled with.
pub fn catalogue() -> Vec<CatalogueTopic> {
    parse_catalogue(CATALOGUE).expect("kafka-setup/topics.conf is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses() {
        assert!(!catalogue().is_empty());
    }

    #[test]
    fn every_topic_the_services_use_is_in_the_catalogue_with_its_dead_letter_twin() {
        let names: Vec<String> = catalogue().into_iter().map(|t| t.name).collect();
        for topic in SAGA_TOPICS {
            assert!(names.contains(&topic.to_owned()), "{topic} missing");
            assert!(names.contains(&dlq(topic)), "{} missing", dlq(topic));
        }
        assert_eq!(
            names.len(),
            6,
            "unexpected topics in the catalogue: {names:?}"
        );
    }

    #[test]
    fn a_dead_letter_topic_is_named_either_way_and_leads_back_to_its_origin() {
        assert_eq!(as_dlq("payment-requests"), "payment-requests.dlq");
        assert_eq!(as_dlq("payment-requests.dlq"), "payment-requests.dlq");
        assert_eq!(dlq_origin("p-payment-requests.dlq"), "p-payment-requests");
        assert_eq!(dlq_origin("payment-requests"), "payment-requests");
    }

    #[test]
    fn the_saga_topics_have_six_partitions() {
        assert!(catalogue().iter().all(|t| t.partitions == 6));
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_number() {
        let err = parse_catalogue("# header\norder-created 6 1000\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse_catalogue("t six 1 1\n").unwrap_err();
        assert!(err.contains("partitions"), "{err}");
    }
}
