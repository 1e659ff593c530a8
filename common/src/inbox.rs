//! The inbox: which events a consumer group has already applied, for the
//! handlers that cannot tell a repeat themselves. A handler whose effect is
//! idempotent by a unique key of its own
//! ([`crate::consumer::EventHandler::IDEMPOTENT_BY_KEY`]: all three services'
//! handlers) writes no inbox row; the table and its cleanup stay for any
//! other handler.

use crate::envelope::IncomingEvent;
use sqlx::PgConnection;

/// Records a batch of events for `group` in one statement inside the
/// caller's transaction. Returns the ids that were new: the others were
/// applied before. An id repeated within the batch is returned once.
pub async fn record_batch(
    conn: &mut PgConnection,
    group: &str,
    events: &[&IncomingEvent],
) -> Result<std::collections::HashSet<uuid::Uuid>, sqlx::Error> {
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let inserted: Vec<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO inbox (consumer_group, event_id, event_type)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::text[])
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(group)
    .bind(&ids)
    .bind(&types)
    .fetch_all(conn)
    .await?;
    Ok(inserted.into_iter().collect())
}
