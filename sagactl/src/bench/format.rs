//! Numbers as the report prints them: thousands separated by commas, a
//! dash for what was not measured.

use serde_json::Value;

/// `value` with `digits` decimals and thousands separators: 12345.678 → "12,345.7".
pub fn grouped(value: f64, digits: usize) -> String {
    let text = format!("{value:.digits$}");
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let mut out = String::from(sign);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A measured value, or "–" when there is none (or it is not a number).
pub fn num(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => grouped(v, digits),
        _ => "–".into(),
    }
}

/// A count: no decimals.
pub fn int(value: u64) -> String {
    grouped(value as f64, 0)
}

/// A JSON number as written: an integer without decimals, anything else
/// with `digits` of them.
pub fn num_json(value: Option<&Value>, digits: usize) -> String {
    match value {
        Some(v) if v.is_i64() || v.is_u64() => grouped(v.as_f64().unwrap_or(0.0), 0),
        Some(v) => num(v.as_f64(), digits),
        None => "–".into(),
    }
}

/// A share as a percentage: 0.1234 → "12.3%" with one digit.
pub fn pct(share: f64, digits: usize) -> String {
    format!("{:.digits$}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_thousands_and_rounds() {
        assert_eq!(grouped(1234567.891, 2), "1,234,567.89");
        assert_eq!(grouped(999.96, 1), "1,000.0");
        assert_eq!(grouped(-4321.0, 0), "-4,321");
        assert_eq!(grouped(12.0, 0), "12");
        assert_eq!(num(None, 1), "–");
        assert_eq!(num(Some(f64::NAN), 1), "–");
        assert_eq!(int(20000), "20,000");
        assert_eq!(pct(0.1234, 1), "12.3%");
        assert_eq!(num_json(Some(&json!(500)), 1), "500");
        assert_eq!(num_json(Some(&json!(24.66)), 1), "24.7");
    }
}
