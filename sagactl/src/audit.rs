//! `sagactl audit`: checks the saga's invariants across the three databases
//! (read-only) and counts the dead-lettered records, once the system is quiet.

use crate::Sources;
use contract::limits::cents;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

/// How old something may be before it counts as stuck.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// An order PENDING longer than this is stuck; younger ones are in flight.
    pub pending: Duration,
    /// An unpublished outbox row older than this is stale.
    pub outbox: Duration,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub orders: usize,
    pub paid: usize,
    pub payment_failed: usize,
    pub pending_in_flight: usize,
    pub payments: usize,
    pub notifications: usize,
    /// Records on each dead-letter topic.
    pub dead_lettered: BTreeMap<String, i64>,
    /// Records after each consumer group's committed offsets: what waits.
    pub waiting_for_consumers: BTreeMap<String, i64>,
    /// Unpublished outbox rows per database.
    pub unpublished_outbox: BTreeMap<String, i64>,
    /// The orders a client was promised (`--accepted`), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
}

/// What became of the orders a client saw accepted (`202`).
#[derive(Debug, Default, Serialize)]
pub struct Accepted {
    pub orders: usize,
    /// Stored and no longer PENDING.
    pub final_orders: usize,
    /// Answered 202 but not in the orders database: lost.
    pub lost: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which invariant, e.g. `missing_payment`.
    pub rule: &'static str,
    /// The order, the customer (credit rules) or the outbox row concerned.
    pub id: String,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub counts: Counts,
    pub violations: Vec<Violation>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    status: String,
    age_secs: f64,
}

