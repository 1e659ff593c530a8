//! Order validation (pure logic).
//!
//! The POST /api/orders body is parsed once, here, into a [`NewOrder`] whose fields can be trusted
//! everywhere else; a body that cannot become one yields every problem found, each naming its
//! field by JSON path. Money is read from the literal JSON text into [`Decimal`] and never
//! passes through `f64`, so what the client typed is what gets compared and stored.

use common::limits::{self, MAX_ID_CHARS, MAX_ITEMS, MAX_NAME_CHARS, MONEY_SCALE};
use common::money::exact_decimal;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

/// One problem with the request, naming the field by its JSON path, e.g. "items[2].quantity".
pub use common::http::FieldError;

/// An order request that passed every rule; amounts are at scale 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: String,
    pub currency: String,
    pub items: Vec<NewOrderItem>,
    /// Sum of the item subtotals as computed here, not as sent.
    pub total_amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderItem {
    pub product_id: String,
    pub name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
    /// `unit_price * quantity` as computed here, not as sent.
    pub subtotal: Decimal,
}

const MAX_QUANTITY: i32 = 1000;
const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
const DEFAULT_CURRENCY: &str = "USD";

/// Active ISO 4217 codes of circulating currencies, sorted so lookups can binary-search.
///
/// Fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals, SDR/bond-market
/// units and the XTS/XXX placeholders are left out: an order is priced in money people pay with.
/// Withdrawn codes are left out too, e.g. ANG (replaced by XCG), BGN (Bulgaria joined the euro
/// in 2026), CUC, HRK, SLL (replaced by SLE), ZWL (replaced by ZWG).
pub const ACTIVE_CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN",
    "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
    "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES",
    "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK",
    "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
    "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Validates the JSON body (already parsed into a serde_json::Value with arbitrary_precision)
/// and returns every problem found, not just the first.
pub fn parse_new_order(body: &Value) -> Result<NewOrder, Vec<FieldError>> {
    let Some(body) = body.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut problems = Problems::default();

    let customer_id = text(
        body,
        "customerId",
        "customerId",
        MAX_ID_CHARS,
        &mut problems,
    );
    let items = items(body, &mut problems);
    let total_amount = total_amount(body, items.as_deref(), &mut problems);
    let currency = currency(body, &mut problems);

    if let (Some(customer_id), Some(items), Some(total_amount), Some(currency)) =
        (customer_id, items, total_amount, currency)
    {
        if problems.0.is_empty() {
            return Ok(NewOrder {
                customer_id,
                currency,
                items,
                total_amount,
            });
        }
    }
    // Every reader that gives up records why, so a rejection always explains itself.
    debug_assert!(!problems.0.is_empty(), "rejected without a reason");
    Err(problems.0)
}

impl NewOrderItem {
    /// The item as events and API answers carry it.
    pub fn line(&self) -> common::events::OrderLine {
        common::events::OrderLine {
            product_id: self.product_id.clone(),
            name: self.name.clone(),
            price: self.unit_price,
            quantity: self.quantity,
            subtotal: self.subtotal,
        }
    }
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
}

fn items(body: &Map<String, Value>, problems: &mut Problems) -> Option<Vec<NewOrderItem>> {
    let list = required(body, "items", "items", problems)?;
    let Some(list) = list.as_array() else {
        problems.add("items", "must be an array");
        return None;
    };
    if list.is_empty() {
        problems.add("items", "must contain at least 1 item");
        return None;
    }
    if list.len() > MAX_ITEMS {
        // Not looking inside keeps an oversized body from producing an oversized answer.
        problems.add("items", format!("must contain at most {MAX_ITEMS} items"));
        return None;
    }
    let parsed: Vec<Option<NewOrderItem>> = list
        .iter()
        .enumerate()
        .map(|(i, item)| order_item(&format!("items[{i}]"), item, problems))
        .collect();
    parsed.into_iter().collect()
}

