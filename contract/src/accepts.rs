//! What each consumer group accepts, as an [`EventSet`](crate::event_set::EventSet):
//! its service's handler matches the enum, and every other event type or
//! version on the group's topics is dead-lettered. Declared here, next to
//! [`CONSUMER_GROUPS`](crate::topics::CONSUMER_GROUPS), so a test checks
//! both against each other.

use crate::events::{
    OrderCreated, PaymentFailed, PaymentRequested, PaymentRequestedV2, PaymentSucceeded,
};

crate::event_set! {
    /// order-service closes the saga with the payment decision.
    #[derive(Debug, Clone, PartialEq)]
    pub enum PaymentOutcome {
        Succeeded(PaymentSucceeded),
        Failed(PaymentFailed),
    }
}

crate::event_set! {
    /// billing-service decides each requested payment, of either version.
    #[derive(Debug, Clone, PartialEq)]
    pub enum PaymentRequest {
        Requested(PaymentRequested),
        RequestedV2(PaymentRequestedV2),
    }
}

crate::event_set! {
    /// notification-service tells the customer about each of these.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Notifiable {
        OrderCreated(OrderCreated),
        PaymentSucceeded(PaymentSucceeded),
        PaymentFailed(PaymentFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_set::{EventKind, EventSet};
    use crate::topics;

    /// Each consumer group and the set its service's handler declares.
    const SETS: [(&str, &[EventKind]); 3] = [
        ("order-service", PaymentOutcome::KINDS),
        ("billing-service", PaymentRequest::KINDS),
        ("notification-service", Notifiable::KINDS),
    ];

    fn accepted(kinds: &[EventKind]) -> Vec<(&str, i32)> {
        kinds.iter().map(|k| (k.event_type, k.version)).collect()
    }

    #[test]
    fn each_service_accepts_these_event_types_and_versions() {
        assert_eq!(
            accepted(PaymentOutcome::KINDS),
            [("PaymentSucceeded", 1), ("PaymentFailed", 1)]
        );
        assert_eq!(
            accepted(PaymentRequest::KINDS),
            [("PaymentRequested", 1), ("PaymentRequested", 2)]
        );
        assert_eq!(
            accepted(Notifiable::KINDS),
            [
                ("OrderCreated", 1),
                ("PaymentSucceeded", 1),
                ("PaymentFailed", 1)
            ]
        );
    }

    #[test]
    fn billing_accepts_both_versions_of_payment_requested_during_the_rollout() {
        for version in [1, 2] {
            assert!(
                PaymentRequest::accepts("PaymentRequested", version),
                "v{version}"
            );
        }
    }

    #[test]
    fn what_a_service_does_not_handle_it_refuses() {
        assert!(!PaymentOutcome::accepts("OrderCreated", 1));
        assert!(!PaymentOutcome::accepts("PaymentRequested", 1));
        assert!(!PaymentRequest::accepts("PaymentSucceeded", 1));
        assert!(!Notifiable::accepts("PaymentRequested", 1));
        assert!(!PaymentRequest::accepts("PaymentRequested", 3));
        for kinds in [PaymentOutcome::KINDS, Notifiable::KINDS] {
            for kind in kinds {
                assert!(!kinds.iter().any(|k| k.is(kind.event_type, 2)), "v2");
            }
        }
    }

    #[test]
    fn a_group_reads_exactly_the_topics_its_events_travel_on() {
        for (group, kinds) in SETS {
            let mut from_events: Vec<&str> = kinds.iter().map(|k| k.topic).collect();
            from_events.sort_unstable();
            from_events.dedup();
            let mut read = topics::consumed_by(group);
            read.sort_unstable();
            assert_eq!(from_events, read, "{group}");
        }
        assert_eq!(
            SETS.map(|(g, _)| g),
            topics::CONSUMER_GROUPS.map(|(g, _)| g)
        );
    }
}