pub async fn audit(sources: &Sources, thresholds: Thresholds) -> anyhow::Result<Report> {
    let orders: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, status, EXTRACT(EPOCH FROM now() - created_at)::float8 AS age_secs FROM orders",
    )
    .fetch_all(&sources.orders)
    .await?;
    let payments: HashMap<Uuid, String> =
        sqlx::query_as::<_, (Uuid, String)>("SELECT order_id, status FROM payments")
            .fetch_all(&sources.billing)
            .await?
            .into_iter()
            .collect();
    let notifications: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT order_id, kind, count(*) FROM notifications GROUP BY order_id, kind",
    )
    .fetch_all(&sources.notifications)
    .await?;
    let mut notified: HashMap<(Uuid, &str), i64> = HashMap::new();
    for (order_id, kind, n) in &notifications {
        notified.insert((*order_id, kind.as_str()), *n);
    }

    let mut report = Report::default();
    let counts = &mut report.counts;
    counts.orders = orders.len();
    counts.payments = payments.len();
    counts.notifications = notifications.iter().map(|(_, _, n)| *n as usize).sum();
    let mut violations = Vec::new();
    let mut violation = |rule: &'static str, id: Uuid, detail: String| {
        violations.push(Violation {
            rule,
            id: id.to_string(),
            detail,
        })
    };

    for order in &orders {
        let in_flight =
            order.status == "PENDING" && order.age_secs < thresholds.pending.as_secs_f64();
        match order.status.as_str() {
            "PAID" => counts.paid += 1,
            "PAYMENT_FAILED" => counts.payment_failed += 1,
            _ if in_flight => counts.pending_in_flight += 1,
            _ => violation(
                "stuck_pending",
                order.id,
                format!("PENDING for {:.0} s", order.age_secs),
            ),
        }
        if in_flight {
            continue; // its saga may still be running
        }
        let payment = payments.get(&order.id).map(String::as_str);
        match (order.status.as_str(), payment) {
            (_, None) => violation(
                "missing_payment",
                order.id,
                format!("{} without a payment decision", order.status),
            ),
            ("PAID", Some("FAILED")) | ("PAYMENT_FAILED", Some("SUCCEEDED")) => violation(
                "status_mismatch",
                order.id,
                format!(
                    "order {} but payment {}",
                    order.status,
                    payment.unwrap_or_default()
                ),
            ),
            _ => {}
        }
        let received = notified
            .get(&(order.id, "ORDER_RECEIVED"))
            .copied()
            .unwrap_or(0);
        if received != 1 {
            violation(
                "order_received_notifications",
                order.id,
                format!("{received} order-received notifications, expected 1"),
            );
        }
        if let Some(status) = payment {
            let expected = if status == "SUCCEEDED" {
                "PAYMENT_SUCCEEDED"
            } else {
                "PAYMENT_FAILED"
            };
            let right = notified.get(&(order.id, expected)).copied().unwrap_or(0);
            let other = if expected == "PAYMENT_SUCCEEDED" {
                "PAYMENT_FAILED"
            } else {
                "PAYMENT_SUCCEEDED"
            };
            let wrong = notified.get(&(order.id, other)).copied().unwrap_or(0);
            if right != 1 || wrong != 0 {
                violation(
                    "payment_result_notifications",
                    order.id,
                    format!("payment {status}: {right} {expected} and {wrong} {other} notifications, expected exactly 1 {expected}"),
                );
            }
        }
    }
    // The payments table's key forbids this; the audit does not rely on it.
    let doubles: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT order_id, count(*) FROM payments GROUP BY order_id HAVING count(*) > 1",
    )
    .fetch_all(&sources.billing)
    .await?;
    for (order_id, n) in doubles {
        violation(
            "duplicate_payment",
            order_id,
            format!("{n} payment decisions for one order"),
        );
    }
    let known: HashSet<Uuid> = orders.iter().map(|o| o.id).collect();
    let unknown_paid = payments.keys().filter(|id| !known.contains(id)).copied();
    for order_id in still_unknown(sources, unknown_paid.collect()).await? {
        violation(
            "orphan_payment",
            order_id,
            "payment decision for an unknown order".into(),
        );
    }
    // A forged payment result for an order that never existed: order-service
    // dead-letters it, notification-service cannot tell and notifies.
    let mut unknown_notified: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for (order_id, kind, n) in notifications.iter().filter(|(id, ..)| !known.contains(id)) {
        unknown_notified
            .entry(*order_id)
            .or_default()
            .push(format!("{n} {kind}"));
    }
    let orphans = still_unknown(sources, unknown_notified.keys().copied().collect()).await?;
    for order_id in orphans {
        violation(
            "orphan_notification",
            order_id,
            format!(
                "notifications for an unknown order: {}",
                unknown_notified[&order_id].join(", ")
            ),
        );
    }
    violations.extend(credit_violations(sources).await?);

    for (name, pool) in [
        ("orders", &sources.orders),
        ("billing", &sources.billing),
        ("notifications", &sources.notifications),
    ] {
        let unpublished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(pool)
                .await?;
        report
            .counts
            .unpublished_outbox
            .insert(name.to_owned(), unpublished);
        let stale: Vec<(i64, String, String, f64)> = sqlx::query_as(
            "SELECT id, event_type, message_key, EXTRACT(EPOCH FROM now() - created_at)::float8
               FROM outbox WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)
              ORDER BY id LIMIT 1000",
        )
        .bind(thresholds.outbox.as_secs_f64())
        .fetch_all(pool)
        .await?;
        for (id, event_type, key, age) in stale {
            violations.push(Violation {
                rule: "stale_outbox",
                id: format!("{name}/outbox/{id}"),
                detail: format!("{event_type} for {key} unpublished for {age:.0} s"),
            });
        }
    }
    report.counts.dead_lettered = crate::dlq::dead_letter_counts(&sources.kafka).await?;
    report.counts.waiting_for_consumers = crate::dlq::waiting_by_group(&sources.kafka).await?;
    report.violations = violations;
    Ok(report)
}

/// Adds to `report` what became of the orders in `accepted` (each answered
/// `202` to a client): how many are final, and a `lost_order` violation for
/// each one the orders database does not have.
pub async fn check_accepted(
    sources: &Sources,
    accepted: &[Uuid],
    report: &mut Report,
) -> anyhow::Result<()> {
    let statuses: HashMap<Uuid, String> =
        sqlx::query_as::<_, (Uuid, String)>("SELECT id, status FROM orders WHERE id = ANY($1)")
            .bind(accepted)
            .fetch_all(&sources.orders)
            .await?
            .into_iter()
            .collect();
    let mut counts = Accepted {
        orders: accepted.len(),
        ..Accepted::default()
    };
    for id in accepted {
        match statuses.get(id).map(String::as_str) {
            Some("PENDING") => {}
            Some(_) => counts.final_orders += 1,
            None => {
                counts.lost += 1;
                report.violations.push(Violation {
                    rule: "lost_order",
                    id: id.to_string(),
                    detail: "accepted with 202 but not in the orders database".into(),
                });
            }
        }
    }
    report.counts.accepted = Some(counts);
    Ok(())
}