fn order_item(path: &str, item: &Value, problems: &mut Problems) -> Option<NewOrderItem> {
    let Some(item) = item.as_object() else {
        problems.add(path, "must be an object");
        return None;
    };
    let product_id = text(
        item,
        "productId",
        &format!("{path}.productId"),
        MAX_ID_CHARS,
        problems,
    );
    let name = text(
        item,
        "name",
        &format!("{path}.name"),
        MAX_NAME_CHARS,
        problems,
    );
    let unit_price = unit_price(item, &format!("{path}.price"), problems);
    let quantity = quantity(item, &format!("{path}.quantity"), problems);

    let subtotal_path = format!("{path}.subtotal");
    let sent_subtotal = number(item, "subtotal", &subtotal_path, problems);
    // A subtotal can only be judged against a price and quantity that are themselves valid.
    let subtotal = match (unit_price, quantity, sent_subtotal) {
        (Some(price), Some(quantity), Some(sent)) => {
            // At most 1000000.00 × 1000: far inside Decimal's range, so this cannot overflow.
            let expected = price * Decimal::from(quantity);
            if to_cents(sent) == expected {
                Some(expected)
            } else {
                problems.add(
                    &subtotal_path,
                    format!("does not equal price × quantity (expected {expected})"),
                );
                None
            }
        }
        _ => None,
    };

    Some(NewOrderItem {
        product_id: product_id?,
        name: name?,
        unit_price: unit_price?,
        quantity: quantity?,
        subtotal: subtotal?,
    })
}

fn unit_price(item: &Map<String, Value>, path: &str, problems: &mut Problems) -> Option<Decimal> {
    let price = number(item, "price", path, problems)?;
    if price <= Decimal::ZERO {
        problems.add(path, "must be greater than 0");
        return None;
    }
    if price > MAX_PRICE {
        problems.add(path, format!("must be at most {MAX_PRICE}"));
        return None;
    }
    // The shared money rule: 19.990 is the 2-decimal 19.99 it equals, 19.999 is refused.
    let price = limits::money(price);
    if price.is_none() {
        problems.add(
            path,
            format!("must have at most {MONEY_SCALE} decimal places"),
        );
    }
    price
}

fn quantity(item: &Map<String, Value>, path: &str, problems: &mut Problems) -> Option<i32> {
    const RANGE: &str = "must be an integer between 1 and 1000";
    let value = required(item, "quantity", path, problems)?;
    let Value::Number(n) = value else {
        problems.add(path, "must be a number");
        return None;
    };
    // 3.0 and 3e0 are the integer 3; 2.5 and anything Decimal cannot hold are not.
    let quantity = exact_decimal(n)
        .filter(|q| q.fract().is_zero())
        .and_then(|q| q.to_i32())
        .filter(|q| (1..=MAX_QUANTITY).contains(q));
    if quantity.is_none() {
        problems.add(path, RANGE);
    }
    quantity
}

fn total_amount(
    body: &Map<String, Value>,
    items: Option<&[NewOrderItem]>,
    problems: &mut Problems,
) -> Option<Decimal> {
    let sent = number(body, "totalAmount", "totalAmount", problems);
    // Without a full set of valid items there is no sum to compare against.
    let mut expected: Decimal = items?.iter().map(|item| item.subtotal).sum();
    expected.rescale(MONEY_SCALE);
    if to_cents(sent?) == expected {
        Some(expected)
    } else {
        problems.add(
            "totalAmount",
            format!("does not equal the sum of the item subtotals (expected {expected})"),
        );
        None
    }
}

fn currency(body: &Map<String, Value>, problems: &mut Problems) -> Option<String> {
    let code = match body.get("currency") {
        None | Some(Value::Null) => return Some(DEFAULT_CURRENCY.to_owned()),
        Some(Value::String(code)) => code,
        Some(_) => {
            problems.add("currency", "must be a string");
            return None;
        }
    };
    if is_active_currency(code) {
        return Some(code.clone());
    }
    let upper = code.to_ascii_uppercase();
    if is_active_currency(&upper) {
        problems.add(
            "currency",
            format!("ISO 4217 codes are upper case (did you mean \"{upper}\"?)"),
        );
    } else {
        problems.add("currency", "is not an active ISO 4217 currency code");
    }
    None
}

fn is_active_currency(code: &str) -> bool {
    ACTIVE_CURRENCIES.binary_search(&code).is_ok()
}

