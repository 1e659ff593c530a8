//! The machine's own limits, from the output of the tools that measured
//! them: kafka-producer-perf-test and pgbench.

use serde_json::{json, Value};

/// Reads a tool's output into the limit's fields, or None without a result.
pub type Reader = fn(&str) -> Option<Value>;

/// kafka-producer-perf-test's last summary line: "N records sent, R
/// records/sec (M MB/sec), A ms avg latency, X ms max latency, a ms 50th,
/// b ms 95th, c ms 99th, d ms 99.9th."
pub fn kafka(output: &str) -> Option<Value> {
    let line = output.lines().rev().find(|l| {
        l.split_once(" records sent, ")
            .is_some_and(|(n, _)| n.parse::<u64>().is_ok())
    })?;
    // Each number comes right before its label.
    let before = |label: &str| -> Option<f64> {
        let head = &line[..line.find(label)?];
        head.rsplit([' ', '('])
            .find(|s| !s.is_empty())?
            .parse()
            .ok()
    };
    let records: u64 = line.split_once(' ')?.0.parse().ok()?;
    Some(json!({
        "records": records,
        "records_per_s": before(" records/sec")?,
        "mb_per_s": before(" MB/sec")?,
        "latency_avg_ms": before(" ms avg latency")?,
        "p50_ms": before(" ms 50th")?,
        "p99_ms": before(" ms 99th")?,
    }))
}

/// pgbench's "tps = T (without initial connection time)" and "latency
/// average = L ms".
pub fn pgbench(output: &str) -> Option<Value> {
    let value_of = |prefix: &str, suffix: &str| -> Option<f64> {
        output.lines().find_map(|l| {
            l.strip_prefix(prefix)?
                .strip_suffix(suffix)?
                .trim()
                .parse()
                .ok()
        })
    };
    let tps = value_of("tps = ", " (without initial connection time)")?;
    Some(json!({"tps": tps, "latency_avg_ms": value_of("latency average = ", " ms")}))
}

/// The progress line of a measured limit.
pub fn summary(tool: &str, limit: &Value) -> String {
    let f = |key: &str| limit[key].as_f64();
    let ms = |key: &str| f(key).map_or("?".into(), |v| v.to_string());
    match tool {
        "kafka" => format!(
            "Kafka: {:.0} records/s ({} MB/s), p99 {} ms",
            f("records_per_s").unwrap_or(0.0),
            ms("mb_per_s"),
            ms("p99_ms")
        ),
        _ => format!(
            "PostgreSQL: {:.0} tps, average latency {} ms",
            f("tps").unwrap_or(0.0),
            ms("latency_avg_ms")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_perf_tests_last_summary_line() {
        let out = "1000 records sent, 199.8 records/sec (0.11 MB/sec), 3.1 ms avg latency, 40.0 ms max latency.\n\
                   20000 records sent, 41237.113402 records/sec (23.92 MB/sec), 180.12 ms avg latency, 402.00 ms max latency, 170 ms 50th, 350 ms 95th, 390 ms 99th, 401 ms 99.9th.\n";
        let k = kafka(out).unwrap();
        assert_eq!(k["records"], json!(20000));
        assert_eq!(k["records_per_s"].as_f64(), Some(41237.113402));
        assert_eq!(k["mb_per_s"].as_f64(), Some(23.92));
        assert_eq!(k["latency_avg_ms"].as_f64(), Some(180.12));
        assert_eq!(k["p50_ms"].as_f64(), Some(170.0));
        assert_eq!(k["p99_ms"].as_f64(), Some(390.0));
        assert!(kafka("org.apache.kafka.common.errors.TimeoutException\n").is_none());
    }

    #[test]
    fn reads_pgbench_tps_and_latency() {
        let out = "number of failed transactions: 0 (0.000%)\nlatency average = 0.409 ms\n\
                   initial connection time = 12.5 ms\ntps = 19573.012345 (without initial connection time)\n";
        let p = pgbench(out).unwrap();
        assert_eq!(p["tps"].as_f64(), Some(19573.012345));
        assert_eq!(p["latency_avg_ms"].as_f64(), Some(0.409));
        assert!(pgbench("connection refused\n").is_none());
    }
}
