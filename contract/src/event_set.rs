//! How a consumer says which events it accepts: an enum with one variant per
//! event type and version, declared with [`event_set!`](crate::event_set!).
//! The enum is the only list: the consumer loop asks it whether a record is
//! accepted (others are dead-lettered before any handler runs) and decodes
//! the body into it, and the handler matches it exhaustively, so a variant
//! added without its handling does not compile.

use crate::envelope::{BodyError, IncomingEvent};
use crate::events::Event;

/// One event type at one version, and the topic it travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKind {
    pub event_type: &'static str,
    pub version: i32,
    pub topic: &'static str,
}

impl EventKind {
    pub const fn of<E: Event>() -> Self {
        Self {
            event_type: E::TYPE,
            version: E::VERSION,
            topic: E::TOPIC,
        }
    }

    pub fn is(&self, event_type: &str, version: i32) -> bool {
        self.event_type == event_type && self.version == version
    }
}

/// Why a record's event does not decode into a set: both are permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A type or version not in the set.
    #[error("unsupported event {event_type} version {version}")]
    Unsupported { event_type: String, version: i32 },
    /// An accepted type whose body does not fit it or our limits.
    #[error(transparent)]
    Body(#[from] BodyError),
}

impl DecodeError {
    pub fn unsupported(event: &IncomingEvent) -> Self {
        Self::Unsupported {
            event_type: event.event_type.clone(),
            version: event.event_version,
        }
    }
}

/// The events one consumer accepts, decoded. Implemented by [`event_set!`](crate::event_set!).
///
/// Handling a set means handling every variant:
///
/// ```compile_fail,E0004
/// use contract::accepts::PaymentOutcome;
///
/// fn handle(event: PaymentOutcome) -> &'static str {
///     match event {
///         PaymentOutcome::Succeeded(_) => "paid",
///     }
/// }
/// ```
pub trait EventSet: Sized {
    /// Every (type, version) accepted, in declaration order.
    const KINDS: &'static [EventKind];

    fn accepts(event_type: &str, version: i32) -> bool {
        Self::KINDS.iter().any(|k| k.is(event_type, version))
    }

    /// The event's variant, its body checked against our limits (see
    /// [`IncomingEvent::payload_as`]).
    fn decode(event: &IncomingEvent) -> Result<Self, DecodeError>;
}

/// Declares an enum of events (one tuple variant per [`Event`] type) and its
/// [`EventSet`] impl:
///
/// ```
/// contract::event_set! {
///     #[derive(Debug)]
///     pub enum Outcome {
///         Succeeded(contract::events::PaymentSucceeded),
///         Failed(contract::events::PaymentFailed),
///     }
/// }
/// ```
#[macro_export]
macro_rules! event_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident($event:ty)),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$variant_meta])* $variant($event)),+
        }

        impl $crate::event_set::EventSet for $name {
            const KINDS: &'static [$crate::event_set::EventKind] =
                &[$($crate::event_set::EventKind::of::<$event>()),+];

            fn decode(
                event: &$crate::envelope::IncomingEvent,
            ) -> ::std::result::Result<Self, $crate::event_set::DecodeError> {
                $(
                    if $crate::event_set::EventKind::of::<$event>()
                        .is(&event.event_type, event.event_version)
                    {
                        return Ok(Self::$variant(event.payload_as::<$event>()?));
                    }
                )+
                Err($crate::event_set::DecodeError::unsupported(event))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{PaymentFailed, PaymentSucceeded};

    crate::event_set! {
        #[derive(Debug, PartialEq)]
        enum Outcome {
            Succeeded(PaymentSucceeded),
            Failed(PaymentFailed),
        }
    }

    fn incoming(event_type: &str, version: i32, payload: serde_json::Value) -> IncomingEvent {
        IncomingEvent {
            topic: "notification-events".into(),
            partition: 0,
            offset: 0,
            key: None,
            event_id: uuid::Uuid::now_v7(),
            event_type: event_type.into(),
            event_version: version,
            source: None,
            occurred_at: None,
            traceparent: None,
            trace: crate::trace::TraceContext::new_root(),
            payload,
        }
    }

    fn failed(amount: &str) -> serde_json::Value {
        serde_json::json!({"orderId": uuid::Uuid::nil(), "customerId": "c-1", "amount": amount,
                           "currency": "USD", "reason": "no", "decidedAt": "2026-11-22T10:00:00Z"})
    }

    #[test]
    fn an_accepted_event_decodes_into_its_variant() {
        let decoded = Outcome::decode(&incoming("PaymentFailed", 1, failed("9.98"))).unwrap();
        assert!(
            matches!(&decoded, Outcome::Failed(e) if e.reason == "no"),
            "{decoded:?}"
        );
    }

    #[test]
    fn another_type_or_version_is_unsupported_and_says_which() {
        for (event_type, version) in [("OrderCreated", 1), ("PaymentFailed", 2), ("Mystery", 1)] {
            assert!(!Outcome::accepts(event_type, version));
            let error =
                Outcome::decode(&incoming(event_type, version, failed("9.98"))).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("unsupported event {event_type} version {version}")
            );
        }
    }

    #[test]
    fn a_body_beyond_the_limits_is_a_body_error_naming_the_event() {
        let error = Outcome::decode(&incoming("PaymentFailed", 1, failed("9.999"))).unwrap_err();
        assert!(matches!(error, DecodeError::Body(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("PaymentFailed v1 body: amount "),
            "{error}"
        );
    }
}
