//! What the saga accepts and stores: one set of limits for the HTTP APIs and
//! for events decoded from Kafka, so a value that one edge refuses can never
//! arrive through the other and stop a consumer.

use rust_decimal::Decimal;

/// Customer and product ids, in characters (not bytes).
pub const MAX_ID_CHARS: usize = 100;
/// Item names.
pub const MAX_NAME_CHARS: usize = 200;
/// Free text the services write themselves (a decline reason).
pub const MAX_REASON_CHARS: usize = 500;
/// Items in one order.
pub const MAX_ITEMS: usize = 100;
/// Money has cents: at most two significant decimals.
pub const MONEY_SCALE: u32 = 2;

/// Checks a text field that is stored as Postgres `text`: not blank, no NUL
/// (Postgres refuses 0x00 in text), at most `max_chars` characters. The error
/// is the message of a field error, e.g. "must be at most 100 characters".
pub fn check_text(text: &str, max_chars: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be blank".into());
    }
    check_optional_text(text, max_chars)
}

/// As [`check_text`], for text that may be empty (a filter, a reason).
pub fn check_optional_text(text: &str, max_chars: usize) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    Ok(())
}

/// The text as every edge stores it: surrounding whitespace trimmed, then
/// [`check_text`]. Customer ids go through this with [`MAX_ID_CHARS`]
/// wherever they arrive (order body, account path, list filters), so an id
/// one API accepts the others accept too.
pub fn check_trimmed(text: &str, max_chars: usize) -> Result<&str, String> {
    let trimmed = text.trim();
    check_text(trimmed, max_chars)?;
    Ok(trimmed)
}

/// The amount at scale 2 when it has at most two significant decimals:
/// trailing zeros are accepted (`19.990` is `19.99`), `19.999` is not.
pub fn money(amount: Decimal) -> Option<Decimal> {
    if amount.normalize().scale() > MONEY_SCALE {
        return None;
    }
    let mut cents = amount;
    cents.rescale(MONEY_SCALE);
    Some(cents)
}

/// The amount written with exactly two decimals. sqlx decodes a NUMERIC
/// zero without its scale ("0"); every other stored amount already has two.
pub fn cents(amount: Decimal) -> Decimal {
    let mut cents = amount;
    cents.rescale(MONEY_SCALE);
    cents
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn text_is_limited_in_characters_not_bytes() {
        let emoji = "😀".repeat(MAX_ID_CHARS);
        assert!(emoji.len() > MAX_ID_CHARS, "400 bytes");
        assert_eq!(check_text(&emoji, MAX_ID_CHARS), Ok(()));
        assert_eq!(
            check_text(&format!("{emoji}x"), MAX_ID_CHARS),
            Err("must be at most 100 characters".into())
        );
    }

    #[test]
    fn nul_and_blank_text_are_refused() {
        assert_eq!(
            check_text("c\0x", 10),
            Err("must not contain NUL characters".into())
        );
        assert_eq!(check_text("  ", 10), Err("must not be blank".into()));
        assert_eq!(check_optional_text("", 10), Ok(()));
        assert!(check_optional_text("\0", 10).is_err());
    }

    #[test]
    fn cents_always_have_two_decimals() {
        assert_eq!(cents(Decimal::ZERO).to_string(), "0.00");
        assert_eq!(cents(Decimal::new(998, 2)).to_string(), "9.98");
        assert_eq!(cents(Decimal::from(5)).to_string(), "5.00");
    }

    #[test]
    fn trimmed_text_is_checked_after_trimming() {
        let id = format!("  {}  ", "😀".repeat(26));
        assert_eq!(
            check_trimmed(&id, MAX_ID_CHARS),
            Ok("😀".repeat(26).as_str())
        );
        assert_eq!(
            check_trimmed(&format!(" {} ", "c".repeat(100)), MAX_ID_CHARS).map(str::len),
            Ok(100)
        );
        assert!(check_trimmed(" c\0x ", MAX_ID_CHARS).is_err());
        assert_eq!(
            check_trimmed(" \t ", MAX_ID_CHARS),
            Err("must not be blank".into())
        );
    }

    #[test]
    fn money_accepts_trailing_zeros_but_not_a_third_significant_decimal() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(money(d("19.990")).unwrap().to_string(), "19.99");
        assert_eq!(money(d("1.50000")).unwrap().to_string(), "1.50");
        assert_eq!(money(d("7")).unwrap().to_string(), "7.00");
        assert_eq!(money(d("19.999")), None);
    }
}
