//! Money: `rust_decimal` only, read straight from the JSON text.

use rust_decimal::Decimal;
use serde_json::Number;

/// The exact value of a JSON number, or `None` when `Decimal` cannot hold it
/// exactly. With serde_json's `arbitrary_precision` (enabled by the services)
/// the number keeps its literal text, so nothing passes through `f64`.
pub fn exact_decimal(n: &Number) -> Option<Decimal> {
    let text = n.to_string();
    match text.find(['e', 'E']) {
        None => Decimal::from_str_exact(&text).ok(),
        Some(exponent_at) => {
            // from_scientific rounds an over-long mantissa, so first make sure it fits exactly.
            Decimal::from_str_exact(&text[..exponent_at]).ok()?;
            Decimal::from_scientific(&text).ok()
        }
    }
}

/// What an amount looks like on the wire, for the contract's JSON Schemas
/// (`contracts/schemas/`): a JSON string in plain notation, never a number,
/// with at most 12 integer digits and two significant decimals (trailing
/// zeros allowed), as [`crate::limits::money`] accepts.
pub const WIRE_PATTERN: &str = r"^[0-9]{1,12}(\.[0-9]{1,2}0*)?$";

/// An amount, as the JSON Schemas see it (the field stays a `Decimal`).
#[cfg(test)]
pub(crate) struct Money;

#[cfg(test)]
impl schemars::JsonSchema for Money {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": WIRE_PATTERN,
            "description": "An amount as a decimal string, greater than 0, e.g. \"59.97\"",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn number(text: &str) -> Number {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn literal_text_is_read_exactly() {
        assert_eq!(
            exact_decimal(&number("137.01000000000002")),
            Some(Decimal::from_str("137.01000000000002").unwrap())
        );
        assert_eq!(exact_decimal(&number("1e2")), Some(Decimal::from(100)));
    }

    /// What [`WIRE_PATTERN`] says, spelled out without a regex engine.
    fn fits_wire_pattern(text: &str) -> bool {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let (whole, decimals) = match text.split_once('.') {
            Some((whole, decimals)) => (whole, Some(decimals)),
            None => (text, None),
        };
        (1..=12).contains(&whole.len())
            && digits(whole)
            && decimals
                .is_none_or(|d| !d.is_empty() && digits(d) && d.bytes().skip(2).all(|b| b == b'0'))
    }

    #[test]
    fn amounts_within_the_limits_are_written_as_strings_the_pattern_describes() {
        assert_eq!(WIRE_PATTERN, r"^[0-9]{1,12}(\.[0-9]{1,2}0*)?$");
        for text in ["0.01", "59.97", "19.990", "100", "999999999999.99"] {
            let amount = Decimal::from_str(text).unwrap();
            assert!(crate::limits::money(amount).is_some(), "{text}");
            let wire = serde_json::to_value(amount).unwrap();
            assert_eq!(
                wire,
                serde_json::Value::String(text.into()),
                "a string, as read"
            );
            assert!(fits_wire_pattern(text), "{text}");
        }
        for text in ["19.999", "1000000000000", "-1", "1e2", "1."] {
            assert!(!fits_wire_pattern(text), "{text}");
        }
    }

    #[test]
    fn numbers_beyond_decimal_are_refused() {
        assert_eq!(exact_decimal(&number("1e400")), None);
    }
}
