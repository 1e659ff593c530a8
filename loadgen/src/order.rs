//! Random valid orders, the same mix as `k6/orders.js::randomOrder`.
//!
//! Amounts are kept in integer cents and printed with two decimals, so every
//! price, subtotal and total is exactly what the service accepts.

use rand::Rng;

const PRODUCTS: [&str; 12] = [
    "Mug",
    "T-shirt",
    "Notebook",
    "Pen",
    "Backpack",
    "Headphones",
    "Keyboard",
    "Mouse",
    "Water bottle",
    "Desk lamp",
    "Sticker pack",
    "Phone case",
];

/// One line of an order, amounts in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub product: usize,
    pub price_cents: u64,
    pub quantity: u64,
}

impl Item {
    pub fn subtotal_cents(&self) -> u64 {
        self.price_cents * self.quantity
    }
}

/// Who places the orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Customers {
    /// `customer-1` to `customer-N` come back, so billing reuses their
    /// credit accounts (and some run out of credit, as in `make bench`).
    Pool(u64),
    /// A new customer per order, so no customer's credit runs out across
    /// orders (`make chaos`: each saga ends on its own order alone).
    Fresh,
}

impl Customers {
    fn draw(self, rng: &mut impl Rng) -> String {
        match self {
            Customers::Pool(size) => format!("customer-{}", rng.random_range(1..=size.max(1))),
            Customers::Fresh => format!("fresh-{:016x}", rng.random::<u64>()),
        }
    }
}

/// An order before it becomes JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// A customer id of letters, digits and `-` only (written unescaped).
    pub customer: String,
    pub items: Vec<Item>,
}

impl Order {
    /// 1–5 items, prices 1.00–101.00, quantities 1–5.
    pub fn random(rng: &mut impl Rng, customers: Customers) -> Self {
        let items = (0..rng.random_range(1..=5))
            .map(|_| Item {
                product: rng.random_range(1..=PRODUCTS.len()),
                price_cents: rng.random_range(100..=10_100),
                quantity: rng.random_range(1..=5),
            })
            .collect();
        Self {
            customer: customers.draw(rng),
            items,
        }
    }

    pub fn total_cents(&self) -> u64 {
        self.items.iter().map(Item::subtotal_cents).sum()
    }

    /// The request body of `POST /api/orders`. Written by hand: every field is
    /// a number, a fixed product name or a plain id, so nothing needs escaping.
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self
            .items
            .iter()
            .map(|item| {
                format!(
                    r#"{{"productId":"p-{}","name":"{}","price":{},"quantity":{},"subtotal":{}}}"#,
                    item.product,
                    PRODUCTS[item.product - 1],
                    cents(item.price_cents),
                    item.quantity,
                    cents(item.subtotal_cents()),
                )
            })
            .collect();
        format!(
            r#"{{"customerId":"{}","items":[{}],"totalAmount":{},"currency":"USD"}}"#,
            self.customer,
            items.join(","),
            cents(self.total_cents()),
        )
    }
}

/// Cents as a JSON number with exactly two decimals.
fn cents(value: u64) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decimals(text: &str) -> usize {
        text.split_once('.').map_or(0, |(_, d)| d.len())
    }

    #[test]
    fn amounts_print_with_two_decimals() {
        assert_eq!(cents(100), "1.00");
        assert_eq!(cents(10_100), "101.00");
        assert_eq!(cents(1_407), "14.07");
        assert_eq!(cents(5), "0.05");
    }

    #[test]
    fn a_known_order_has_exact_subtotals_and_total() {
        let order = Order {
            customer: "customer-7".into(),
            items: vec![
                Item {
                    product: 1,
                    price_cents: 1_999,
                    quantity: 3,
                },
                Item {
                    product: 12,
                    price_cents: 110,
                    quantity: 5,
                },
            ],
        };
        let json = order.to_json();
        let body: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(body["customerId"], "customer-7");
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["items"][0]["name"], "Mug");
        assert_eq!(body["items"][1]["name"], "Phone case");
        // Checked on the text: how a parsed number prints depends on serde_json's features.
        assert!(
            json.contains(r#""price":19.99,"quantity":3,"subtotal":59.97"#),
            "{json}"
        );
        assert!(
            json.contains(r#""price":1.10,"quantity":5,"subtotal":5.50"#),
            "{json}"
        );
        assert!(json.contains(r#""totalAmount":65.47"#), "{json}");
    }

    #[test]
    fn random_orders_are_valid_and_add_up_to_the_cent() {
        let mut rng = rand::rng();
        for _ in 0..2_000 {
            let order = Order::random(&mut rng, Customers::Pool(10_000));
            let json = order.to_json();
            let body: Value = serde_json::from_str(&json).unwrap();
            let items = body["items"].as_array().unwrap();
            assert!((1..=5).contains(&items.len()), "{json}");
            let mut total = 0;
            for item in items {
                let price = item["price"].as_f64().unwrap();
                let quantity = item["quantity"].as_u64().unwrap();
                assert!((1.0..=101.0).contains(&price), "{json}");
                assert!((1..=5).contains(&quantity), "{json}");
                let price_cents = (price * 100.0).round() as u64;
                let subtotal_cents = (item["subtotal"].as_f64().unwrap() * 100.0).round() as u64;
                assert_eq!(subtotal_cents, price_cents * quantity, "{json}");
                total += subtotal_cents;
            }
            assert_eq!(
                (body["totalAmount"].as_f64().unwrap() * 100.0).round() as u64,
                total
            );
            let customer: u64 = body["customerId"].as_str().unwrap()["customer-".len()..]
                .parse()
                .unwrap();
            assert!((1..=10_000).contains(&customer));
        }
        // Every amount in the text has exactly two decimals.
        let json = Order::random(&mut rng, Customers::Pool(1)).to_json();
        for field in ["\"price\":", "\"subtotal\":", "\"totalAmount\":"] {
            for part in json.split(field).skip(1) {
                let number: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                assert_eq!(decimals(&number), 2, "{json}");
            }
        }
    }

    #[test]
    fn fresh_customers_are_new_for_every_order() {
        let mut rng = rand::rng();
        let ids: std::collections::HashSet<String> = (0..1_000)
            .map(|_| Order::random(&mut rng, Customers::Fresh))
            .map(|order| {
                let body: Value = serde_json::from_str(&order.to_json()).unwrap();
                body["customerId"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1_000);
        assert!(ids
            .iter()
            .all(|id| id.starts_with("fresh-") && id.len() == 22));
    }
}
