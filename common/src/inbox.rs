//! The inbox: which events a consumer group has already applied.

use crate::envelope::IncomingEvent;
use sqlx::PgConnection;

/// Records the event for `group` inside the caller's transaction. Returns
/// `false` when it was already there: the event is a duplicate to skip.
pub async fn record(
    conn: &mut PgConnection,
    group: &str,
    event: &IncomingEvent,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (consumer_group, event_id, event_type) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(group)
    .bind(event.event_id)
    .bind(&event.event_type)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
