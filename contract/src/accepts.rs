//! What each consumer group accepts, as an [`EventSet`](crate::event_set::EventSet):
//! its service's handler matches the enum, and every other event type or
//! version on the group's topics is dead-lettered. Declared here, next to
//! [`CONSUMER_GROUPS`](crate::topics::CONSUMER_GROUPS), so a test checks
//! both against each other.

use crate::envelope::IncomingEvent;
use crate::event_set::{DecodeError, EventKind, EventSet};
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

/// A consumer group and the set its service's handler declares.
#[derive(Debug, Clone, Copy)]
pub struct GroupSet {
    pub group: &'static str,
    pub kinds: &'static [EventKind],
    /// [`EventSet::decode`] of the group's set, the decoded event dropped.
    pub decode: fn(&IncomingEvent) -> Result<(), DecodeError>,
}

impl GroupSet {
    const fn of<S: EventSet>(group: &'static str) -> Self {
        Self {
            group,
            kinds: S::KINDS,
            decode: |event| S::decode(event).map(drop),
        }
    }

    /// Whether the group accepts `kind`.
    pub fn accepts(&self, kind: &EventKind) -> bool {
        self.kinds
            .iter()
            .any(|k| k.is(kind.event_type, kind.version))
    }
}

/// Each consumer group of [`CONSUMER_GROUPS`](crate::topics::CONSUMER_GROUPS), in its order, with its set.
pub const GROUP_SETS: [GroupSet; 3] = [
    GroupSet::of::<PaymentOutcome>("order-service"),
    GroupSet::of::<PaymentRequest>("billing-service"),
    GroupSet::of::<Notifiable>("notification-service"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics;

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
        for GroupSet { group, kinds, .. } in GROUP_SETS {
            let mut from_events: Vec<&str> = kinds.iter().map(|k| k.topic).collect();
            from_events.sort_unstable();
            from_events.dedup();
            let mut read = topics::consumed_by(group);
            read.sort_unstable();
            assert_eq!(from_events, read, "{group}");
        }
        assert_eq!(
            GROUP_SETS.map(|s| s.group),
            topics::CONSUMER_GROUPS.map(|(g, _)| g)
        );
    }
}
