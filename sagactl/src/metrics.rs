//! The few series `make bench` and the quiet check read from a service's
//! `/metrics` (Prometheus text format).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One scrape of one service, summed over the labels the report does not split by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scrape {
    pub outbox_published_total: f64,
    /// Cumulative `outbox_publish_latency_seconds` buckets by `le`.
    pub outbox_latency_buckets: BTreeMap<String, f64>,
    pub consumer_lag: f64,
    pub consumer_lag_by_group: BTreeMap<String, f64>,
    pub saga_finished_total: f64,
    /// `consumer_records_total` except retries: records finished for good.
    pub consumed_total: f64,
}

/// A service's metrics endpoint, given on the command line as `NAME=URL`.
pub type Endpoint = crate::Named<String>;

/// GETs `url` and keeps what [`Scrape`] holds.
pub async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let text = client
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse(&text))
}

/// Records the services have consumed so far, all of them together.
pub async fn consumed(client: &reqwest::Client, endpoints: &[Endpoint]) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for endpoint in endpoints {
        total += scrape(client, &endpoint.value).await?.consumed_total;
    }
    Ok(total)
}

pub fn parse(text: &str) -> Scrape {
    let mut out = Scrape::default();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str())
        };
        match name {
            "outbox_published_total" => out.outbox_published_total += value,
            "outbox_publish_latency_seconds_bucket" => {
                if let Some(le) = label("le") {
                    *out.outbox_latency_buckets.entry(le.to_owned()).or_default() += value;
                }
            }
            "consumer_lag" => {
                out.consumer_lag += value;
                let group = label("group").unwrap_or("?").to_owned();
                *out.consumer_lag_by_group.entry(group).or_default() += value;
            }
            "saga_finished_total" => out.saga_finished_total += value,
            "consumer_records_total" if label("result") != Some("retried") => {
                out.consumed_total += value
            }
            _ => {}
        }
    }
    out
}

/// A sample's labels: (name, unescaped value).
type Labels<'a> = Vec<(&'a str, String)>;

/// `name{a="x",b="y"} value`, or None for comments and lines it cannot read.
fn sample(line: &str) -> Option<(&str, Labels<'_>, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let close = label_block_end(body)?;
        labels = parse_labels(&body[..close]);
        rest = &body[close + 1..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// The index of the `}` that closes a label block, skipping quoted values.
fn label_block_end(body: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_labels(block: &str) -> Labels<'_> {
    let mut labels = Vec::new();
    let mut rest = block;
    while let Some((key, after)) = rest.split_once("=\"") {
        let key = key.trim_start_matches([',', ' ']);
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        value.push(if next == 'n' { '\n' } else { next });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                _ => value.push(c),
            }
        }
        labels.push((key, value));
        rest = &after[end..];
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_series_over_labels_and_skips_retries() {
        let text = r#"# HELP consumer_lag records behind
# TYPE consumer_lag gauge
consumer_lag{group="billing-service",partition="0"} 3
consumer_lag{group="billing-service",partition="1"} 4
consumer_lag{group="notification-service",partition="0"} 5
outbox_published_total{service="order-service"} 10
outbox_published_total{service="x"} 2
outbox_publish_latency_seconds_bucket{le="0.005"} 1
outbox_publish_latency_seconds_bucket{le="+Inf"} 3
consumer_records_total{result="ok",topic="a"} 7
consumer_records_total{result="retried",topic="a"} 100
consumer_records_total{result="dead_lettered",topic="a"} 1
saga_finished_total{status="PAID"} 9
saga_finished_total{status="PAYMENT_FAILED"} 1
"#;
        let s = parse(text);
        assert_eq!(s.consumer_lag, 12.0);
        assert_eq!(s.consumer_lag_by_group["billing-service"], 7.0);
        assert_eq!(s.consumer_lag_by_group["notification-service"], 5.0);
        assert_eq!(s.outbox_published_total, 12.0);
        assert_eq!(s.outbox_latency_buckets["+Inf"], 3.0);
        assert_eq!(s.consumed_total, 8.0);
        assert_eq!(s.saga_finished_total, 10.0);
    }

    #[test]
    fn a_brace_inside_a_quoted_label_value_does_not_end_the_labels() {
        let s = parse("consumer_lag{group=\"a}b\\\"c\"} 2\n");
        assert_eq!(s.consumer_lag_by_group["a}b\"c"], 2.0);
    }
}
