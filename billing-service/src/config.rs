//! billing-service's own settings (the shared ones are in `common::config`).

use common::config::ConfigError;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// `BILLING_DEFAULT_CREDIT_LIMIT`, default 1000.00: the limit of an
    /// account opened for a customer billing has not seen yet.
    pub default_credit_limit: Decimal,
    /// Simulated payment gateway, off by default.
    pub gateway: GatewaySimulation,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewaySimulation {
    /// `BILLING_GATEWAY_LATENCY_MS`, `min-max` (e.g. `50-300`) or one number;
    /// default 0: each decision waits a random time in this range.
    pub latency: (Duration, Duration),
    /// `BILLING_GATEWAY_DECLINE_RATE`, 0 to 1, default 0: the share of orders
    /// the gateway declines. Which ones is a function of the order id, so a
    /// redelivery decides the same.
    pub decline_basis_points: u32,
}

impl BillingConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |variable: &'static str, value: String, reason: &str| ConfigError {
            variable: variable.into(),
            value,
            reason: reason.into(),
        };
        let default_credit_limit =
            match lookup("BILLING_DEFAULT_CREDIT_LIMIT").filter(|v| !v.is_empty()) {
                None => Decimal::new(100_000, 2),
                Some(v) => match Decimal::from_str_exact(v.trim())
                    .ok()
                    .filter(|d| *d >= Decimal::ZERO)
                    .and_then(common::limits::money)
                {
                    Some(d) => d,
                    None => {
                        return Err(invalid(
                            "BILLING_DEFAULT_CREDIT_LIMIT",
                            v,
                            "expected an amount >= 0 with at most 2 decimals",
                        ))
                    }
                },
            };
        let latency = match lookup("BILLING_GATEWAY_LATENCY_MS").filter(|v| !v.is_empty()) {
            None => (Duration::ZERO, Duration::ZERO),
            Some(v) => {
                let parts: Option<Vec<u64>> = v.split('-').map(|p| p.trim().parse().ok()).collect();
                match parts.as_deref() {
                    Some([ms]) => (Duration::from_millis(*ms), Duration::from_millis(*ms)),
                    Some([min, max]) if min <= max => {
                        (Duration::from_millis(*min), Duration::from_millis(*max))
                    }
                    _ => {
                        return Err(invalid(
                            "BILLING_GATEWAY_LATENCY_MS",
                            v,
                            "expected `min-max` milliseconds, e.g. 50-300",
                        ))
                    }
                }
            }
        };
        let decline_basis_points =
            match lookup("BILLING_GATEWAY_DECLINE_RATE").filter(|v| !v.is_empty()) {
                None => 0,
                Some(v) => match Decimal::from_str(v.trim()) {
                    Ok(rate) if rate >= Decimal::ZERO && rate <= Decimal::ONE => (rate
                        * Decimal::from(10_000))
                    .round()
                    .try_into()
                    .unwrap_or(0),
                    _ => {
                        return Err(invalid(
                            "BILLING_GATEWAY_DECLINE_RATE",
                            v,
                            "expected a fraction between 0 and 1",
                        ))
                    }
                },
            };
        Ok(Self {
            default_credit_limit,
            gateway: GatewaySimulation {
                latency,
                decline_basis_points,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<BillingConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BillingConfig::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_a_1000_limit_and_no_simulation() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.default_credit_limit,
            Decimal::from_str("1000.00").unwrap()
        );
        assert_eq!(c.gateway, GatewaySimulation::default());
    }

    #[test]
    fn the_simulation_reads_a_latency_range_and_a_decline_rate() {
        let c = parse(&[
            ("BILLING_GATEWAY_LATENCY_MS", "50-300"),
            ("BILLING_GATEWAY_DECLINE_RATE", "0.1"),
        ])
        .unwrap();
        assert_eq!(
            c.gateway.latency,
            (Duration::from_millis(50), Duration::from_millis(300))
        );
        assert_eq!(c.gateway.decline_basis_points, 1000);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("BILLING_DEFAULT_CREDIT_LIMIT", "lots"),
            ("BILLING_DEFAULT_CREDIT_LIMIT", "-5"),
            ("BILLING_GATEWAY_LATENCY_MS", "300-50"),
            ("BILLING_GATEWAY_DECLINE_RATE", "1.5"),
        ] {
            assert_eq!(parse(&[(var, value)]).unwrap_err().variable, var);
        }
    }
}
