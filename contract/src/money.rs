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

    #[test]
    fn numbers_beyond_decimal_are_refused() {
        assert_eq!(exact_decimal(&number("1e400")), None);
    }
}
