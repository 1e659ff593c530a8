//! `sagactl trail <orderId>`: one order's story across the three services and
//! the three topics.

use crate::Sources;
use contract::topics;
use rdkafka::message::Message;
use std::fmt::Write;
use uuid::Uuid;

pub async fn trail(sources: &Sources, order_id: Uuid) -> anyhow::Result<String> {
    let mut out = String::new();
    let order: Option<(String, String, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT customer_id, status, total_amount::text || ' ' || currency, failure_reason,
                created_at::text, updated_at::text
           FROM orders WHERE id = $1",
    )
    .bind(order_id)
    .fetch_optional(&sources.orders)
    .await?;
    let Some((customer, status, total, reason, created, updated)) = order else {
        anyhow::bail!("order {order_id} not found in the orders database");
    };
    writeln!(out, "order {order_id}: {status}, customer {customer}, {total}, created {created}, updated {updated}")?;
    if let Some(reason) = reason {
        writeln!(out, "  failure reason: {reason}")?;
    }
    let payment: Option<(String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT status, amount::text || ' ' || currency, decline_reason, decided_at::text FROM payments WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(&sources.billing)
    .await?;
    match payment {
        Some((status, amount, reason, at)) => writeln!(
            out,
            "payment: {status} {amount} at {at}{}",
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        )?,
        None => writeln!(out, "payment: none yet")?,
    }
    let notifications: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT kind, channel, message, created_at::text FROM notifications WHERE order_id = $1 ORDER BY created_at",
    )
    .bind(order_id)
    .fetch_all(&sources.notifications)
    .await?;
    writeln!(out, "notifications: {}", notifications.len())?;
    for (kind, channel, message, at) in notifications {
        writeln!(out, "  {at} {kind} by {channel}: {message}")?;
    }

    let key = order_id.to_string();
    let kafka = sources.kafka.clone();
    let records = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        for name in topics::SAGA_TOPICS {
            for m in crate::dlq::read_all(&kafka, &kafka.topic(name))? {
                if m.key() != Some(key.as_bytes()) {
                    continue;
                }
                let headers: Vec<String> = crate::dlq::headers(&m)
                    .into_iter()
                    .map(|(name, value)| {
                        format!(
                            "{name}={}",
                            String::from_utf8_lossy(value.unwrap_or_default())
                        )
                    })
                    .collect();
                lines.push(format!(
                    "  {name} {}@{} {} {}",
                    m.partition(),
                    m.offset(),
                    headers.join(" "),
                    String::from_utf8_lossy(m.payload().unwrap_or_default())
                ));
            }
        }
        Ok(lines)
    })
    .await??;
    writeln!(out, "records: {}", records.len())?;
    for line in records {
        writeln!(out, "{line}")?;
    }
    Ok(out)
}
