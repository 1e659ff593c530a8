//! The payment decision (pure logic).

use crate::config::GatewaySimulation;
use rust_decimal::Decimal;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Declined(String),
}

/// The charge succeeds iff the simulated gateway accepts it and the available
/// credit covers the amount.
pub fn decide(
    order_id: Uuid,
    amount: Decimal,
    available_credit: Decimal,
    gateway: &GatewaySimulation,
) -> Decision {
    if gateway_declines(order_id, gateway.decline_basis_points) {
        return Decision::Declined("declined by the payment gateway (simulated)".into());
    }
    if available_credit < amount {
        return Decision::Declined(format!(
            "insufficient credit: {available_credit} available, {amount} required"
        ));
    }
    Decision::Approved
}

/// Deterministic in the order id: a redelivered request decides the same.
/// UUID v7's low bits are random, so the share declined matches the rate.
fn gateway_declines(order_id: Uuid, basis_points: u32) -> bool {
    (order_id.as_u128() % 10_000) < u128::from(basis_points)
}

/// The simulated gateway's latency for this order, within the configured range.
pub fn gateway_latency(order_id: Uuid, gateway: &GatewaySimulation) -> Duration {
    let (min, max) = gateway.latency;
    let spread = (max - min).as_millis();
    if spread == 0 {
        return min;
    }
    min + Duration::from_millis(((order_id.as_u128() >> 64) % (spread + 1)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn money(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn enough_credit_approves_and_too_little_declines_with_the_amounts() {
        let off = GatewaySimulation::default();
        let id = Uuid::now_v7();
        assert_eq!(
            decide(id, money("100.00"), money("100.00"), &off),
            Decision::Approved
        );
        assert_eq!(
            decide(id, money("100.01"), money("100.00"), &off),
            Decision::Declined("insufficient credit: 100.00 available, 100.01 required".into())
        );
    }

    #[test]
    fn the_gateway_declines_the_same_orders_every_time_at_about_its_rate() {
        let gateway = GatewaySimulation {
            decline_basis_points: 2_000,
            ..Default::default()
        };
        let ids: Vec<Uuid> = (0..5_000).map(|_| Uuid::now_v7()).collect();
        let declined = |ids: &[Uuid]| {
            ids.iter()
                .filter(|id| {
                    decide(**id, Decimal::ONE, Decimal::TEN, &gateway) != Decision::Approved
                })
                .count()
        };
        let first = declined(&ids);
        assert_eq!(first, declined(&ids), "same ids, same decisions");
        assert!(
            (800..1_200).contains(&first),
            "20 % of 5000 expected, got {first}"
        );
    }

    #[test]
    fn latency_stays_in_its_range() {
        let gateway = GatewaySimulation {
            latency: (Duration::from_millis(50), Duration::from_millis(300)),
            ..Default::default()
        };
        for _ in 0..1000 {
            let l = gateway_latency(Uuid::now_v7(), &gateway);
            assert!(
                l >= Duration::from_millis(50) && l <= Duration::from_millis(300),
                "{l:?}"
            );
        }
    }
}
