//! order-service's own settings (the shared ones are in `common::config`).

use common::config::ConfigError;
use common::events::{V1, V2};

/// The variable that picks the `PaymentRequested` version produced.
pub const PAYMENT_REQUESTED_VERSION: &str = "PAYMENT_REQUESTED_VERSION";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderConfig {
    /// `PAYMENT_REQUESTED_VERSION`, 1 or 2, default 1: the version of
    /// `PaymentRequested` new orders publish. Switch to 2 only once every
    /// billing-service replica accepts it (docs/messaging.md, "Evolving an event").
    pub payment_requested_version: i32,
}

impl Default for OrderConfig {
    fn default() -> Self {
        Self {
            payment_requested_version: V1,
        }
    }
}

impl OrderConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let payment_requested_version =
            match lookup(PAYMENT_REQUESTED_VERSION).filter(|v| !v.is_empty()) {
                None => V1,
                Some(v) => match v.trim().parse() {
                    Ok(version) if version == V1 || version == V2 => version,
                    _ => {
                        return Err(ConfigError {
                            variable: PAYMENT_REQUESTED_VERSION.into(),
                            value: v,
                            reason: "expected 1 or 2".into(),
                        })
                    }
                },
            };
        Ok(Self {
            payment_requested_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Option<&str>) -> Result<OrderConfig, ConfigError> {
        OrderConfig::from_lookup(|name| {
            assert_eq!(name, PAYMENT_REQUESTED_VERSION);
            value.map(str::to_owned)
        })
    }

    #[test]
    fn payment_requests_are_v1_unless_v2_is_asked_for() {
        assert_eq!(parse(None).unwrap(), OrderConfig::default());
        assert_eq!(parse(Some("")).unwrap().payment_requested_version, 1);
        assert_eq!(parse(Some("1")).unwrap().payment_requested_version, 1);
        assert_eq!(parse(Some(" 2 ")).unwrap().payment_requested_version, 2);
        for bad in ["3", "0", "v2"] {
            assert_eq!(
                parse(Some(bad)).unwrap_err().variable,
                PAYMENT_REQUESTED_VERSION
            );
        }
    }
}
