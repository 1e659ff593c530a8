//! W3C trace context (`traceparent: 00-<trace-id>-<span-id>-<flags>`).
//!
//! A trace starts at `POST /api/orders` (or continues the caller's), is stored
//! with every outbox row, travels as the `traceparent` Kafka header, and is
//! continued by every consumer, so one order's records and log lines share one
//! trace id across the three services. Log lines carry it as `trace_id`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// 16 lowercase hex digits, not all zero: the span that produced this context.
    pub span_id: String,
    /// Trace flags, e.g. `01` = sampled.
    pub flags: String,
}

fn random_hex(bytes: usize) -> String {
    let random = uuid::Uuid::new_v4();
    random.as_bytes()[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

impl TraceContext {
    /// A new trace, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: random_hex(16),
            span_id: random_hex(8),
            flags: "01".into(),
        }
    }

    /// Parses a `traceparent` header; `None` when it is not a valid version-00 value.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || version != "00"
            || !is_hex_id(trace_id, 32)
            || !is_hex_id(span_id, 16)
        {
            return None;
        }
        if flags.len() != 2 || !flags.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            flags: flags.to_ascii_lowercase(),
        })
    }

    /// Continues `header`'s trace in a new span, or starts a new trace.
    pub fn continue_or_start(header: Option<&str>) -> Self {
        header
            .and_then(Self::parse)
            .map_or_else(Self::new_root, |parent| parent.child())
    }

    /// A new span in the same trace.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            span_id: random_hex(8),
            flags: self.flags.clone(),
        }
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_round_trips() {
        let header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(TraceContext::parse(header).unwrap().to_string(), header);
    }

    #[test]
    fn invalid_traceparents_are_refused() {
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-xyz7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_gets_a_new_span() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert!(TraceContext::parse(&child.to_string()).is_some());
    }

    #[test]
    fn without_a_valid_parent_a_new_trace_starts() {
        let started = TraceContext::continue_or_start(Some("garbage"));
        assert!(TraceContext::parse(&started.to_string()).is_some());
        let parent = TraceContext::new_root();
        let continued = TraceContext::continue_or_start(Some(&parent.to_string()));
        assert_eq!(continued.trace_id, parent.trace_id);
    }
}