/// The member's value; absent and null both count as missing.
fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    problems: &mut Problems,
) -> Option<&'a Value> {
    match object.get(key) {
        None | Some(Value::Null) => {
            problems.add(path, "is required");
            None
        }
        Some(value) => Some(value),
    }
}

/// A required string by the shared text rule: trimmed, non-blank, no NUL
/// (Postgres refuses it), at most `max_chars` characters.
fn text(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    max_chars: usize,
    problems: &mut Problems,
) -> Option<String> {
    let Some(text) = required(object, key, path, problems)?.as_str() else {
        problems.add(path, "must be a string");
        return None;
    };
    match limits::check_trimmed(text, max_chars) {
        Ok(text) => Some(text.to_owned()),
        Err(message) => {
            problems.add(path, message);
            None
        }
    }
}

/// A required JSON number, read exactly as written.
fn number(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    problems: &mut Problems,
) -> Option<Decimal> {
    let Value::Number(n) = required(object, key, path, problems)? else {
        problems.add(path, "must be a number");
        return None;
    };
    let value = exact_decimal(n);
    if value.is_none() {
        problems.add(path, "is too large or has too many digits");
    }
    value
}

/// JavaScript clients send sums like 137.01000000000002; cents are what they meant.
fn to_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID_ITEM: &str = r#"{"productId": "p-1", "name": "Widget", "price": 19.99, "quantity": 3, "subtotal": 59.97}"#;

    fn parse(json: &str) -> Result<NewOrder, Vec<FieldError>> {
        let body: Value = serde_json::from_str(json).expect("test body is valid JSON");
        parse_new_order(&body)
    }

    fn failing_fields(json: &str) -> Vec<String> {
        match parse(json) {
            Ok(order) => panic!("expected a rejection, got {order:?}"),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    fn errors(json: &str) -> Vec<FieldError> {
        parse(json).expect_err("expected a rejection")
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    /// A body around one item; its total matches VALID_ITEM, and is not checked for broken items.
    fn with_item(item: &str) -> String {
        format!(r#"{{"customerId": "c-1", "items": [{item}], "totalAmount": 59.97}}"#)
    }

    /// A body whose top-level members are given verbatim after a valid item list.
    fn with_top(rest: &str) -> String {
        format!(r#"{{"items": [{VALID_ITEM}], {rest}}}"#)
    }

    #[test]
    fn a_valid_body_parses_with_server_computed_amounts_and_usd_by_default() {
        let order = parse(
            r#"{"customerId": "  c-1 ", "items": [
                {"productId": " p-1 ", "name": " Widget ", "price": 19.99, "quantity": 3, "subtotal": 59.97},
                {"productId": "p-2", "name": "Gadget", "price": 5, "quantity": 1, "subtotal": 5}
            ], "totalAmount": 64.97}"#,
        )
        .unwrap();

        assert_eq!(order.customer_id, "c-1");
        assert_eq!(order.currency, "USD");
        assert_eq!(order.total_amount.to_string(), "64.97");
        assert_eq!(
            order.items[0],
            NewOrderItem {
                product_id: "p-1".into(),
                name: "Widget".into(),
                unit_price: dec("19.99"),
                quantity: 3,
                subtotal: dec("59.97"),
            }
        );
        assert_eq!(order.items[1].unit_price.to_string(), "5.00");
        assert_eq!(order.items[1].subtotal.to_string(), "5.00");
        for item in &order.items {
            assert_eq!(item.unit_price.scale(), 2);
            assert_eq!(item.subtotal.scale(), 2);
        }
        assert_eq!(order.total_amount.scale(), 2);
    }

    #[test]
    fn float_noise_in_subtotal_and_total_is_accepted_and_stored_exactly() {
        let order = parse(
            r#"{"customerId": "c-1", "items": [
                {"productId": "p-1", "name": "Widget", "price": 45.67, "quantity": 3, "subtotal": 137.01000000000002},
                {"productId": "p-2", "name": "Gadget", "price": 19.99, "quantity": 3, "subtotal": 59.970000000000006}
            ], "totalAmount": 196.98000000000002, "currency": "EUR"}"#,
        )
        .unwrap();

        assert_eq!(order.items[0].subtotal.to_string(), "137.01");
        assert_eq!(order.items[1].subtotal.to_string(), "59.97");
        assert_eq!(order.total_amount.to_string(), "196.98");
        assert_eq!(order.currency, "EUR");
    }

    #[test]
    fn a_subtotal_is_rounded_half_away_from_zero_before_comparing() {
        let half_cent_up = with_item(
            r#"{"productId": "p-1", "name": "W", "price": 19.99, "quantity": 3, "subtotal": 59.965}"#,
        );
        assert!(parse(&half_cent_up).is_ok());

        let just_under = with_item(
            r#"{"productId": "p-1", "name": "W", "price": 19.99, "quantity": 3, "subtotal": 59.9649}"#,
        );
        assert_eq!(failing_fields(&just_under), ["items[0].subtotal"]);
    }

    #[test]
    fn bad_bodies_are_rejected_naming_the_offending_field() {
        let many_items = format!(
            r#"{{"customerId": "c-1", "items": [{}], "totalAmount": 1}}"#,
            [VALID_ITEM; 101].join(",")
        );
        let item = |fields: &str| {
            with_item(&format!(
                r#"{{"productId": "p-1", "name": "Widget", {fields}}}"#
            ))
        };
        let second_item = |fields: &str| {
            format!(
                r#"{{"customerId": "c-1", "items": [{VALID_ITEM}, {{"productId": "p-2", "name": "Gadget", {fields}}}], "totalAmount": 1}}"#
            )
        };
        let cases: Vec<(&str, String, &str)> = vec![
            ("not an object", "[1, 2]".into(), "body"),
            ("a string body", r#""order""#.into(), "body"),
            (
                "missing customerId",
                with_top(r#""totalAmount": 59.97"#),
                "customerId",
            ),
            (
                "blank customerId",
                with_top(r#""customerId": "   ", "totalAmount": 59.97"#),
                "customerId",
            ),
            (
                "customerId a number",
                with_top(r#""customerId": 7, "totalAmount": 59.97"#),
                "customerId",
            ),
            (
                "customerId too long",
                with_top(&format!(
                    r#""customerId": "{}", "totalAmount": 59.97"#,
                    "c".repeat(101)
                )),
                "customerId",
            ),
            (
                "customerId with a NUL",
                with_top(r#""customerId": "c\u0000x", "totalAmount": 59.97"#),
                "customerId",
            ),
            (
                "name with a NUL",
                with_item(
                    r#"{"productId": "p", "name": "W\u0000", "price": 19.99, "quantity": 3, "subtotal": 59.97}"#,
                ),
                "items[0].name",
            ),
            (
                "missing items",
                r#"{"customerId": "c-1", "totalAmount": 1}"#.into(),
                "items",
            ),
            (
                "items not an array",
                r#"{"customerId": "c-1", "items": {}, "totalAmount": 1}"#.into(),
                "items",
            ),
            (
                "empty items",
                r#"{"customerId": "c-1", "items": [], "totalAmount": 1}"#.into(),
                "items",
            ),
            ("101 items", many_items, "items"),
            (
                "item not an object",
                format!(
                    r#"{{"customerId": "c-1", "items": [{VALID_ITEM}, 42], "totalAmount": 1}}"#
                ),
                "items[1]",
            ),
            (
                "missing productId",
                with_item(r#"{"name": "W", "price": 19.99, "quantity": 3, "subtotal": 59.97}"#),
                "items[0].productId",
            ),
            (
                "missing name",
                with_item(
                    r#"{"productId": "p", "price": 19.99, "quantity": 3, "subtotal": 59.97}"#,
                ),
                "items[0].name",
            ),
            (
                "name too long",
                with_item(&format!(
                    r#"{{"productId": "p", "name": "{}", "price": 19.99, "quantity": 3, "subtotal": 59.97}}"#,
                    "n".repeat(201)
                )),
                "items[0].name",
            ),
            (
                "price a string",
                item(r#""price": "19.99", "quantity": 3, "subtotal": 59.97"#),
                "items[0].price",
            ),
            (
                "price zero",
                item(r#""price": 0, "quantity": 3, "subtotal": 0"#),
                "items[0].price",
            ),
            (
                "price negative",
                item(r#""price": -19.99, "quantity": 3, "subtotal": -59.97"#),
                "items[0].price",
            ),
            (
                "price with 3 decimals",
                item(r#""price": 19.999, "quantity": 3, "subtotal": 60"#),
                "items[0].price",
            ),
            (
                "price above a million",
                item(r#""price": 1000000.01, "quantity": 1, "subtotal": 1000000.01"#),
                "items[0].price",
            ),
            (
                "price too huge for a decimal",
                item(r#""price": 1e400, "quantity": 1, "subtotal": 1"#),
                "items[0].price",
            ),
            (
                "price with more digits than a decimal holds",
                item(
                    r#""price": 0.00000000000000000000000000000001, "quantity": 1, "subtotal": 1"#,
                ),
                "items[0].price",
            ),
            (
                "quantity 0",
                second_item(r#""price": 1, "quantity": 0, "subtotal": 0"#),
                "items[1].quantity",
            ),
            (
                "quantity 1001",
                second_item(r#""price": 1, "quantity": 1001, "subtotal": 1001"#),
                "items[1].quantity",
            ),
            (
                "quantity 2.5",
                second_item(r#""price": 1, "quantity": 2.5, "subtotal": 2.5"#),
                "items[1].quantity",
            ),
            (
                "quantity a string",
                second_item(r#""price": 1, "quantity": "3", "subtotal": 3"#),
                "items[1].quantity",
            ),
            (
                "quantity beyond i32",
                second_item(r#""price": 1, "quantity": 99999999999, "subtotal": 1"#),
                "items[1].quantity",
            ),
            (
                "subtotal wrong",
                item(r#""price": 19.99, "quantity": 3, "subtotal": 59.98"#),
                "items[0].subtotal",
            ),
            (
                "subtotal missing",
                item(r#""price": 19.99, "quantity": 3"#),
                "items[0].subtotal",
            ),
            (
                "subtotal a string",
                item(r#""price": 19.99, "quantity": 3, "subtotal": "59.97""#),
                "items[0].subtotal",
            ),
            (
                "totalAmount wrong",
                with_top(r#""customerId": "c-1", "totalAmount": 59.96"#),
                "totalAmount",
            ),
            (
                "totalAmount missing",
                with_top(r#""customerId": "c-1""#),
                "totalAmount",
            ),
            (
                "totalAmount null",
                with_top(r#""customerId": "c-1", "totalAmount": null"#),
                "totalAmount",
            ),
            (
                "currency lower case",
                with_top(r#""customerId": "c-1", "totalAmount": 59.97, "currency": "usd""#),
                "currency",
            ),
            (
                "currency unknown",
                with_top(r#""customerId": "c-1", "totalAmount": 59.97, "currency": "XYZ""#),
                "currency",
            ),
            (
                "currency withdrawn",
                with_top(r#""customerId": "c-1", "totalAmount": 59.97, "currency": "HRK""#),
                "currency",
            ),
            (
                "currency a number",
                with_top(r#""customerId": "c-1", "totalAmount": 59.97, "currency": 840"#),
                "currency",
            ),
        ];

        for (case, body, field) in &cases {
            match parse(body) {
                Ok(order) => panic!("{case}: accepted {order:?}"),
                Err(errors) => {
                    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                    assert_eq!(fields, [*field], "{case}: {errors:?}");
                }
            }
        }
    }

    #[test]
    fn several_errors_at_once_are_all_reported() {
        let body = r#"{"customerId": "", "items": [
            {"productId": "p-1", "name": "", "price": "1", "quantity": 2.5},
            "not an item",
            {"productId": "p-3", "name": "Ok", "price": 2, "quantity": 2, "subtotal": 5}
        ], "currency": "eur"}"#;

        assert_eq!(
            failing_fields(body),
            [
                "customerId",
                "items[0].name",
                "items[0].price",
                "items[0].quantity",
                "items[0].subtotal",
                "items[1]",
                "items[2].subtotal",
                "totalAmount",
                "currency",
            ]
        );
    }

    #[test]
    fn messages_are_short_and_say_what_was_expected() {
        let wrong_subtotal = errors(&with_item(
            r#"{"productId": "p", "name": "W", "price": 19.99, "quantity": 3, "subtotal": 60}"#,
        ));
        assert_eq!(
            wrong_subtotal,
            [FieldError::new(
                "items[0].subtotal",
                "does not equal price × quantity (expected 59.97)"
            )]
        );

        let wrong_total = errors(&with_top(r#""customerId": "c", "totalAmount": 137.01"#));
        assert_eq!(
            wrong_total[0].message,
            "does not equal the sum of the item subtotals (expected 59.97)"
        );

        let lower_case = errors(&with_top(
            r#""customerId": "c", "totalAmount": 59.97, "currency": "usd""#,
        ));
        assert!(
            lower_case[0].message.contains("upper case"),
            "{lower_case:?}"
        );
        assert!(lower_case[0].message.contains("\"USD\""), "{lower_case:?}");

        let missing = errors(&with_top(r#""totalAmount": 59.97"#));
        assert_eq!(missing[0].message, "is required");

        let quantity = errors(&with_item(
            r#"{"productId": "p", "name": "W", "price": 1, "quantity": 0, "subtotal": 0}"#,
        ));
        assert_eq!(quantity[0].message, "must be an integer between 1 and 1000");

        let decimals = errors(&with_item(
            r#"{"productId": "p", "name": "W", "price": 1.001, "quantity": 1, "subtotal": 1}"#,
        ));
        assert_eq!(decimals[0].message, "must have at most 2 decimal places");
    }

    #[test]
    fn numbers_in_exponent_form_or_with_trailing_zeros_are_read_exactly() {
        let order = parse(
            r#"{"customerId": "c-1", "items": [
                {"productId": "p-1", "name": "W", "price": 1e2, "quantity": 2E0, "subtotal": 2.0e2},
                {"productId": "p-2", "name": "G", "price": 19.990, "quantity": 3.0, "subtotal": 5997e-2}
            ], "totalAmount": 259.97}"#,
        )
        .unwrap();

        assert_eq!(order.items[0].unit_price.to_string(), "100.00");
        assert_eq!(order.items[0].quantity, 2);
        assert_eq!(order.items[1].unit_price.to_string(), "19.99");
        assert_eq!(order.items[1].quantity, 3);
        assert_eq!(order.total_amount.to_string(), "259.97");
    }

    #[test]
    fn the_largest_allowed_order_is_computed_without_overflow() {
        let item = r#"{"productId": "p", "name": "W", "price": 1000000, "quantity": 1000, "subtotal": 1000000000}"#;
        let body = format!(
            r#"{{"customerId": "c", "items": [{}], "totalAmount": 100000000000}}"#,
            [item; 100].join(",")
        );
        let order = parse(&body).unwrap();
        assert_eq!(order.total_amount.to_string(), "100000000000.00");
    }

    #[test]
    fn unknown_fields_are_ignored_and_null_currency_means_usd() {
        let order = parse(
            r#"{"customerId": "c-1", "items": [{"productId": "p-1", "name": "Widget", "price": 19.99,
                "quantity": 3, "subtotal": 59.97, "colour": "red"}], "totalAmount": 59.97,
                "currency": null, "orderId": "ignored", "status": "PAID"}"#,
        )
        .unwrap();
        assert_eq!(order.currency, "USD");
        assert_eq!(order.items.len(), 1);
    }

    #[test]
    fn the_active_currency_list_is_sorted_unique_and_upper_case() {
        assert!(ACTIVE_CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert!(ACTIVE_CURRENCIES
            .iter()
            .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
        assert!(
            ACTIVE_CURRENCIES.len() >= 150,
            "{}",
            ACTIVE_CURRENCIES.len()
        );
        for code in [
            "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "XCG", "ZWG",
        ] {
            assert!(is_active_currency(code), "{code}");
        }
    }

    #[test]
    fn a_field_error_serialises_as_field_and_message() {
        let json =
            serde_json::to_string(&FieldError::new("items[2].quantity", "is required")).unwrap();
        assert_eq!(
            json,
            r#"{"field":"items[2].quantity","message":"is required"}"#
        );
    }
}