/// Of `candidates`, the order ids still not in the orders database. The
/// audit reads orders first; an order placed since then may already have a
/// payment or notifications, and is no orphan.
async fn still_unknown(sources: &Sources, candidates: Vec<Uuid>) -> anyhow::Result<Vec<Uuid>> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let found: HashSet<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1)")
        .bind(&candidates)
        .fetch_all(&sources.orders)
        .await?
        .into_iter()
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|id| !found.contains(id))
        .collect())
}

/// The credit rules, per customer (the violation's id): the account's spend
/// is the sum of its succeeded payments and its available credit
/// max(limit - that sum, 0) (`credit_mismatch`); and every succeeded payment
/// that recorded what its decision saw fitted the limit then in force:
/// spent_before + amount <= credit_limit_at_decision (`credit_overspent`).
async fn credit_violations(sources: &Sources) -> anyhow::Result<Vec<Violation>> {
    let mismatched: Vec<(String, Decimal, Decimal, Decimal, Decimal)> = sqlx::query_as(
        "SELECT a.customer_id, a.credit_limit, a.spent, a.available_credit, coalesce(p.total, 0)
           FROM accounts a
           LEFT JOIN (SELECT customer_id, sum(amount) AS total FROM payments
                       WHERE status = 'SUCCEEDED' GROUP BY customer_id) p USING (customer_id)
          WHERE a.spent <> coalesce(p.total, 0)
             OR a.available_credit <> greatest(a.credit_limit - coalesce(p.total, 0), 0)
          ORDER BY a.customer_id",
    )
    .fetch_all(&sources.billing)
    .await?;
    let overspent: Vec<(String, Uuid, Decimal, Decimal, Decimal)> = sqlx::query_as(
        "SELECT customer_id, order_id, amount, spent_before, credit_limit_at_decision
           FROM payments
          WHERE status = 'SUCCEEDED' AND spent_before + amount > credit_limit_at_decision
          ORDER BY customer_id, decided_at",
    )
    .fetch_all(&sources.billing)
    .await?;
    let mismatches = mismatched.into_iter().map(|(customer, limit, spent, available, paid)| {
        let [limit, spent, available, paid] = [limit, spent, available, paid].map(cents);
        let expected = cents((limit - paid).max(Decimal::ZERO));
        Violation {
            rule: "credit_mismatch",
            id: customer,
            detail: format!(
                "limit {limit}, spent {spent}, available {available}; succeeded payments sum to {paid}, so spent {paid} and available {expected}"
            ),
        }
    });
    let overspends = overspent.into_iter().map(|(customer, order_id, amount, before, limit)| {
        let [amount, before, limit] = [amount, before, limit].map(cents);
        Violation {
            rule: "credit_overspent",
            id: customer,
            detail: format!(
                "order {order_id} charged {amount} on {before} already spent, over the limit {limit} then in force"
            ),
        }
    });
    Ok(mismatches.chain(overspends).collect())
}

/// The human-readable report.
pub fn render(report: &Report) -> String {
    let c = &report.counts;
    let mut out = format!(
        "orders: {} (paid {}, payment_failed {}, pending in flight {})\npayments: {}\nnotifications: {}\n",
        c.orders, c.paid, c.payment_failed, c.pending_in_flight, c.payments, c.notifications
    );
    let list = |m: &BTreeMap<String, i64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out += &format!("unpublished outbox rows: {}\n", list(&c.unpublished_outbox));
    out += &format!("dead-lettered records: {}\n", list(&c.dead_lettered));
    out += &format!(
        "records waiting for consumers (after committed offsets): {}\n",
        list(&c.waiting_for_consumers)
    );
    if let Some(a) = &c.accepted {
        out += &format!(
            "accepted orders: {} ({} final, {} lost)\n",
            a.orders, a.final_orders, a.lost
        );
    }
    for v in &report.violations {
        out += &format!("VIOLATION {} {}: {}\n", v.rule, v.id, v.detail);
    }
    out += &format!("violations: {}\n", report.violations.len());
    out
}
