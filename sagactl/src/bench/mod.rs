//! `sagactl bench`: the measurements, analysis and report of `make bench`.
//! `scripts/bench.sh` starts and stops the processes and calls these in
//! order; each subcommand reads and writes JSON files in the run's work
//! directory, so a report can be rebuilt from the raw data.

pub mod chart;
pub mod cli;
pub mod components;
pub mod db;
pub mod flame;
pub mod format;
pub mod limits;
pub mod markdown;
pub mod proc;
pub mod report;
pub mod snapshot;
pub mod step;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

pub const SERVICES: [&str; 3] = ["order-service", "billing-service", "notification-service"];
pub const DATABASES: [&str; 3] = ["orders", "billing", "notifications"];

/// A JSON file, or None when it is missing or unreadable (a step that did
/// not get that far).
pub fn load<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes `data` as indented JSON with sorted keys, atomically.
pub fn dump<T: Serialize>(path: &Path, data: &T) -> anyhow::Result<()> {
    // Through Value: its maps are sorted, whatever the struct's field order.
    let value = serde_json::to_value(data)?;
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    value.serialize(&mut serializer)?;
    text.push(b'\n');
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Merges `key=text` and `key:=json` pairs into `data`; dotted keys nest.
pub fn put(data: &mut Value, items: &[String]) -> anyhow::Result<()> {
    for item in items {
        let (key, text) = item
            .split_once('=')
            .with_context(|| format!("expected key=value, got {item:?}"))?;
        let (key, value) = match key.strip_suffix(':') {
            Some(key) => (
                key,
                serde_json::from_str(text).with_context(|| format!("{key}: not JSON: {text:?}"))?,
            ),
            None => (key, Value::String(text.to_owned())),
        };
        let mut node = &mut *data;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if !node.is_object() {
                *node = Value::Object(Default::default());
            }
            let map = node.as_object_mut().expect("made an object above");
            if parts.peek().is_none() {
                map.insert(part.to_owned(), value);
                break;
            }
            node = map
                .entry(part)
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
    Ok(())
}

/// [`put`] into a JSON file, created when missing.
pub fn put_file(path: &Path, items: &[String]) -> anyhow::Result<()> {
    let mut data: Value = load(path).unwrap_or_else(|| Value::Object(Default::default()));
    put(&mut data, items)?;
    dump(path, &data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn put_nests_dotted_keys_and_parses_json_values() {
        let mut data = json!({"limits": {"kafka": {"acks": "all"}}});
        put(
            &mut data,
            &[
                "limits.kafka.records:=20000".into(),
                "limits.postgres.synchronous_commit=on".into(),
                "bench.rates:=[50,100]".into(),
                "note=a=b".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            data,
            json!({
                "limits": {"kafka": {"acks": "all", "records": 20000},
                           "postgres": {"synchronous_commit": "on"}},
                "bench": {"rates": [50, 100]},
                "note": "a=b",
            })
        );
        assert!(put(&mut data, &["x:=not json".into()]).is_err());
    }
}
